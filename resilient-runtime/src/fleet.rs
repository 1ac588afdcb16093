//! Breaker state shared by a fleet of instances through Redis (feature
//! `redis`).
//!
//! Every decision stays local: a call through a breaker never waits on the
//! network. A background task keeps the fleet in step:
//!
//! - **Operator overrides** ([`Fleet::force_open`], [`Fleet::disable`],
//!   [`Fleet::reset`]) are applied here at once, stored in Redis and
//!   published, so every instance applies them within moments, and one
//!   that starts or reconnects later reads them on connecting.
//! - **The instance announces itself** with an entry that expires, so the
//!   fleet knows who is alive ([`Fleet::live_instances`]).
//! - **A quorum opens a breaker everywhere.** Each instance reports the
//!   breakers its own failures opened; when the reports for a breaker
//!   reach the [`quorum`](FleetBuilder::quorum) share of the live
//!   instances (half, by default), every instance opens its own, as its
//!   failures would have (its `reset` runs, trials follow). One sick
//!   instance does not open the others'. A breaker the quorum opened is
//!   not reported: only an instance's own evidence counts.
//! - **One probe for the fleet.** When an open breaker's `reset` is about
//!   to run out, its instance, if the breaker has refused calls (it has
//!   calls to probe with), takes a lease (with an expiry) for the
//!   breaker's half-open trial; the other instances keep theirs open
//!   meanwhile, so a recovering dependency gets one probe, not one per
//!   instance. A probe that succeeds closes every instance's breaker. This
//!   needs the announcement period well below the breakers' `reset`.
//! - **Redis unreachable, slow or restarted**: breakers go on deciding
//!   locally; the task reconnects with backoff (this crate's own
//!   [`retry`](crate::retry())), emits an event, and on reconnecting reads
//!   the overrides again, undoing any that were lifted meanwhile. At
//!   every announcement it reads them too (an override missed on the
//!   channel is caught) and pings the subscription.
//! - **Expiries are in Redis' clock** (read with `TIME` at every
//!   announcement), so the instances' clocks need not agree.
//! - **Leaving**: [`Fleet::leave`], or dropping the `Fleet`, takes the
//!   instance's announcement, reports and probe lease out of Redis.
//!
//! A `Fleet` holds its own set of breakers ([`Fleet::add`], and
//! [`Fleet::add_keyed`] for a [`KeyedBreaker`], whose keys are
//! `name[key]`: an override of `name[key]` holds that key, one of `name`
//! every key, a key made later from its first call; a key's own override
//! comes before its keyed breaker's), so one process can run several
//! instances (tests do). A breaker an override holds takes no part in the
//! quorum or the probe.
//!
//! ```no_run
//! use std::sync::Arc;
//! use resilient::CircuitBreaker;
//! use resilient::fleet::Fleet;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilient::fleet::FleetError> {
//! let payments = Arc::new(CircuitBreaker::builder().name("payments").build());
//! let fleet = Fleet::builder("redis://127.0.0.1:6379").start()?;
//! fleet.add(&payments);
//! // An operator switches payments off for the whole fleet:
//! fleet.force_open("payments").await?;
//! // Shutting down: this instance's entries leave Redis with it.
//! fleet.leave().await;
//! # Ok(())
//! # }
//! ```

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use tokio::sync::Notify;

use crate::circuit_breaker::{Hold, Holds};
use crate::{
    Backoff, CircuitBreaker, Decision, Failure, Jitter, KeyedBreaker, RetryHint, RetryPolicy,
    RetryState,
};

/// What went wrong talking to Redis: the fleet's own error. The breakers
/// never see it; an operator's override does.
#[derive(Debug)]
pub struct FleetError(FleetErrorKind);

#[derive(Debug)]
enum FleetErrorKind {
    Redis(redis::RedisError),
    TimedOut,
    Closed,
    Config(&'static str),
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FleetErrorKind::Redis(error) => write!(f, "redis: {error}"),
            FleetErrorKind::TimedOut => f.write_str("redis did not answer in time"),
            FleetErrorKind::Closed => f.write_str("the redis subscription closed"),
            FleetErrorKind::Config(problem) => write!(f, "invalid fleet setting: {problem}"),
        }
    }
}

impl std::error::Error for FleetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            FleetErrorKind::Redis(error) => Some(error),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for FleetError {
    fn from(error: redis::RedisError) -> Self {
        Self(FleetErrorKind::Redis(error))
    }
}

/// Every failure to reach Redis is worth another try, after a backoff.
impl RetryHint for FleetError {}

/// An operator's override of one breaker, fleet-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Override {
    ForceOpen,
    Disable,
    Reset,
}

impl Override {
    fn as_str(self) -> &'static str {
        match self {
            Self::ForceOpen => "force_open",
            Self::Disable => "disable",
            Self::Reset => "reset",
        }
    }

    fn apply_to(self, breaker: &CircuitBreaker) {
        match self {
            Self::ForceOpen => breaker.force_open(),
            Self::Disable => breaker.disable(),
            Self::Reset => breaker.reset(),
        }
    }

    /// How a keyed breaker holds its new keys under this override.
    fn hold(self) -> Option<Hold> {
        match self {
            Self::ForceOpen => Some(Hold::ForceOpen),
            Self::Disable => Some(Hold::Disable),
            Self::Reset => None,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "force_open" => Some(Self::ForceOpen),
            "disable" => Some(Self::Disable),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// Builds a [`Fleet`]; from [`Fleet::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct FleetBuilder {
    url: String,
    prefix: String,
    instance: Option<String>,
    announce_every: Duration,
    command_timeout: Duration,
    quorum: f64,
}

impl FleetBuilder {
    /// The share of the live instances that must see a breaker open for
    /// every instance to open it (default 0.5, half): with three
    /// instances, one sick instance opens only its own breaker, two open
    /// the third's. Above 0, at most 1.
    pub fn quorum(mut self, share: f64) -> Self {
        self.quorum = share;
        self
    }

    /// The prefix of every key and channel (default `resilient`): fleets
    /// that must not see each other on one Redis use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// This instance's name in the fleet (default: random).
    pub fn instance(mut self, name: impl Into<String>) -> Self {
        self.instance = Some(name.into());
        self
    }

    /// How often the instance announces itself (default 5 s); its entry
    /// expires after three of these. It also paces the rest of the
    /// background work: reports, the quorum, the probe's lease, reading
    /// Redis' clock and the stored overrides, and pinging the
    /// subscription. Keep it well below the breakers' `reset`.
    pub fn announce_every(mut self, every: Duration) -> Self {
        self.announce_every = every;
        self
    }

    /// How long one Redis command may take before the connection is given
    /// up and made again (default 2 s): a stopped Redis is noticed.
    pub fn command_timeout(mut self, limit: Duration) -> Self {
        self.command_timeout = limit;
        self
    }

    /// Starts the fleet's background task on the current tokio runtime.
    /// It returns at once: the task connects (and reconnects) by itself,
    /// and the breakers work meanwhile.
    ///
    /// # Errors
    ///
    /// The URL is not a Redis URL, or `quorum` is out of range.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self) -> Result<Fleet, FleetError> {
        if !(self.quorum > 0.0 && self.quorum <= 1.0) {
            return Err(FleetError(FleetErrorKind::Config(
                "`quorum` must be above 0 and at most 1",
            )));
        }
        let client = redis::Client::open(self.url.as_str())?;
        let instance = self.instance.unwrap_or_else(random_name);
        let shared = Arc::new(Shared {
            keys: Keys::new(&self.prefix),
            instance,
            announce_every: self.announce_every.max(Duration::from_millis(10)),
            command_timeout: self.command_timeout.max(Duration::from_millis(10)),
            quorum: self.quorum,
            breakers: Mutex::new(BTreeMap::new()),
            keyed: Mutex::new(Vec::new()),
            switching: Mutex::new(false),
            from_fleet: Mutex::new(BTreeMap::new()),
            known: Mutex::new(BTreeMap::new()),
            reported: Mutex::new(BTreeSet::new()),
            opened_by_fleet: Mutex::new(BTreeSet::new()),
            probing: Mutex::new(BTreeSet::new()),
            closed_at: Mutex::new(BTreeMap::new()),
            clock: Mutex::new(None),
            connected: AtomicBool::new(false),
            stop: Notify::new(),
            client,
        });
        let task = tokio::spawn(run(Arc::clone(&shared)));
        Ok(Fleet {
            shared,
            task: Some(task),
        })
    }
}

/// The names of the fleet's keys and channel.
#[derive(Debug)]
struct Keys {
    overrides: String,
    channel: String,
    /// A hash: instance → when its announcement expires (ms since the
    /// Unix epoch, by Redis' clock).
    instances: String,
    /// A hash: the breakers some instance reports open, for the others to
    /// weigh → when the last report of it expires (by Redis' clock).
    reported: String,
    prefix: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            overrides: format!("{prefix}:overrides"),
            channel: format!("{prefix}:events"),
            instances: format!("{prefix}:instances"),
            reported: format!("{prefix}:reported"),
            prefix: prefix.to_owned(),
        }
    }

    /// A hash: instance → when its report that the breaker `name` is open
    /// expires.
    fn open(&self, name: &str) -> String {
        format!("{}:open:{name}", self.prefix)
    }

    /// The lease of the one instance that probes the breaker `name`.
    fn probe(&self, name: &str) -> String {
        format!("{}:probe:{name}", self.prefix)
    }
}

/// One of this instance's breakers, as the fleet sees it.
struct Member {
    /// Its registry name: `name[key]` for a key.
    name: String,
    /// The name of the keyed breaker it is a key of.
    keyed: Option<&'static str>,
    breaker: Arc<CircuitBreaker>,
}

impl Member {
    /// Whether an override of `name` holds it: one of its own, or of its
    /// keyed breaker.
    fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.keyed == Some(name)
    }

    /// The override in force for it among `known`: its own, else its
    /// keyed breaker's.
    fn effective(&self, known: &BTreeMap<String, Override>) -> Option<Override> {
        known
            .get(&self.name)
            .or_else(|| self.keyed.and_then(|keyed| known.get(keyed)))
            .copied()
    }
}

struct Shared {
    keys: Keys,
    instance: String,
    announce_every: Duration,
    command_timeout: Duration,
    /// This instance's breakers, by name.
    breakers: Mutex<BTreeMap<String, Arc<CircuitBreaker>>>,
    /// Its keyed breakers: each key's breaker is `name[key]`.
    keyed: Mutex<Vec<Arc<KeyedBreaker>>>,
    /// Held while overrides are applied, so `add` and the task do not
    /// interleave (never across an await). `true` once the fleet is
    /// dropped: it holds no new key any more.
    switching: Mutex<bool>,
    /// The breakers an override from the fleet holds now: lifted ones are
    /// reset on the next resynchronisation.
    from_fleet: Mutex<BTreeMap<String, Override>>,
    /// The fleet's overrides as last read or heard, for a breaker added
    /// after they came.
    known: Mutex<BTreeMap<String, Override>>,
    quorum: f64,
    /// The breakers this instance reports open (its own failures opened
    /// them).
    reported: Mutex<BTreeSet<String>>,
    /// The breakers the quorum opened here: not this instance's own
    /// evidence, so never reported.
    opened_by_fleet: Mutex<BTreeSet<String>>,
    /// The breakers whose fleet-wide probe this instance holds.
    probing: Mutex<BTreeSet<String>>,
    /// When the fleet's probe of a breaker last went through.
    closed_at: Mutex<BTreeMap<String, std::time::Instant>>,
    /// Redis' clock as last read (milliseconds since the Unix epoch) and
    /// when: every expiry is in Redis' time, so the instances' clocks need
    /// not agree.
    clock: Mutex<Option<(std::time::Instant, u64)>>,
    connected: AtomicBool,
    stop: Notify,
    client: redis::Client,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("instance", &self.instance)
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Breaker state shared through Redis; see the [module](self).
#[derive(Debug)]
pub struct Fleet {
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Dropped, the fleet's task takes this instance's entries out of Redis
/// (its announcement, reports and probe lease) if it can within the
/// command timeout, and ends; [`Fleet::leave`] waits for that.
impl Drop for Fleet {
    fn drop(&mut self) {
        self.shared.stop.notify_one();
        // Keys made from now on are plain breakers: the fleet no longer
        // holds them (those made keep the state they are in). Under the
        // lock the task applies overrides under, so it cannot hold them
        // again after this.
        let mut left = lock(&self.shared.switching);
        *left = true;
        for keyed in lock(&self.shared.keyed).iter() {
            keyed.hold_keys(Holds::default());
        }
    }
}

impl Fleet {
    /// A fleet on the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> FleetBuilder {
        FleetBuilder {
            url: url.into(),
            prefix: String::from("resilient"),
            instance: None,
            announce_every: Duration::from_secs(5),
            command_timeout: Duration::from_secs(2),
            quorum: 0.5,
        }
    }

    /// This instance's name in the fleet.
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// Whether the background task is connected to Redis now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Takes `breaker` into the fleet, under its name: overrides for that
    /// name reach it, the one in force now included. One already known by
    /// that name is replaced.
    ///
    /// The fleet switches breakers under a lock of its own, which their
    /// state-change hooks run under: a hook must not call `add` or
    /// [`add_keyed`](Self::add_keyed) (it would wait for itself).
    pub fn add(&self, breaker: &Arc<CircuitBreaker>) {
        let name = breaker.name().as_str().to_owned();
        let _switching = lock(&self.shared.switching);
        lock(&self.shared.breakers).insert(name.clone(), Arc::clone(breaker));
        self.shared.catch_up(&Member {
            name,
            keyed: None,
            breaker: Arc::clone(breaker),
        });
    }

    /// Takes a keyed breaker into the fleet: each key's breaker
    /// (`name[key]`) is one of the fleet's. An override of `name` holds
    /// every key, and one of `name[key]` that key; a key made later is
    /// held from its first call. A key's own override comes before its
    /// keyed breaker's: lifting either leaves the other in force. When the
    /// fleet is dropped, keys made later are plain breakers again.
    pub fn add_keyed(&self, keyed: &Arc<KeyedBreaker>) {
        let shared = &self.shared;
        let _switching = lock(&shared.switching);
        lock(&shared.keyed).push(Arc::clone(keyed));
        let known = lock(&shared.known).clone();
        keyed.hold_keys(holds(keyed.name(), &known));
        for breaker in keyed.breakers() {
            shared.catch_up(&Member {
                name: breaker.name().as_str().to_owned(),
                keyed: Some(keyed.name()),
                breaker,
            });
        }
    }

    /// Leaves the fleet: the task ends, and takes this instance's entries
    /// out of Redis (its announcement, its reports, a probe lease) if it
    /// is connected, within the command timeout. Dropping the `Fleet` does
    /// the same without waiting.
    pub async fn leave(mut self) {
        self.shared.stop.notify_one();
        if let Some(task) = self.task.take() {
            // A task that panicked or was cancelled with its runtime has
            // nothing left to do.
            let _ = task.await;
        }
    }

    /// Forces the breaker `name` open on every instance (an operator's
    /// kill switch), until [`reset`](Self::reset).
    ///
    /// # Errors
    ///
    /// Redis could not be reached: the override holds here only.
    pub async fn force_open(&self, name: &str) -> Result<(), FleetError> {
        self.operate(name, Override::ForceOpen).await
    }

    /// Disables the breaker `name` on every instance (calls always go
    /// through), until [`reset`](Self::reset).
    ///
    /// # Errors
    ///
    /// Redis could not be reached: the override holds here only.
    pub async fn disable(&self, name: &str) -> Result<(), FleetError> {
        self.operate(name, Override::Disable).await
    }

    /// Lifts an override of `name` on every instance: its breaker starts
    /// closed again.
    ///
    /// # Errors
    ///
    /// Redis could not be reached: the reset holds here only.
    pub async fn reset(&self, name: &str) -> Result<(), FleetError> {
        self.operate(name, Override::Reset).await
    }

    /// How many instances announced themselves within their key's life,
    /// this one included once it has.
    ///
    /// # Errors
    ///
    /// Redis could not be reached.
    pub async fn live_instances(&self) -> Result<usize, FleetError> {
        let shared = &self.shared;
        let mut conn = shared.connection().await?;
        Ok(shared
            .live_fields(&mut conn, &shared.keys.instances)
            .await?
            .len())
    }

    async fn operate(&self, name: &str, op: Override) -> Result<(), FleetError> {
        let shared = &self.shared;
        // Here at once; as the fleet's (undone by a resynchronisation that
        // no longer finds it stored) once it comes back on the channel.
        let mut known = lock(&shared.known).clone();
        if op == Override::Reset {
            known.remove(name);
        } else {
            known.insert(name.to_owned(), op);
        }
        shared.settle(name, op, &known);
        let mut conn = shared.connection().await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if op == Override::Reset {
            pipe.cmd("HDEL").arg(&shared.keys.overrides).arg(name);
        } else {
            pipe.cmd("HSET")
                .arg(&shared.keys.overrides)
                .arg(name)
                .arg(op.as_str());
        }
        pipe.cmd("PUBLISH")
            .arg(&shared.keys.channel)
            .arg(format!("{}\t{}", op.as_str(), name));
        shared.bounded(pipe.query_async::<()>(&mut conn)).await
    }
}

impl Shared {
    /// A command connection, within the command timeout.
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, FleetError> {
        // The client's own limits (half a second by default) set to ours.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(Some(self.command_timeout));
        self.bounded(
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
    }

    /// `fut` cut off after the command timeout.
    async fn bounded<T, F>(&self, fut: F) -> Result<T, FleetError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match crate::timeout(self.command_timeout, fut).await {
            Ok(result) => result.map_err(FleetError::from),
            Err(_) => Err(FleetError(FleetErrorKind::TimedOut)),
        }
    }

    /// Records the fleet's `op` for `name` and applies it to the breakers
    /// it holds here, if this instance has any.
    fn hear(&self, name: &str, op: Override) {
        {
            let mut known = lock(&self.known);
            if op == Override::Reset {
                known.remove(name);
            } else {
                known.insert(name.to_owned(), op);
            }
        }
        self.apply(name, op);
    }

    /// Every breaker of this instance: the plain ones and each key of the
    /// keyed ones.
    fn all(&self) -> Vec<Member> {
        let mut all: Vec<Member> = lock(&self.breakers)
            .iter()
            .map(|(name, breaker)| Member {
                name: name.clone(),
                keyed: None,
                breaker: Arc::clone(breaker),
            })
            .collect();
        let keyed = lock(&self.keyed).clone();
        for keyed in keyed {
            all.extend(keyed.breakers().into_iter().map(|breaker| Member {
                name: breaker.name().as_str().to_owned(),
                keyed: Some(keyed.name()),
                breaker,
            }));
        }
        all
    }

    /// The breakers an override of `name` holds: the one named so, or
    /// every key of the keyed breaker named so.
    fn matching(&self, name: &str) -> Vec<Member> {
        self.all()
            .into_iter()
            .filter(|member| member.answers_to(name))
            .collect()
    }

    /// Whether an override of the fleet holds `member` (or its keyed
    /// breaker): its state is the operator's, not evidence, and the quorum
    /// and the probe leave it alone.
    fn overridden(&self, member: &Member) -> bool {
        let from_fleet = lock(&self.from_fleet);
        from_fleet.contains_key(&member.name)
            || member
                .keyed
                .is_some_and(|keyed| from_fleet.contains_key(keyed))
    }

    /// One breaker by its own name: a plain one, or a key of a keyed
    /// breaker (`name[key]`, looked up without making it).
    fn named(&self, name: &str) -> Option<Member> {
        if let Some(breaker) = lock(&self.breakers).get(name) {
            return Some(Member {
                name: name.to_owned(),
                keyed: None,
                breaker: Arc::clone(breaker),
            });
        }
        let keyed = lock(&self.keyed).clone();
        keyed.into_iter().find_map(|keyed| {
            let key = key_of(keyed.name(), name)?;
            Some(Member {
                name: name.to_owned(),
                keyed: Some(keyed.name()),
                breaker: keyed.get(key)?,
            })
        })
    }

    /// A breaker new to the fleet gets the override in force for it.
    /// Called under `switching`.
    fn catch_up(&self, member: &Member) {
        // The guard dropped before the breaker runs its hook.
        let op = member.effective(&lock(&self.known));
        if let Some(op) = op {
            op.apply_to(&member.breaker);
        }
    }

    /// Forgets what it kept of breakers gone (keys evicted), and probe
    /// times past their quiet period.
    fn prune(&self, current: &BTreeSet<&str>) {
        lock(&self.opened_by_fleet).retain(|name| current.contains(name.as_str()));
        let quiet = self.quiet();
        lock(&self.closed_at).retain(|_, at| at.elapsed() < quiet);
    }

    /// Applies the fleet's `op` for `name` (already in `known`) to the
    /// breakers it holds here, and counts them as the fleet's.
    fn apply(&self, name: &str, op: Override) {
        let known = lock(&self.known).clone();
        self.settle(name, op, &known);
        let mut from_fleet = lock(&self.from_fleet);
        if op == Override::Reset {
            from_fleet.remove(name);
        } else {
            from_fleet.insert(name.to_owned(), op);
        }
    }

    /// After `op` for `name`, with `known` the overrides then in force:
    /// each breaker `name` names takes the override in force for it (a
    /// key's own before its keyed breaker's), or, after a reset that
    /// leaves none, is reset; the keyed breaker `name` is or is a key of
    /// holds the keys it makes likewise.
    fn settle(&self, name: &str, op: Override, known: &BTreeMap<String, Override>) {
        // One change at a time: `add` reads the overrides in force and
        // switches breakers under this lock too.
        let left = lock(&self.switching);
        let keyed = if *left {
            Vec::new()
        } else {
            lock(&self.keyed).clone()
        };
        for keyed in keyed
            .iter()
            .filter(|keyed| keyed.name() == name || key_of(keyed.name(), name).is_some())
        {
            // First, so a key made meanwhile is held or among those below.
            keyed.hold_keys(holds(keyed.name(), known));
        }
        for member in self.matching(name) {
            match member.effective(known) {
                Some(held) => held.apply_to(&member.breaker),
                None if op == Override::Reset => member.breaker.reset(),
                None => {}
            }
        }
    }

    /// Takes the overrides stored in Redis as the fleet's: an override
    /// this instance holds from the fleet that is no longer stored was
    /// lifted meanwhile, and is reset. `full` (on connecting) applies
    /// every stored override again; otherwise (at each announcement,
    /// for an override missed on the channel) only those that changed.
    /// A stored value that is not a kill switch is no override.
    fn resync(&self, stored: &BTreeMap<String, String>, full: bool) {
        let stored: BTreeMap<String, Override> = stored
            .iter()
            .filter_map(|(name, op)| {
                let op = Override::parse(op).filter(|op| *op != Override::Reset)?;
                Some((name.clone(), op))
            })
            .collect();
        *lock(&self.known) = stored.clone();
        let held = lock(&self.from_fleet).clone();
        for name in held.keys().filter(|name| !stored.contains_key(*name)) {
            self.apply(name, Override::Reset);
        }
        for (name, op) in stored {
            if full || held.get(&name) != Some(&op) {
                self.apply(&name, op);
            }
        }
    }

    /// The fields of the hash `key` whose expiry is still ahead (the
    /// expired ones removed).
    async fn live_fields(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        key: &str,
    ) -> Result<Vec<String>, FleetError> {
        let fields: BTreeMap<String, u64> = self
            .bounded(redis::cmd("HGETALL").arg(key).query_async(conn))
            .await?;
        self.unexpired(conn, key, fields).await
    }

    /// The fields of `fields` (of the hash `key`) whose expiry is still
    /// ahead; the expired ones are removed from the hash.
    async fn unexpired(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        key: &str,
        fields: BTreeMap<String, u64>,
    ) -> Result<Vec<String>, FleetError> {
        let now = self.now_ms();
        let (live, expired): (Vec<_>, Vec<_>) =
            fields.into_iter().partition(|(_, until)| *until > now);
        if !expired.is_empty() {
            let expired: Vec<String> = expired.into_iter().map(|(field, _)| field).collect();
            self.bounded(
                redis::cmd("HDEL")
                    .arg(key)
                    .arg(&expired)
                    .query_async::<()>(conn),
            )
            .await?;
        }
        Ok(live.into_iter().map(|(field, _)| field).collect())
    }

    /// How long an entry written now lives: three announcement periods.
    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.announce_every.saturating_mul(3).as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The expiry of an entry written now, in Redis' time.
    fn expiry(&self) -> u64 {
        self.now_ms().saturating_add(self.ttl_ms())
    }

    /// Now in Redis' time: milliseconds since the Unix epoch by Redis'
    /// clock, as last read and carried forward by this machine's monotonic
    /// clock (a step of the wall clock here changes nothing); this
    /// machine's wall clock until Redis' is first read.
    fn now_ms(&self) -> u64 {
        match *lock(&self.clock) {
            Some((at, redis)) => {
                let since = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                redis.saturating_add(since)
            }
            None => local_ms(),
        }
    }

    /// Reads Redis' clock (`TIME`), so expiries written and judged by
    /// every instance are in one time, whatever their own clocks say. A
    /// reading whose round trip took half an announcement period or more
    /// is too coarse, and the one before is kept.
    async fn read_clock(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> Result<(), FleetError> {
        let sent = std::time::Instant::now();
        let (secs, micros): (u64, u64) = self.bounded(redis::cmd("TIME").query_async(conn)).await?;
        let round_trip = sent.elapsed();
        let mut clock = lock(&self.clock);
        if clock.is_none() || round_trip < self.announce_every / 2 {
            let redis = secs.saturating_mul(1000).saturating_add(micros / 1000);
            // Read halfway through the round trip.
            *clock = Some((sent + round_trip / 2, redis));
        }
        Ok(())
    }

    /// How long after a probe went through the quorum ignores reports
    /// (those in flight are stale: the service is back).
    fn quiet(&self) -> Duration {
        self.announce_every.saturating_mul(4)
    }

    /// Reports this instance's open breakers (opened by its own failures)
    /// and withdraws the reports of those that closed or are gone, in one
    /// round trip. A new report is announced on the channel, so the others
    /// weigh it at once, and its breaker is listed in the index of
    /// reported breakers the others weigh.
    async fn report(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        members: &[Member],
    ) -> Result<(), FleetError> {
        let mut pipe = redis::pipe();
        let expiry = self.expiry();
        // The commands, written under the locks; sent after.
        {
            let mut reported = lock(&self.reported);
            let mut opened_by_fleet = lock(&self.opened_by_fleet);
            let mut now_reported = BTreeSet::new();
            for member in members {
                let (name, breaker) = (&member.name, &member.breaker);
                let open = breaker.state() == crate::CircuitState::Open
                    && !self.overridden(member)
                    && !breaker.switched();
                if !open {
                    opened_by_fleet.remove(name);
                }
                if !open || opened_by_fleet.contains(name) {
                    continue;
                }
                let key = self.keys.open(name);
                pipe.cmd("HSET")
                    .arg(&key)
                    .arg(&self.instance)
                    .arg(expiry)
                    .ignore();
                // The hash goes with the last report, even one never withdrawn.
                extend(&mut pipe, &key, self.ttl_ms());
                pipe.cmd("HSET")
                    .arg(&self.keys.reported)
                    .arg(name)
                    .arg(expiry)
                    .ignore();
                if !reported.contains(name) {
                    pipe.cmd("PUBLISH")
                        .arg(&self.keys.channel)
                        .arg(format!("open\t{name}"))
                        .ignore();
                }
                now_reported.insert(name.clone());
            }
            // Closed since, or gone (a key evicted): withdrawn.
            for name in reported.difference(&now_reported) {
                pipe.cmd("HDEL")
                    .arg(self.keys.open(name))
                    .arg(&self.instance)
                    .ignore();
            }
            extend(&mut pipe, &self.keys.reported, self.ttl_ms());
            *reported = now_reported;
        }
        self.bounded(pipe.query_async::<()>(conn)).await
    }

    /// Opens this instance's closed breakers that a quorum of the live
    /// instances reports open: those in the index of reported breakers
    /// (or only `only`, on news of one). Two round trips whatever their
    /// number, and a third to remove what expired, if anything did.
    async fn weigh(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        members: &[Member],
        only: Option<&str>,
    ) -> Result<(), FleetError> {
        let mut cleanup = redis::pipe();
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(&self.keys.instances);
        if only.is_none() {
            pipe.cmd("HGETALL").arg(&self.keys.reported);
        }
        let mut replies: Vec<BTreeMap<String, u64>> = self.bounded(pipe.query_async(conn)).await?;
        let listed = match only {
            Some(name) => vec![name.to_owned()],
            None => self.sort_out(
                &mut cleanup,
                &self.keys.reported,
                replies.pop().unwrap_or_default(),
            ),
        };
        let instances = replies.pop().unwrap_or_default();
        let live = self
            .sort_out(&mut cleanup, &self.keys.instances, instances)
            .len()
            .max(1);
        let quiet = self.quiet();
        let candidates: Vec<&Member> = {
            let closed_at = lock(&self.closed_at);
            listed
                .iter()
                .filter_map(|name| members.iter().find(|member| member.name == *name))
                .filter(|member| {
                    member.breaker.state() == crate::CircuitState::Closed
                        && !self.overridden(member)
                        && !member.breaker.switched()
                        // Just after a probe went through, reports still
                        // in flight are stale: the service is back.
                        && closed_at
                            .get(&member.name)
                            .is_none_or(|at| at.elapsed() >= quiet)
                })
                .collect()
        };
        if !candidates.is_empty() {
            let mut pipe = redis::pipe();
            for member in &candidates {
                pipe.cmd("HGETALL").arg(self.keys.open(&member.name));
            }
            let replies: Vec<BTreeMap<String, u64>> = self.bounded(pipe.query_async(conn)).await?;
            for (member, reports) in candidates.into_iter().zip(replies) {
                let key = self.keys.open(&member.name);
                let reports = self.sort_out(&mut cleanup, &key, reports);
                // An instance's own report is not a vote for itself.
                let reports = reports
                    .iter()
                    .filter(|field| **field != self.instance)
                    .count();
                #[allow(clippy::cast_precision_loss)] // instance counts are small
                let share = reports as f64 / live as f64;
                if reports > 0 && share >= self.quorum && member.breaker.open_now() {
                    lock(&self.opened_by_fleet).insert(member.name.clone());
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        target: "resilient::fleet",
                        instance = %self.instance,
                        breaker = %member.name,
                        reports,
                        live,
                        "a quorum of the fleet sees this breaker open: opened here too"
                    );
                }
            }
        }
        if cleanup.cmd_iter().next().is_some() {
            self.bounded(cleanup.query_async::<()>(conn)).await?;
        }
        Ok(())
    }

    /// The fields of `fields` (of the hash `key`) whose expiry is still
    /// ahead; an `HDEL` of the others is added to `cleanup`.
    fn sort_out(
        &self,
        cleanup: &mut redis::Pipeline,
        key: &str,
        fields: BTreeMap<String, u64>,
    ) -> Vec<String> {
        let now = self.now_ms();
        let (live, expired): (Vec<_>, Vec<_>) =
            fields.into_iter().partition(|(_, until)| *until > now);
        if !expired.is_empty() {
            let expired: Vec<String> = expired.into_iter().map(|(field, _)| field).collect();
            cleanup.cmd("HDEL").arg(key).arg(expired).ignore();
        }
        live.into_iter().map(|(field, _)| field).collect()
    }

    /// One probe for the fleet: an open breaker about to admit its trial
    /// (within four announcement periods) that has refused calls takes
    /// the probe's lease; if another instance holds it, this one stays
    /// open a whole `reset` longer. A breaker that closed after probing
    /// tells the fleet, which closes theirs.
    async fn coordinate_probes(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        members: &[Member],
    ) -> Result<(), FleetError> {
        // The lease of a breaker gone (a key evicted) is given back.
        let current: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let gone: Vec<String> = lock(&self.probing)
            .iter()
            .filter(|name| !current.contains(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            lock(&self.probing).remove(&name);
            self.give_back(conn, &name).await?;
        }
        for member in members {
            let (name, breaker) = (member.name.clone(), &member.breaker);
            // Calls refused in the last period, counted afresh each one.
            let refused = breaker.take_refused() > 0;
            if self.overridden(member) || breaker.switched() {
                continue;
            }
            // Open, or past its `reset` with no trial started yet (no call
            // came to take it): either way, the probe is still to come.
            let phase = if breaker.awaits_trial() {
                crate::CircuitState::Open
            } else {
                breaker.state()
            };
            match phase {
                crate::CircuitState::Closed => {
                    if lock(&self.probing).remove(&name) {
                        // The probe went through: the service is back, so
                        // the fleet's reports of it are void, and the
                        // fleet may close too.
                        lock(&self.closed_at).insert(name.clone(), std::time::Instant::now());
                        self.bounded(
                            redis::pipe()
                                // The lease, only if still this instance's.
                                .cmd("EVAL")
                                .arg(DELETE_IF_OURS)
                                .arg(1)
                                .arg(self.keys.probe(&name))
                                .arg(&self.instance)
                                .cmd("DEL")
                                .arg(self.keys.open(&name))
                                .cmd("PUBLISH")
                                .arg(&self.keys.channel)
                                .arg(format!("closed\t{name}"))
                                .query_async::<()>(conn),
                        )
                        .await?;
                    }
                }
                crate::CircuitState::Open => {
                    // Within four announcement periods of its trial: a
                    // late tick still comes before the trial.
                    if breaker.admits_in() > self.announce_every.saturating_mul(4) {
                        continue;
                    }
                    // Only an instance with calls to probe with (its
                    // breaker refused some in the last period) takes the
                    // lease: an idle one would hold it and send no trial
                    // while the others wait.
                    let has_calls = refused || lock(&self.probing).contains(&name);
                    if !has_calls {
                        let holder: Option<String> = self
                            .bounded(
                                redis::cmd("GET")
                                    .arg(self.keys.probe(&name))
                                    .query_async(conn),
                            )
                            .await?;
                        if holder.is_some_and(|holder| holder != self.instance) {
                            breaker.hold_open();
                        }
                        continue;
                    }
                    let lease = breaker
                        .reset_after()
                        .saturating_add(self.announce_every.saturating_mul(3));
                    let lease = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
                    let taken: Option<String> = self
                        .bounded(
                            redis::cmd("SET")
                                .arg(self.keys.probe(&name))
                                .arg(&self.instance)
                                .arg("NX")
                                .arg("PX")
                                .arg(lease)
                                .arg("GET")
                                .query_async(conn),
                        )
                        .await?;
                    match taken {
                        // Ours now, or already: this instance probes.
                        None => {
                            lock(&self.probing).insert(name);
                        }
                        Some(holder) if holder == self.instance => {
                            // Still ours: renewed, so a failed probe's
                            // lease does not lapse before the next trial.
                            self.bounded(
                                redis::cmd("PEXPIRE")
                                    .arg(self.keys.probe(&name))
                                    .arg(lease)
                                    .query_async::<()>(conn),
                            )
                            .await?;
                            lock(&self.probing).insert(name);
                        }
                        Some(_) => breaker.hold_open(),
                    }
                }
                crate::CircuitState::HalfOpen => {}
            }
        }
        Ok(())
    }

    /// Gives back the probe lease of `name`, if it is still this
    /// instance's.
    async fn give_back(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        name: &str,
    ) -> Result<(), FleetError> {
        self.bounded(
            redis::cmd("EVAL")
                .arg(DELETE_IF_OURS)
                .arg(1)
                .arg(self.keys.probe(name))
                .arg(&self.instance)
                .query_async::<()>(conn),
        )
        .await
    }

    /// Takes this instance out of Redis: its announcement, its reports
    /// and its probe leases. On leaving the fleet.
    async fn withdraw(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> Result<(), FleetError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL")
            .arg(&self.keys.instances)
            .arg(&self.instance)
            .ignore();
        for name in std::mem::take(&mut *lock(&self.reported)) {
            pipe.cmd("HDEL")
                .arg(self.keys.open(&name))
                .arg(&self.instance)
                .ignore();
        }
        for name in std::mem::take(&mut *lock(&self.probing)) {
            pipe.cmd("EVAL")
                .arg(DELETE_IF_OURS)
                .arg(1)
                .arg(self.keys.probe(&name))
                .arg(&self.instance)
                .ignore();
        }
        self.bounded(pipe.query_async::<()>(conn)).await
    }

    /// The fleet's probe of `name` went through: an open breaker here
    /// closes too, and this instance's report (one a tick may have
    /// written after the prober cleared them) is withdrawn.
    async fn probe_closed(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        name: &str,
    ) -> Result<(), FleetError> {
        lock(&self.closed_at).insert(name.to_owned(), std::time::Instant::now());
        if let Some(member) = self.named(name)
            && member.breaker.awaits_trial()
            && !self.overridden(&member)
        {
            member.breaker.reset();
            lock(&self.opened_by_fleet).remove(name);
        }
        if lock(&self.reported).remove(name) {
            self.bounded(
                redis::cmd("HDEL")
                    .arg(self.keys.open(name))
                    .arg(&self.instance)
                    .query_async::<()>(conn),
            )
            .await?;
        }
        Ok(())
    }

    fn event(&self, text: &str) {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "resilient::fleet", instance = %self.instance, "{text}");
        #[cfg(not(feature = "tracing"))]
        let _ = (self, text);
    }
}

/// The background task: sessions, made again with backoff after each
/// loss (this crate's retry state machine, started afresh once a session
/// has connected), until the fleet is dropped.
async fn run(shared: Arc<Shared>) {
    const RECONNECT: RetryPolicy = RetryPolicy::builder()
        .attempts(u32::MAX)
        .backoff(Backoff::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_secs(5),
        ))
        .jitter(Jitter::Full)
        .name("resilient fleet")
        .build();
    let mut state = RetryState::new();
    // Whether the event for this loss (or for Redis unreachable from the
    // start) was given: one per loss, not one per attempt.
    let mut told = false;
    loop {
        let Err(error) = session(&shared).await else {
            return;
        };
        if shared.connected.swap(false, Ordering::AcqRel) {
            shared.event(&format!(
                "lost redis ({error}): breakers decide alone until it is back"
            ));
            // A connection that worked: the next one starts from the
            // shortest backoff.
            state = RetryState::new();
            told = true;
        } else if !told {
            shared.event(&format!(
                "cannot reach redis ({error}): breakers decide alone until it answers"
            ));
            told = true;
        }
        let now = tokio::time::Instant::now();
        let delay = match state.on_failure(&RECONNECT, Failure::transient(), now) {
            Decision::Retry(attempt) => attempt.delay(),
            Decision::Stop(_) => RECONNECT.backoff().max(),
        };
        tokio::select! {
            () = crate::__private::pause(now, delay) => {}
            () = shared.stop.notified() => return,
        }
    }
}

/// One connection's life: subscribe, read the overrides, then follow the
/// channel and announce the instance until something fails.
async fn session(shared: &Shared) -> Result<(), FleetError> {
    let mut conn = shared.connection().await?;
    let pubsub = shared.bounded(shared.client.get_async_pubsub()).await?;
    let (mut sink, mut messages) = pubsub.split();
    shared.bounded(sink.subscribe(&shared.keys.channel)).await?;
    shared.read_clock(&mut conn).await?;
    // Subscribed first, then read: nothing published in between is lost.
    let stored = read_overrides(shared, &mut conn).await?;
    shared.resync(&stored, true);
    announce(shared, &mut conn).await?;
    if !shared.connected.swap(true, Ordering::AcqRel) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "resilient::fleet", instance = %shared.instance, "connected to redis");
    }
    let mut ticks = tokio::time::interval(shared.announce_every);
    // A tick slowed by a slow Redis is followed by one a period later, not
    // by a burst of the missed ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(FleetError(FleetErrorKind::Closed));
                };
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                match payload.split_once('\t') {
                    Some(("open", name)) => {
                        if let Some(member) = shared.named(name) {
                            shared
                                .weigh(&mut conn, std::slice::from_ref(&member), Some(name))
                                .await?;
                        }
                    }
                    Some(("closed", name)) => shared.probe_closed(&mut conn, name).await?,
                    Some((op, name)) => {
                        if let Some(op) = Override::parse(op) {
                            shared.hear(name, op);
                        }
                    }
                    None => {}
                }
            }
            _ = ticks.tick() => {
                // The subscription still answers: one lost without a sign
                // (a proxy's idle timeout) is made again.
                shared.bounded(sink.ping::<redis::Value>()).await?;
                shared.read_clock(&mut conn).await?;
                // An override missed on the channel, or written straight
                // into Redis, is read here.
                let stored = read_overrides(shared, &mut conn).await?;
                shared.resync(&stored, false);
                announce(shared, &mut conn).await?;
                let members = shared.all();
                shared.prune(&members.iter().map(|m| m.name.as_str()).collect());
                // A probe that went through first: its news voids the
                // reports the quorum would otherwise reopen it on.
                shared.coordinate_probes(&mut conn, &members).await?;
                shared.report(&mut conn, &members).await?;
                shared.weigh(&mut conn, &members, None).await?;
            }
            () = shared.stop.notified() => {
                // Leaving: this instance's entries go with it, if Redis
                // answers in time; otherwise they expire.
                let _ = shared.withdraw(&mut conn).await;
                return Ok(());
            }
        }
    }
}

/// The overrides stored in Redis: breaker name → override.
async fn read_overrides(
    shared: &Shared,
    conn: &mut redis::aio::MultiplexedConnection,
) -> Result<BTreeMap<String, String>, FleetError> {
    shared
        .bounded(
            redis::cmd("HGETALL")
                .arg(&shared.keys.overrides)
                .query_async(conn),
        )
        .await
}

/// Announces this instance, until three announcement periods from now.
async fn announce(
    shared: &Shared,
    conn: &mut redis::aio::MultiplexedConnection,
) -> Result<(), FleetError> {
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(&shared.keys.instances)
        .arg(&shared.instance)
        .arg(shared.expiry())
        .ignore();
    // The hash goes with the last instance, even one that never left.
    extend(&mut pipe, &shared.keys.instances, shared.ttl_ms());
    shared.bounded(pipe.query_async::<()>(conn)).await
}

/// Makes the shared key `key` live at least `ttl_ms` from now, never
/// shortening a longer life another instance gave it (an instance that
/// announces more often must not cut short one that announces less).
fn extend(pipe: &mut redis::Pipeline, key: &str, ttl_ms: u64) {
    pipe.cmd("PEXPIRE").arg(key).arg(ttl_ms).arg("NX").ignore();
    pipe.cmd("PEXPIRE").arg(key).arg(ttl_ms).arg("GT").ignore();
}

/// Deletes the key `KEYS[1]` if it holds `ARGV[1]`: a lease given back
/// only by its holder.
const DELETE_IF_OURS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// The key of the keyed breaker `keyed` that the breaker name `name`
/// (`keyed[key]`) is, if it is one.
fn key_of<'n>(keyed: &str, name: &'n str) -> Option<&'n str> {
    name.strip_prefix(keyed)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

/// What the overrides `known` hold the keys of the keyed breaker `keyed`
/// with: each key's own, and the one of every key.
fn holds(keyed: &str, known: &BTreeMap<String, Override>) -> Holds {
    Holds {
        every: known.get(keyed).copied().and_then(Override::hold),
        keys: known
            .iter()
            .filter_map(|(name, op)| Some((key_of(keyed, name)?.to_owned(), op.hold()?)))
            .collect(),
    }
}

/// Milliseconds since the Unix epoch by this machine's clock.
fn local_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A name no other instance is likely to have: the process, the time and
/// a random number.
fn random_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{:08x}",
        std::process::id(),
        nanos,
        crate::rng::uniform(0, u64::from(u32::MAX))
    )
}
