//! [`BreakerKey`]: what may key a [`KeyedBreaker`](super::KeyedBreaker).
//! Every key is looked up as text, so an integer is written into a buffer
//! on the stack first: no allocation for a key already known.

use core::fmt::{self, Write};
use std::borrow::Cow;
use std::sync::Arc;

use super::BreakerName;

/// A value that picks one breaker of a [`KeyedBreaker`](super::KeyedBreaker):
/// text (`&str`, `String`, `Box<str>`, `Arc<str>`, `Cow<str>`) or an
/// integer, and a reference to either. The key is compared as text, so
/// the integer `7` and the string `"7"` are the same key.
///
/// For a type of your own, pass its text: `key = host.as_str()`.
///
/// ```
/// use resilient::{BreakerKey, KeyBuf};
///
/// let mut buf = KeyBuf::new();
/// assert_eq!(42_u16.key_str(&mut buf), "42");
/// assert_eq!("eu-west".key_str(&mut buf), "eu-west");
/// assert_eq!((-7_i64).key_str(&mut buf), "-7");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key a circuit breaker",
    label = "a key is text or an integer",
    note = "`key = ..` takes a `&str`, a `String` (or `Box<str>`, `Arc<str>`, `Cow<str>`) or an integer, or a reference to one; for another type, pass its text, such as `key = host.as_str()`"
)]
pub trait BreakerKey {
    /// The key as text: itself for text, written into `buf` for an
    /// integer.
    fn key_str<'a>(&'a self, buf: &'a mut KeyBuf) -> &'a str;
}

/// Room on the stack for an integer key's digits; see [`BreakerKey`].
#[derive(Debug)]
pub struct KeyBuf {
    bytes: [u8; 40],
    len: usize,
}

impl KeyBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; 40],
            len: 0,
        }
    }

    /// Writes `value` and returns its text; integers always fit (the
    /// longest, `i128::MIN`, is 40 bytes).
    fn show(&mut self, value: impl fmt::Display) -> &str {
        self.len = 0;
        // An integer's `Display` fits and cannot fail.
        let _ = write!(self, "{value}");
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Default for KeyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for KeyBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl BreakerKey for str {
    #[inline]
    fn key_str<'a>(&'a self, _: &'a mut KeyBuf) -> &'a str {
        self
    }
}

impl<K: BreakerKey + ?Sized> BreakerKey for &K {
    #[inline]
    fn key_str<'a>(&'a self, buf: &'a mut KeyBuf) -> &'a str {
        (**self).key_str(buf)
    }
}

impl<K: BreakerKey + ?Sized> BreakerKey for &mut K {
    #[inline]
    fn key_str<'a>(&'a self, buf: &'a mut KeyBuf) -> &'a str {
        (**self).key_str(buf)
    }
}

macro_rules! text_keys {
    ($($t:ty),*) => {$(
        impl BreakerKey for $t {
            #[inline]
            fn key_str<'a>(&'a self, _: &'a mut KeyBuf) -> &'a str {
                self.as_ref()
            }
        }
    )*};
}

text_keys!(String, Box<str>, Arc<str>, Cow<'_, str>, BreakerName);

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl BreakerKey for $t {
            #[inline]
            fn key_str<'a>(&'a self, buf: &'a mut KeyBuf) -> &'a str {
                buf.show(self)
            }
        }
    )*};
}

integer_keys!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// `max_keys` when not given, for every keyed state (breakers, limiters).
pub(crate) const DEFAULT_MAX_KEYS: u32 = 1024;

/// `idle` when not given.
pub(crate) const DEFAULT_IDLE: core::time::Duration = core::time::Duration::from_secs(600);

/// What is wrong with `max_keys` or `idle`, for the owner to name in its
/// own words.
pub(crate) enum KeysProblem {
    MaxKeys,
    IdleTooShort,
    IdleTooLong,
}

/// The rules of `max_keys` (1 to [`MAX_KEYS`](super::MAX_KEYS)) and `idle`
/// (1 s to 365 days), the same for every keyed state.
pub(crate) const fn check_keys(
    max_keys: u32,
    idle: core::time::Duration,
) -> Result<(), KeysProblem> {
    if max_keys == 0 || max_keys > super::MAX_KEYS {
        return Err(KeysProblem::MaxKeys);
    }
    if idle.as_secs() < 1 {
        return Err(KeysProblem::IdleTooShort);
    }
    if idle.as_nanos() > crate::RetryPolicy::MAX_DURATION.as_nanos() {
        return Err(KeysProblem::IdleTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extreme_integers_fit() {
        let mut buf = KeyBuf::new();
        assert_eq!(
            i128::MIN.key_str(&mut buf),
            "-170141183460469231731687303715884105728"
        );
        assert_eq!(
            u128::MAX.key_str(&mut buf),
            "340282366920938463463374607431768211455"
        );
        assert_eq!(0_u8.key_str(&mut buf), "0");
    }

    #[test]
    fn text_is_itself() {
        let mut buf = KeyBuf::new();
        let owned = String::from("a");
        assert_eq!(owned.key_str(&mut buf), "a");
        assert_eq!((&&owned).key_str(&mut buf), "a");
        assert_eq!(Cow::Borrowed("b").key_str(&mut buf), "b");
    }
}
