//! `retry_after::parse` on arbitrary input: never panics, agrees with a
//! simple reference on digit strings, and never yields a wait that wrapped
//! around (a date gives at most the time to the end of year 9999).
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use resilient_runtime::retry_after::parse;

/// 9999-12-31T23:59:59Z, the last instant an HTTP-date can name.
const LAST_DATE: Duration = Duration::from_secs(253_402_300_799);

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let got = parse(value, now);

    let trimmed = value.trim_matches([' ', '\t']);
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        // The reference: the decimal value, saturating above u64::MAX.
        let expected = trimmed
            .parse::<u64>()
            .map_or(Duration::MAX, Duration::from_secs);
        assert_eq!(got, Some(expected), "{value:?}");
    } else if let Some(wait) = got {
        assert!(wait <= LAST_DATE, "{value:?} gave {wait:?}");
    }
});
