//! [`Elapsed`]: the error of a call cut off by `#[timeout]`.

use core::convert::Infallible;
use core::fmt;
use core::time::Duration;

/// The error of a call that ran longer than its `#[timeout]`.
///
/// A function under `#[timeout(D)]` returns `E::from(Elapsed)` when the
/// time is up (or what its `on_timeout` makes of it), so its error type
/// implements `From<Elapsed>`.
///
/// ```
/// use std::time::Duration;
/// use resilient::Elapsed;
///
/// let elapsed = Elapsed::new(Duration::from_secs(2));
/// assert_eq!(elapsed.after(), Duration::from_secs(2));
/// assert_eq!(elapsed.to_string(), "the call took longer than 2s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// A call cut off after `after`.
    pub const fn new(after: Duration) -> Self {
        Self { after }
    }

    /// The time limit that was reached.
    pub const fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the call took longer than {:?}", self.after)
    }
}

impl std::error::Error for Elapsed {}

/// For generated code: a layer that cannot time out carries `Infallible`.
impl From<Infallible> for Elapsed {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}
