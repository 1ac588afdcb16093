//! Duration literals: `"250ms"`, `"1.5s"`, `"2m"`, checked at compile time.

use core::time::Duration;

use super::limits::MAX_DURATION;

const UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `"<number><unit>"`; the number may have a fractional part
/// (`"1.5s"`). The error is the message to show at the literal.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.replace('_', "");
    if number.is_empty() {
        return Err(format!(
            "expected a duration such as \"250ms\" or \"1.5s\", found \"{text}\""
        ));
    }
    let Some(&(_, nanos_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit.trim()) else {
        return Err(if unit.is_empty() {
            format!(
                "missing unit in \"{text}\": add one of `ns`, `us`, `ms`, `s`, `m`, `h` (\"{number}ms\")"
            )
        } else {
            format!(
                "unknown unit `{}` in \"{text}\": expected one of `ns`, `us`, `ms`, `s`, `m`, `h`",
                unit.trim()
            )
        });
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("`{number}` is not a number in \"{text}\""));
    }
    let too_long = || format!("\"{text}\" is longer than the 365 days a setting accepts");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_long())?
    };
    // The fraction, exactly, in units of 10^-digits.
    let digits = u32::try_from(fraction.len()).map_err(|_| too_long())?;
    if digits > 18 {
        return Err(format!("too many decimals in \"{text}\""));
    }
    let scale = 10u128.pow(digits);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction
            .parse()
            .map_err(|_| format!("`{number}` is not a number in \"{text}\""))?
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|w| w.checked_add(fraction * nanos_per_unit / scale))
        .ok_or_else(too_long)?;
    if !(fraction * nanos_per_unit).is_multiple_of(scale) {
        return Err(format!("\"{text}\" is finer than a nanosecond"));
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err(too_long());
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    let subsec = u32::try_from(nanos % 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fractions() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("0.25ms"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("1_000ms"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert_eq!(
            parse("100"),
            Err(
                "missing unit in \"100\": add one of `ns`, `us`, `ms`, `s`, `m`, `h` (\"100ms\")"
                    .into()
            )
        );
        assert_eq!(
            parse("5sec"),
            Err(
                "unknown unit `sec` in \"5sec\": expected one of `ns`, `us`, `ms`, `s`, `m`, `h`"
                    .into()
            )
        );
        assert_eq!(
            parse("ms"),
            Err("expected a duration such as \"250ms\" or \"1.5s\", found \"ms\"".into())
        );
        assert_eq!(
            parse("1.2.3s"),
            Err("`1.2.3` is not a number in \"1.2.3s\"".into())
        );
        assert_eq!(
            parse("0.5ns"),
            Err("\"0.5ns\" is finer than a nanosecond".into())
        );
        assert!(parse("366d").is_err());
        assert_eq!(
            parse("9000h"),
            Err("\"9000h\" is longer than the 365 days a setting accepts".into())
        );
        assert!(parse("99999999999999999999999999999999999999h").is_err());
    }
}
