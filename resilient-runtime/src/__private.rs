//! Glue that only generated code calls, through `::resilient::__private`.
//! Not a public API: anything here may change in any release.
//!
//! Generated code reaches the runtime only through this module and the
//! public API, with absolute paths, so a user's own items named `Duration`
//! or `RetryPolicy` cannot capture it.

pub use core::time::Duration;
pub use tokio::time::{Instant, sleep};

pub use crate::{Backoff, Decision, Failure, Jitter, RetryPolicy, RetryState};
