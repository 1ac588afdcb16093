//! `RetryBudget`: what calls earn, what retries spend, when it expires, and
//! what an open breaker below changes; through `#[retry(budget = ..)]` and
//! `retry(..).budget(..)`, in paused time, with exact counts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use resilient::{
    CircuitBreaker, CircuitOpen, Decision, Failure, RetryBudget, RetryPolicy, RetryState,
    StopReason, circuit_breaker, retry,
};
use tokio::time::{Instant, advance};

#[derive(Debug, PartialEq)]
enum ApiError {
    Down,
    Open,
}

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError::Open
    }
}

/// No reserve, half a retry per call: every count below is exact.
fn halves() -> RetryBudget {
    RetryBudget::builder().min_per_sec(0).ratio(0.5).build()
}

struct Upstream {
    budget: RetryBudget,
    calls: AtomicU32,
}

impl Upstream {
    fn new(budget: RetryBudget) -> Self {
        Self {
            budget,
            calls: AtomicU32::new(0),
        }
    }

    /// Fails every time; at most 3 attempts, under the budget.
    #[resilient::retry(attempts = 3, backoff = fixed("10ms"), jitter = none, budget = self.budget)]
    async fn fetch(&self) -> Result<u32, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::Down)
    }

    /// Succeeds every time.
    #[resilient::retry(attempts = 3, budget = self.budget)]
    async fn healthy(&self) -> Result<u32, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(1)
    }

    fn take_calls(&self) -> u32 {
        self.calls.swap(0, Ordering::Relaxed)
    }
}

#[tokio::test(start_paused = true)]
async fn each_call_earns_ratio_and_each_retry_spends_one() {
    let upstream = Upstream::new(halves());
    let mut attempts = Vec::new();
    for _ in 0..6 {
        assert_eq!(upstream.fetch().await, Err(ApiError::Down));
        attempts.push(upstream.take_calls());
    }
    // Half a token: no retry; another half: one retry, then empty.
    assert_eq!(attempts, [1, 2, 1, 2, 1, 2]);
    assert_eq!(upstream.budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn successes_fill_the_budget_for_later_failures() {
    let upstream = Upstream::new(halves());
    for _ in 0..4 {
        assert_eq!(upstream.healthy().await, Ok(1));
    }
    assert_eq!(upstream.take_calls(), 4, "a success is one attempt");
    assert_eq!(upstream.budget.available(), 2);
    // The failing call earns half more: 2.5, so both of its retries.
    assert_eq!(upstream.fetch().await, Err(ApiError::Down));
    assert_eq!(upstream.take_calls(), 3);
    assert_eq!(upstream.budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn deposits_expire_after_ttl() {
    let upstream = Upstream::new(halves());
    for _ in 0..4 {
        upstream.healthy().await.unwrap();
    }
    assert_eq!(upstream.take_calls(), 4);
    assert_eq!(upstream.budget.available(), 2);
    // 9 s later (the window is ten 1 s slices), still there.
    advance(Duration::from_secs(9)).await;
    assert_eq!(upstream.budget.available(), 2);
    // Past the ttl: gone.
    advance(Duration::from_secs(1)).await;
    assert_eq!(upstream.budget.available(), 0);
    assert_eq!(upstream.fetch().await, Err(ApiError::Down));
    assert_eq!(upstream.take_calls(), 1, "no retry left");
}

#[tokio::test(start_paused = true)]
async fn withdrawals_expire_too() {
    let upstream = Upstream::new(
        RetryBudget::builder()
            .min_per_sec(1)
            .ratio(0.0)
            .ttl(Duration::from_secs(2))
            .build(),
    );
    // The reserve: 1 a second over 2 s.
    assert_eq!(upstream.budget.available(), 2);
    assert_eq!(upstream.fetch().await, Err(ApiError::Down));
    assert_eq!(upstream.take_calls(), 3);
    assert_eq!(upstream.fetch().await, Err(ApiError::Down));
    assert_eq!(upstream.take_calls(), 1, "the reserve is spent");
    advance(Duration::from_secs(2)).await;
    assert_eq!(upstream.budget.available(), 2, "the spending expired");
}

#[tokio::test(start_paused = true)]
async fn the_reserve_allows_min_per_sec_times_ttl() {
    static POLICY: RetryPolicy = RetryPolicy::builder()
        .attempts(100)
        .backoff(resilient::Backoff::fixed(Duration::from_millis(1)))
        .jitter(resilient::Jitter::None)
        .build();
    let budget = RetryBudget::builder()
        .min_per_sec(1)
        .ratio(0.2)
        .ttl(Duration::from_secs(10))
        .build();
    let attempts = AtomicU32::new(0);
    let result = retry(&POLICY, || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>("down")
    })
    .budget(&budget)
    .await;
    assert_eq!(result, Err("down"));
    // 10 from the reserve, 0.2 earned: ten retries.
    assert_eq!(attempts.load(Ordering::Relaxed), 11);
}

#[tokio::test(start_paused = true)]
async fn the_hand_written_retry_deposits_on_success() {
    static POLICY: RetryPolicy = RetryPolicy::builder().attempts(3).build();
    let budget = halves();
    for _ in 0..2 {
        retry(&POLICY, || async { Ok::<_, ()>(()) })
            .budget(&budget)
            .await
            .unwrap();
    }
    assert_eq!(budget.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_below_neither_earns_nor_spends() {
    static BREAKER: CircuitBreaker = CircuitBreaker::builder()
        .name("budget-open-below")
        .reset(Duration::from_secs(1))
        .build();
    static BUDGET: RetryBudget = RetryBudget::builder().min_per_sec(1).ratio(1.0).build();
    static CALLS: AtomicU32 = AtomicU32::new(0);

    #[resilient::retry(attempts = 3, budget = BUDGET)]
    #[circuit_breaker(shared = BREAKER)]
    async fn through_breaker() -> Result<u32, ApiError> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::Down)
    }

    BREAKER.force_open();
    let before = BUDGET.available();
    assert_eq!(before, 10);
    let started = Instant::now();
    assert_eq!(through_breaker().await, Err(ApiError::Open));
    // Three attempts, each refused: the two retries were granted, then
    // given back; no call reached the body, so nothing was earned.
    assert_eq!(CALLS.load(Ordering::Relaxed), 0);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "two waits for the breaker"
    );
    assert_eq!(BUDGET.available(), before);

    // Closed again: a failing call earns one and spends two of its own.
    BREAKER.reset();
    assert_eq!(through_breaker().await, Err(ApiError::Down));
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    assert_eq!(BUDGET.available(), before + 1 - 2);
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_shared_through_an_arc() {
    static ARC_CALLS: AtomicU32 = AtomicU32::new(0);
    struct Client {
        budget: Arc<RetryBudget>,
    }
    impl Client {
        #[resilient::retry(attempts = 2, budget = self.budget)]
        async fn get(&self) -> Result<(), ApiError> {
            ARC_CALLS.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::Down)
        }
    }
    let budget = Arc::new(halves());
    let a = Client {
        budget: Arc::clone(&budget),
    };
    let b = Client {
        budget: Arc::clone(&budget),
    };
    a.get().await.unwrap_err();
    // `b`'s call finds `a`'s half: one retry between them.
    b.get().await.unwrap_err();
    assert_eq!(budget.available(), 0);
    // Without the budget, each call would make two attempts.
    assert_eq!(ARC_CALLS.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_stops_with_its_reason_at_once() {
    let budget = RetryBudget::builder().min_per_sec(0).ratio(0.0).build();
    let policy = RetryPolicy::builder().attempts(5).build();
    let mut state = RetryState::new();
    let now = Instant::now();
    assert_eq!(
        state.on_failure_with_budget(&policy, Failure::transient(), now, &budget),
        Decision::Stop(StopReason::BudgetExhausted)
    );
    assert_eq!(
        StopReason::BudgetExhausted.to_string(),
        "the retry budget has no retry left"
    );
    // A permanent error stops for its own reason, budget or not.
    let mut state = RetryState::new();
    assert_eq!(
        state.on_failure_with_budget(&policy, Failure::permanent(), now, &budget),
        Decision::Stop(StopReason::Permanent)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refund_goes_back_where_the_retry_was_taken() {
    let budget = RetryBudget::builder().min_per_sec(0).ratio(1.0).build();
    budget.deposit();
    let retry = budget.try_withdraw().expect("one earned");
    assert_eq!(budget.available(), 0);
    // The breaker below made it wait 5 s, then refused it.
    advance(Duration::from_secs(5)).await;
    budget.refund(retry);
    assert_eq!(budget.available(), 1);
    // The deposit, the withdrawal and its refund all expire together:
    // nothing is left over once the deposit is gone.
    advance(Duration::from_secs(6)).await;
    assert_eq!(budget.available(), 0);
    // A refund for a withdrawal already expired gives nothing back.
    budget.deposit();
    let late = budget.try_withdraw().expect("one earned");
    advance(Duration::from_secs(11)).await;
    budget.refund(late);
    assert_eq!(budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_budget_first_used_months_later_still_counts() {
    // Slices of 100 ms: half the tag range is 155 days.
    let budget = RetryBudget::builder()
        .ttl(Duration::from_secs(1))
        .min_per_sec(0)
        .ratio(1.0)
        .build();
    advance(Duration::from_secs(156 * 24 * 3600)).await;
    budget.deposit();
    budget.deposit();
    assert_eq!(budget.available(), 2);
    assert!(budget.try_withdraw().is_some());
    assert!(budget.try_withdraw().is_some());
    assert!(budget.try_withdraw().is_none(), "spent");
    // And again after another long idle spell, with the slots written.
    advance(Duration::from_secs(200 * 24 * 3600)).await;
    assert_eq!(budget.available(), 0);
    budget.deposit();
    assert_eq!(budget.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_method_can_borrow_self_in_its_body() {
    struct Client {
        budget: RetryBudget,
        sent: u32,
    }
    impl Client {
        fn count(&mut self) {
            self.sent += 1;
        }
        // The budget is read after each attempt, not held across it.
        #[resilient::retry(attempts = 3, backoff = none, budget = self.budget)]
        async fn send(&mut self) -> Result<(), ApiError> {
            self.count();
            Err(ApiError::Down)
        }
    }
    let mut client = Client {
        budget: halves(),
        sent: 0,
    };
    client.send().await.unwrap_err();
    client.send().await.unwrap_err();
    assert_eq!(client.sent, 3, "one attempt, then two with a retry");
}

#[tokio::test(start_paused = true)]
async fn a_call_refused_at_first_costs_nothing_until_it_reaches_the_service() {
    let budget = RetryBudget::builder().min_per_sec(0).ratio(0.5).build();
    let policy = RetryPolicy::builder().attempts(5).build();
    let refused = Failure::rejected(Duration::from_secs(1));
    let mut state = RetryState::new();
    // Refused twice: no retry was needed for these, and none is taken
    // from the (empty) budget: the call waits for the breaker as it would
    // without one.
    for _ in 0..2 {
        let decision = state.on_failure_with_budget(&policy, refused, Instant::now(), &budget);
        assert!(matches!(decision, Decision::Retry(_)), "{decision:?}");
    }
    // Then it reaches the service and fails: its deposit, half a retry,
    // is not enough for one.
    assert_eq!(
        state.on_failure_with_budget(&policy, Failure::transient(), Instant::now(), &budget),
        Decision::Stop(StopReason::BudgetExhausted)
    );
}

/// One step of a property run: a call (whether it fails, how many
/// attempts its policy allows, which attempts a breaker below refuses, how
/// long each refusal makes it wait) or a wait.
#[derive(Clone, Debug)]
enum Step {
    Call {
        fails: bool,
        attempts: u32,
        refused: u8,
        wait_ms: u64,
    },
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), 1..6_u32, any::<u8>(), 0..3_000_u64).prop_map(
            |(fails, attempts, refused, wait_ms)| Step::Call { fails, attempts, refused, wait_ms }
        ),
        1 => (0..4_000_u64).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Over any run, every retry that reached the service was covered,
    /// counted from when it was granted (it may then wait for a breaker
    /// below). The budget counts what happened in its last ten slices of
    /// `ttl / 10`, aligned to its own clock: at a retry at `t`, anything
    /// from `(t - ttl + slice, t]` is surely counted, and nothing before
    /// `t - ttl`. So: retries in the first ≤ reserve + ratio × calls that
    /// reached the service in the second.
    #[test]
    fn retries_never_exceed_reserve_plus_ratio_of_calls(
        steps in proptest::collection::vec(step(), 1..80),
        min_per_sec in 0..3_u32,
        ratio_thousandths in 0..1500_u32,
    ) {
        let ttl = Duration::from_secs(2);
        let slice = ttl / 10;
        let budget = RetryBudget::builder()
            .ttl(ttl)
            .min_per_sec(min_per_sec)
            .ratio(f64::from(ratio_thousandths) / 1000.0)
            .build();
        let reserve = u128::from(min_per_sec) * 2 * 1000;
        let deposit = u128::from(ratio_thousandths);
        let runtime = common::paused_runtime();
        runtime.block_on(async {
            let start = Instant::now();
            let at = |now: Instant| (now - start).as_nanos();
            // (time, is a retry) of every attempt that reached the service.
            let mut reached: Vec<(u128, bool)> = Vec::new();
            for step in steps {
                match step {
                    Step::Wait(ms) => advance(Duration::from_millis(ms)).await,
                    Step::Call { fails, attempts, refused, wait_ms } => {
                        let policy = RetryPolicy::builder().attempts(attempts).build();
                        let mut state = RetryState::new();
                        let mut reached_before = false;
                        // When the retry now running was granted: what it
                        // spent is counted from then (it may have waited
                        // for a breaker since).
                        let mut granted = None;
                        for attempt in 0..8 {
                            let now = Instant::now();
                            let is_refused = refused & (1 << attempt) != 0;
                            if !is_refused {
                                // A retry if an earlier attempt of the call
                                // reached the service; else the call itself.
                                match granted.filter(|_| reached_before) {
                                    Some(when) => reached.push((when, true)),
                                    None => reached.push((at(now), false)),
                                }
                                reached_before = true;
                            }
                            if !fails && !is_refused {
                                state.on_success_with_budget(&budget);
                                break;
                            }
                            let failure = if is_refused {
                                Failure::rejected(Duration::from_millis(wait_ms))
                            } else {
                                Failure::transient()
                            };
                            match state.on_failure_with_budget(&policy, failure, now, &budget) {
                                Decision::Retry(_) => {
                                    granted = Some(at(now));
                                    if is_refused {
                                        advance(Duration::from_millis(wait_ms)).await;
                                    }
                                }
                                Decision::Stop(_) => break,
                            }
                        }
                        // Checked at every retry that reached the service.
                        let (ttl, slice) = (ttl.as_nanos(), slice.as_nanos());
                        for &(t, retry) in &reached {
                            if !retry {
                                continue;
                            }
                            let retries = reached
                                .iter()
                                .filter(|&&(x, r)| r && x <= t && x + ttl - slice > t)
                                .count();
                            let calls = reached
                                .iter()
                                .filter(|&&(x, r)| !r && x <= t && x + ttl >= t)
                                .count();
                            prop_assert!(
                                retries as u128 * 1000 <= reserve + deposit * calls as u128,
                                "{retries} retries against {calls} calls before {t} ns"
                            );
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}

/// Every shape a retry takes, under a budget that allows exactly one retry
/// between two failing calls (no reserve, half a retry per call): each
/// shape must make 1 + 2 = 3 attempts over two calls, not 6.
mod shapes {
    use super::*;

    fn two_calls_attempts(calls: &AtomicU32) -> u32 {
        calls.swap(0, Ordering::Relaxed)
    }

    #[resilient::retry(attempts = 3, backoff = none, budget = *budget)]
    async fn generic<T: Copy>(
        value: T,
        budget: &RetryBudget,
        calls: &AtomicU32,
    ) -> Result<T, ApiError> {
        calls.fetch_add(1, Ordering::Relaxed);
        let _ = value;
        Err(ApiError::Down)
    }

    #[tokio::test(start_paused = true)]
    async fn a_generic_function() {
        let (budget, calls) = (halves(), AtomicU32::new(0));
        generic(1u8, &budget, &calls).await.unwrap_err();
        generic("x", &budget, &calls).await.unwrap_err();
        assert_eq!(two_calls_attempts(&calls), 3);
    }

    trait Fetch {
        async fn fetch(&self) -> Result<u32, ApiError>;
    }

    struct Native {
        budget: RetryBudget,
        calls: AtomicU32,
    }

    impl Fetch for Native {
        #[resilient::retry(attempts = 3, backoff = none, budget = self.budget)]
        async fn fetch(&self) -> Result<u32, ApiError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::Down)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_native_trait_method() {
        let native = Native {
            budget: halves(),
            calls: AtomicU32::new(0),
        };
        Fetch::fetch(&native).await.unwrap_err();
        Fetch::fetch(&native).await.unwrap_err();
        assert_eq!(two_calls_attempts(&native.calls), 3);
    }

    #[async_trait::async_trait]
    trait Boxed {
        async fn fetch(&self) -> Result<u32, ApiError>;
    }

    #[async_trait::async_trait]
    impl Boxed for Native {
        #[resilient::retry(attempts = 3, backoff = none, budget = self.budget)]
        async fn fetch(&self) -> Result<u32, ApiError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::Down)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_async_trait_method() {
        let native = Native {
            budget: halves(),
            calls: AtomicU32::new(0),
        };
        Boxed::fetch(&native).await.unwrap_err();
        Boxed::fetch(&native).await.unwrap_err();
        assert_eq!(two_calls_attempts(&native.calls), 3);
    }

    static SLOW_BUDGET: RetryBudget = RetryBudget::builder().min_per_sec(0).ratio(0.5).build();
    static SLOW_CALLS: AtomicU32 = AtomicU32::new(0);

    #[derive(Debug, Default, PartialEq)]
    struct Reply(u32);

    #[derive(Debug, PartialEq)]
    struct Slow;

    impl From<resilient::Elapsed> for Slow {
        fn from(_: resilient::Elapsed) -> Self {
            Slow
        }
    }

    /// A call cut off by the timeout reached the service: it earns, and
    /// its retries spend; the fallback answers once the budget says stop.
    #[resilient::fallback(default)]
    #[resilient::retry(attempts = 3, backoff = none, budget = SLOW_BUDGET)]
    #[resilient::timeout("1s")]
    async fn hangs() -> Result<Reply, Slow> {
        SLOW_CALLS.fetch_add(1, Ordering::Relaxed);
        std::future::pending().await
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_below_a_retry_under_a_fallback() {
        let started = Instant::now();
        assert_eq!(hangs().await, Ok(Reply(0)));
        assert_eq!(hangs().await, Ok(Reply(0)));
        assert_eq!(two_calls_attempts(&SLOW_CALLS), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(3), "three timeouts");
    }

    static OUTER: CircuitBreaker = CircuitBreaker::builder()
        .name("budget-breaker-outside")
        .failures(2)
        .build();
    static OUTER_BUDGET: RetryBudget = RetryBudget::builder().min_per_sec(0).ratio(0.5).build();
    static OUTER_CALLS: AtomicU32 = AtomicU32::new(0);

    /// The other order: the breaker outside sees one outcome per call,
    /// and every attempt of the retry inside reaches the service.
    #[circuit_breaker(shared = OUTER)]
    #[resilient::retry(attempts = 3, backoff = none, budget = OUTER_BUDGET)]
    async fn breaker_outside() -> Result<u32, ApiError> {
        OUTER_CALLS.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::Down)
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_above_the_retry() {
        breaker_outside().await.unwrap_err();
        assert_eq!(
            OUTER.state(),
            resilient::CircuitState::Closed,
            "one failure"
        );
        breaker_outside().await.unwrap_err();
        assert_eq!(two_calls_attempts(&OUTER_CALLS), 3);
        // Two calls, two outcomes: the breaker (failures = 2) opens now,
        // not after the first call's attempts.
        assert_eq!(OUTER.state(), resilient::CircuitState::Open);
    }
}
