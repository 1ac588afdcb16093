//! Feature `redis`: a fleet of instances (several `Fleet`s in this one
//! process, each with breakers of its own) sharing operator overrides
//! through a real `redis-server` (Debian's package) that each test starts
//! on a free loopback port, stops, restarts and pauses. Real time.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use resilient::fleet::{Fleet, FleetBuilder};
use resilient::{CircuitBreaker, CircuitState, KeyedBreaker};

/// An instance: a fleet and its own breaker named `name` (one failure
/// opens it).
fn instance(server: &RedisServer, name: &'static str) -> (Fleet, Arc<CircuitBreaker>) {
    join(fleet_on(server, Duration::from_millis(100)), name, None)
}

/// A fleet on `server` announcing every `every`, its Redis commands cut
/// off after 300 ms.
fn fleet_on(server: &RedisServer, every: Duration) -> FleetBuilder {
    Fleet::builder(server.url())
        .announce_every(every)
        .command_timeout(Duration::from_millis(300))
}

/// `fleet` started, with a breaker of its own named `name` (one failure
/// opens it; its `reset` the default unless given).
fn join(
    fleet: FleetBuilder,
    name: &'static str,
    reset: Option<Duration>,
) -> (Fleet, Arc<CircuitBreaker>) {
    let fleet = fleet.start().unwrap();
    let mut breaker = CircuitBreaker::builder().name(name).failures(1);
    if let Some(reset) = reset {
        breaker = breaker.reset(reset);
    }
    let breaker = Arc::new(breaker.build());
    fleet.add(&breaker);
    (fleet, breaker)
}

/// Waits up to `limit` for `condition`, checking every 5 ms.
async fn eventually(limit: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_an_override_reaches_every_instance() {
    let server = RedisServer::start();
    let (a, a_breaker) = instance(&server, "payments");
    let (b, b_breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "both connected", || {
        a.is_connected() && b.is_connected()
    })
    .await;

    a.force_open("payments").await.unwrap();
    assert!(a_breaker.acquire().is_err(), "at once here");
    eventually(Duration::from_secs(2), "forced open on b", || {
        b_breaker.acquire().is_err()
    })
    .await;
    assert!(b_breaker.acquire().unwrap_err().is_forced());

    a.reset("payments").await.unwrap();
    eventually(Duration::from_secs(2), "reset on b", || {
        b_breaker.acquire().is_ok()
    })
    .await;
    assert_eq!(b.live_instances().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_late_instance_reads_the_overrides() {
    let server = RedisServer::start();
    let (a, _) = instance(&server, "search");
    eventually(Duration::from_secs(5), "a connected", || a.is_connected()).await;
    a.disable("search").await.unwrap();

    let (late, late_breaker) = instance(&server, "search");
    eventually(Duration::from_secs(5), "late connected", || {
        late.is_connected()
    })
    .await;
    // Disabled: a failure does not open it (it would, with one failure).
    late_breaker.acquire().unwrap().failure();
    assert!(
        late_breaker.acquire().is_ok(),
        "disabled by the stored override"
    );
}

/// Redis killed: the breakers go on alone, the task notices; Redis back
/// (empty, as after a restart without persistence): every instance
/// reconnects and resynchronises, so an override that is no longer stored
/// is lifted, and new overrides flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_redis_killed_and_restarted() {
    let mut server = RedisServer::start();
    let (a, a_breaker) = instance(&server, "payments");
    let (b, b_breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "both connected", || {
        a.is_connected() && b.is_connected()
    })
    .await;
    b.force_open("payments").await.unwrap();
    eventually(Duration::from_secs(2), "forced open on a", || {
        a_breaker.acquire().is_err()
    })
    .await;

    server.stop();
    eventually(Duration::from_secs(5), "a sees redis gone", || {
        !a.is_connected()
    })
    .await;
    assert!(a.force_open("reports").await.is_err(), "no redis: an error");
    // The breaker still decides alone.
    assert!(a_breaker.acquire().is_err());

    server.restart();
    eventually(Duration::from_secs(10), "both reconnected", || {
        a.is_connected() && b.is_connected()
    })
    .await;
    eventually(Duration::from_secs(2), "the lost override lifted", || {
        a_breaker.acquire().is_ok() && b_breaker.acquire().is_ok()
    })
    .await;
    a.force_open("payments").await.unwrap();
    eventually(Duration::from_secs(2), "overrides flow again", || {
        b_breaker.acquire().is_err()
    })
    .await;
}

/// Redis paused (`SIGSTOP`, connections open, nothing answers): calls
/// through the breakers go on without waiting, the task gives the
/// connection up after its command timeout, and reconnects once Redis
/// runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_redis_stopped_while_calls_continue() {
    let server = RedisServer::start();
    let (a, a_breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "connected", || a.is_connected()).await;

    server.signal("-STOP");
    // Calls never touch Redis: 100 000 of them finish at once (the guard
    // only catches a hang), on a thread of their own so the guard can
    // fire.
    let (done, finished) = std::sync::mpsc::channel();
    let breaker = Arc::clone(&a_breaker);
    std::thread::spawn(move || {
        for _ in 0..100_000 {
            breaker.acquire().unwrap().success();
        }
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(5))
        .expect("calls do not wait on a stopped redis");
    eventually(
        Duration::from_secs(5),
        "the task gives the connection up",
        || !a.is_connected(),
    )
    .await;

    server.signal("-CONT");
    eventually(Duration::from_secs(10), "reconnected", || a.is_connected()).await;
}

/// An override made while Redis is unreachable fails to reach the fleet
/// (an error says so) but holds here, and reconnecting does not undo it:
/// it was never the fleet's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_an_override_without_redis_holds_here() {
    let mut server = RedisServer::start();
    let (a, a_breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "connected", || a.is_connected()).await;
    server.stop();
    eventually(Duration::from_secs(5), "redis gone", || !a.is_connected()).await;
    assert!(a.force_open("payments").await.is_err());
    assert!(a_breaker.acquire().is_err(), "forced open here");
    server.restart();
    eventually(Duration::from_secs(10), "reconnected", || a.is_connected()).await;
    assert!(a_breaker.acquire().is_err(), "still forced open");
    a.reset("payments").await.unwrap();
    assert!(a_breaker.acquire().is_ok());
}

/// Three instances: one instance's breaker opening on
/// its own failures leaves the other two closed; a second one's opens the
/// third's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_quorum_opens_a_breaker_everywhere() {
    let server = RedisServer::start();
    // A quorum of 0.6: two of three reach it, one of three (or one of two,
    // should an announcement lapse on a loaded machine) does not.
    let quorum = |()| {
        join(
            fleet_on(&server, Duration::from_millis(100)).quorum(0.6),
            "db",
            None,
        )
    };
    let (a, a_breaker) = quorum(());
    let (b, b_breaker) = quorum(());
    let (c, c_breaker) = quorum(());
    eventually(Duration::from_secs(5), "all connected", || {
        a.is_connected() && b.is_connected() && c.is_connected()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.live_instances().await.unwrap() < 3 {
        assert!(Instant::now() < deadline, "all three announced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // One sick instance: its breaker opens; the others stay closed over
    // several announcement periods.
    a_breaker.acquire().unwrap().failure();
    assert_eq!(a_breaker.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b_breaker.state(), CircuitState::Closed);
    assert_eq!(c_breaker.state(), CircuitState::Closed);

    // A second: two of three is a quorum, and the third opens.
    b_breaker.acquire().unwrap().failure();
    eventually(Duration::from_secs(2), "c opened by the quorum", || {
        c_breaker.state() == CircuitState::Open
    })
    .await;
    drop((a, b, c));
}

/// A breaker added after the fleet connected gets the override in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_breaker_added_late_gets_the_override_in_force() {
    let server = RedisServer::start();
    let (a, _) = instance(&server, "reports");
    eventually(Duration::from_secs(5), "connected", || a.is_connected()).await;
    a.force_open("reports").await.unwrap();
    let fleet = Fleet::builder(server.url()).start().unwrap();
    eventually(Duration::from_secs(5), "connected", || fleet.is_connected()).await;
    let late = Arc::new(CircuitBreaker::builder().name("reports").build());
    fleet.add(&late);
    assert!(late.acquire().unwrap_err().is_forced());
}

/// Three instances with the breaker open: when its `reset` runs out, one
/// instance probes the recovering service and the others stay open; the
/// probe's success closes every instance's breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_one_probe_for_the_whole_fleet() {
    let server = RedisServer::start();
    let reset = Duration::from_millis(400);
    let instances: Vec<_> = (0..3)
        .map(|_| {
            join(
                fleet_on(&server, Duration::from_millis(50)),
                "ledger",
                Some(reset),
            )
        })
        .collect();
    eventually(Duration::from_secs(5), "all connected", || {
        instances.iter().all(|(fleet, _)| fleet.is_connected())
    })
    .await;
    for (_, breaker) in &instances {
        breaker.acquire().unwrap().failure();
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    // Every instance asks for a trial every 5 ms until one gets it, and
    // one more `reset` after: exactly one gets it (and keeps it,
    // unsettled, so its breaker stays half-open).
    let mut trials = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut first = None;
    while first.map_or(Instant::now() < deadline, |at: Instant| {
        at.elapsed() < reset
    }) {
        for (index, (_, breaker)) in instances.iter().enumerate() {
            if let Ok(permit) = breaker.acquire() {
                trials.push((index, permit));
                first.get_or_insert_with(Instant::now);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(trials.len(), 1, "one probe for the fleet");

    // The probe succeeds: every breaker closes.
    let (_, permit) = trials.pop().unwrap();
    permit.success();
    eventually(Duration::from_secs(2), "every breaker closed", || {
        instances
            .iter()
            .all(|(_, breaker)| breaker.state() == CircuitState::Closed)
    })
    .await;
}

/// A keyed breaker's keys are the fleet's: an override of one key holds
/// that key, an override of the keyed breaker holds every key, a key
/// first seen later included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_overrides_reach_a_keyed_breakers_keys() {
    let server = RedisServer::start();
    let (operator, _) = instance(&server, "unused");
    let fleet = fleet_on(&server, Duration::from_millis(50))
        .start()
        .unwrap();
    let hosts = Arc::new(KeyedBreaker::builder().name("hosts").build());
    let a = hosts.breaker("a.example").unwrap();
    fleet.add_keyed(&hosts);
    eventually(Duration::from_secs(5), "connected", || {
        operator.is_connected() && fleet.is_connected()
    })
    .await;

    operator.force_open("hosts[a.example]").await.unwrap();
    eventually(Duration::from_secs(2), "the key forced open", || {
        a.acquire().is_err()
    })
    .await;
    operator.reset("hosts[a.example]").await.unwrap();
    eventually(Duration::from_secs(2), "the key reset", || {
        a.acquire().is_ok()
    })
    .await;

    operator.force_open("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "every key forced open", || {
        a.acquire().is_err()
    })
    .await;
    let b = hosts.breaker("b.example").unwrap();
    eventually(Duration::from_secs(2), "a new key forced open too", || {
        b.acquire().is_err()
    })
    .await;
    operator.reset("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "every key reset", || {
        a.acquire().is_ok() && b.acquire().is_ok()
    })
    .await;
}

/// A key made right after an override of its keyed breaker is held from
/// its first call, not at the next announcement (a minute away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_new_key_is_held_at_once() {
    let server = RedisServer::start();
    let (operator, _) = instance(&server, "unused");
    let fleet = fleet_on(&server, Duration::from_secs(60)).start().unwrap();
    let hosts = Arc::new(KeyedBreaker::builder().name("hosts").failures(1).build());
    let a = hosts.breaker("a.example").unwrap();
    fleet.add_keyed(&hosts);
    eventually(Duration::from_secs(5), "connected", || {
        operator.is_connected() && fleet.is_connected()
    })
    .await;

    operator.force_open("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "the known key forced open", || {
        a.acquire().is_err()
    })
    .await;
    let b = hosts.breaker("b.example").unwrap();
    assert!(
        b.acquire().unwrap_err().is_forced(),
        "a new key is forced open from its first call"
    );

    operator.disable("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "the known key disabled", || {
        a.acquire().is_ok()
    })
    .await;
    let c = hosts.breaker("c.example").unwrap();
    c.acquire().unwrap().failure();
    assert!(
        c.acquire().is_ok(),
        "a new key is disabled: a failure does not open it"
    );

    operator.reset("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "a disabled key reset", || {
        let probe = hosts.breaker("probe.example").unwrap();
        probe.acquire().unwrap().failure();
        probe.acquire().is_err()
    })
    .await;
    let plain = hosts.breaker("d.example").unwrap();
    plain.acquire().unwrap().failure();
    assert!(
        plain.acquire().is_err(),
        "after the reset, a new key is a plain breaker"
    );

    // An override of one key not made yet: the key is held when it is.
    operator.force_open("hosts[e.example]").await.unwrap();
    operator.force_open("hosts").await.unwrap();
    eventually(
        Duration::from_secs(2),
        "the known key forced open again",
        || a.acquire().is_err(),
    )
    .await;
    operator.disable("hosts[e.example]").await.unwrap();
    operator.reset("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "the known key reset again", || {
        a.acquire().is_ok()
    })
    .await;
    let own = hosts.breaker("e.example").unwrap();
    own.acquire().unwrap().failure();
    assert!(
        own.acquire().is_ok(),
        "a new key takes its own override (disabled)"
    );

    // The fleet gone, a new key is a plain breaker whatever was in force.
    operator.force_open("hosts").await.unwrap();
    eventually(Duration::from_secs(2), "forced open once more", || {
        a.acquire().is_err()
    })
    .await;
    drop(fleet);
    let after = hosts.breaker("f.example").unwrap();
    assert!(
        after.acquire().is_ok(),
        "no fleet holds a key made after it left"
    );
}

/// A stored value that is not a kill switch (`reset`, written straight
/// into Redis) is no override: the breaker is left to its own state, not
/// reset at every announcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_stored_reset_is_no_override() {
    let server = RedisServer::start();
    let (fleet, breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "connected", || fleet.is_connected()).await;
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), CircuitState::Open);
    server.cli(&["HSET", "resilient:overrides", "payments", "reset"]);
    // Ten announcements.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "not reset by the fleet"
    );
}

/// An override of one key comes before one of its keyed breaker, both
/// ways: setting or lifting the keyed breaker's leaves the key's in force,
/// and lifting the key's leaves the keyed breaker's. A plain breaker whose
/// name looks like a key is not one. (Messages arrive in order: once a
/// `marker` override is seen, so are those sent before it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_keys_own_override_comes_first() {
    let server = RedisServer::start();
    let (operator, _) = instance(&server, "unused");
    let (fleet, marker) = join(fleet_on(&server, Duration::from_millis(50)), "marker", None);
    let hosts = Arc::new(KeyedBreaker::builder().name("hosts").failures(1).build());
    let a = hosts.breaker("a.example").unwrap();
    fleet.add_keyed(&hosts);
    let lookalike = Arc::new(CircuitBreaker::builder().name("hosts[z.example]").build());
    fleet.add(&lookalike);
    eventually(Duration::from_secs(5), "connected", || {
        operator.is_connected() && fleet.is_connected()
    })
    .await;
    let settle = async |marker_on: bool| {
        if marker_on {
            operator.force_open("marker").await.unwrap();
        } else {
            operator.reset("marker").await.unwrap();
        }
        eventually(Duration::from_secs(2), "the marker arrived", || {
            marker.acquire().is_err() == marker_on
        })
        .await;
    };

    operator.force_open("hosts[a.example]").await.unwrap();
    operator.disable("hosts").await.unwrap();
    settle(true).await;
    assert!(
        a.acquire().unwrap_err().is_forced(),
        "the key's own override stays"
    );
    assert!(
        lookalike.acquire().is_ok(),
        "a plain breaker named like a key is not one"
    );

    operator.reset("hosts").await.unwrap();
    settle(false).await;
    assert!(
        a.acquire().unwrap_err().is_forced(),
        "lifting the keyed breaker's override leaves the key's"
    );

    operator.disable("hosts").await.unwrap();
    operator.reset("hosts[a.example]").await.unwrap();
    settle(true).await;
    a.acquire().unwrap().failure();
    assert!(
        a.acquire().is_ok(),
        "lifting the key's override leaves the keyed breaker's (disabled)"
    );
}

/// An override missed on the channel (a subscription lost without a
/// sign, or a write made straight into Redis) is read at the next
/// announcement, and so is its removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_missed_override_is_read_at_the_next_announcement() {
    let server = RedisServer::start();
    let (fleet, breaker) = instance(&server, "payments");
    eventually(Duration::from_secs(5), "connected", || fleet.is_connected()).await;

    server.cli(&["HSET", "resilient:overrides", "payments", "force_open"]);
    eventually(Duration::from_secs(2), "forced open", || {
        breaker.acquire().is_err()
    })
    .await;
    server.cli(&["HDEL", "resilient:overrides", "payments"]);
    eventually(Duration::from_secs(2), "lifted", || {
        breaker.acquire().is_ok()
    })
    .await;
}

/// An instance that leaves (`leave`, or dropped) takes its announcement
/// and its reports with it at once, not when they expire (in 3 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_an_instance_that_leaves_takes_its_entries() {
    let server = RedisServer::start();
    let every = Duration::from_secs(1);
    let (a, _) = join(fleet_on(&server, every).instance("a"), "payments", None);
    let (b, b_breaker) = join(fleet_on(&server, every).instance("b"), "payments", None);
    let (c, c_breaker) = join(fleet_on(&server, every).instance("c"), "payments", None);
    b_breaker.acquire().unwrap().failure();
    c_breaker.acquire().unwrap().failure();
    let reporters = || server.cli(&["HKEYS", "resilient:open:payments"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while reporters().lines().count() < 2 || a.live_instances().await.unwrap() < 3 {
        assert!(Instant::now() < deadline, "b and c announced and reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    b.leave().await;
    assert_eq!(reporters(), "c", "b's report is gone at once");
    assert_eq!(a.live_instances().await.unwrap(), 2);

    let dropped = Instant::now();
    drop(c);
    while !reporters().is_empty() || a.live_instances().await.unwrap() != 1 {
        // Its entries would expire 2 s after the drop at the soonest.
        assert!(
            dropped.elapsed() < Duration::from_millis(1800),
            "c's entries gone before they expire"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The probe goes to an instance with calls to probe with: an idle one
/// whose breaker nears its trial first does not take the lease (it would
/// send no trial while the others wait for it), even once its `reset`
/// has run out, and the probe's success closes it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_the_probe_goes_to_an_instance_with_calls() {
    let server = RedisServer::start();
    let reset = Duration::from_millis(400);
    let every = Duration::from_millis(50);
    let (idle_fleet, idle) = join(
        fleet_on(&server, every).instance("idle").quorum(1.0),
        "ledger",
        Some(reset),
    );
    let (busy_fleet, busy) = join(
        fleet_on(&server, every).instance("busy").quorum(1.0),
        "ledger",
        Some(reset),
    );
    eventually(Duration::from_secs(5), "both connected", || {
        idle_fleet.is_connected() && busy_fleet.is_connected()
    })
    .await;
    // The idle instance's breaker opens first, so its trial comes first
    // (a quorum of all: one report does not open the other).
    idle.acquire().unwrap().failure();
    // Past the idle one's `reset` before the busy one takes the lease:
    // its breaker reports half-open, with no call to take the trial.
    tokio::time::sleep(Duration::from_millis(300)).await;
    busy.acquire().unwrap().failure();

    // Only the busy instance calls, every 5 ms, until it gets the trial.
    let mut trial = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && trial.is_none() {
        trial = busy.acquire().ok();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let trial = trial.expect("the busy instance probed");
    assert_eq!(server.cli(&["GET", "resilient:probe:ledger"]), "busy");
    trial.success();
    eventually(
        Duration::from_secs(2),
        "the idle instance closed too",
        || idle.state() == CircuitState::Closed,
    )
    .await;
}

/// An instance that dies without leaving (its runtime gone) leaves
/// entries that expire: the others drop them from the index of reported
/// breakers, which they keep alive with reports of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_a_dead_instances_reports_expire() {
    let server = RedisServer::start();
    let every = Duration::from_millis(100);
    let (survivor, held) = join(
        fleet_on(&server, every).instance("survivor"),
        "always-open",
        Some(Duration::from_secs(60)),
    );
    let shared_name = Arc::new(CircuitBreaker::builder().name("shared").build());
    survivor.add(&shared_name);
    held.acquire().unwrap().failure();

    let url = server.url();
    let server = &server;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let fleet = runtime.block_on(async {
                let fleet = Fleet::builder(url)
                    .instance("dead")
                    .announce_every(every)
                    .command_timeout(Duration::from_millis(300))
                    .start()
                    .unwrap();
                let shared = Arc::new(
                    CircuitBreaker::builder()
                        .name("shared")
                        .failures(1)
                        .reset(Duration::from_secs(60))
                        .build(),
                );
                fleet.add(&shared);
                shared.acquire().unwrap().failure();
                let deadline = Instant::now() + Duration::from_secs(5);
                while !server
                    .cli(&["HKEYS", "resilient:reported"])
                    .contains("shared")
                {
                    assert!(Instant::now() < deadline, "the dead instance reported");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                fleet
            });
            // The task dies with its runtime, without taking its entries out.
            drop(runtime);
            drop(fleet);
        });
    });

    let reported = || server.cli(&["HKEYS", "resilient:reported"]);
    assert!(
        reported().contains("shared"),
        "the dead instance had reported"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while reported() != "always-open" {
        assert!(
            Instant::now() < deadline,
            "the dead instance's report left the index: {}",
            reported()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(survivor.live_instances().await.unwrap(), 1);
}
