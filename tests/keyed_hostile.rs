//! A hostile caller sends a million distinct keys (a host per request, a
//! tenant id it makes up): the keyed breaker keeps at most `max_keys`, and
//! the memory it holds stops growing. Measured with a global allocator
//! that counts live bytes.
#![allow(unsafe_code)] // a counting global allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use resilient::{CircuitState, KeyedBreaker};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size().cast_signed(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size().cast_signed(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[tokio::test(start_paused = true)]
async fn a_million_distinct_keys_keep_memory_bounded() {
    const MAX_KEYS: u32 = 256;
    // The counter counts (in this test, the binary's only one): otherwise
    // the bounds below would hold with any allocator.
    let before = LIVE.load(Ordering::Relaxed);
    let held = vec![0u8; 4096];
    assert!(LIVE.load(Ordering::Relaxed) - before >= 4096);
    drop(held);

    let keyed = KeyedBreaker::builder()
        .name("hostile")
        .failures(1)
        .max_keys(MAX_KEYS)
        .build();
    // A few keys the service really uses, one of them down.
    keyed.breaker("db").unwrap().acquire().unwrap().failure();

    let before = LIVE.load(Ordering::Relaxed);
    let mut high = 0;
    let mut at_100k = 0;
    for i in 0..1_000_000_u64 {
        let breaker = keyed.breaker(&i).unwrap();
        breaker.acquire().unwrap().success();
        if i % 1000 == 0 {
            assert!(keyed.len() <= MAX_KEYS as usize, "{} keys", keyed.len());
            high = high.max(LIVE.load(Ordering::Relaxed) - before);
        }
        if i == 100_000 {
            at_100k = high;
        }
        if i % 50_000 == 0 {
            // Time passes, as it would over a million requests.
            tokio::time::advance(Duration::from_millis(10)).await;
        }
    }
    assert!(keyed.len() <= MAX_KEYS as usize);
    eprintln!("live bytes: {at_100k} after 100 000 keys, {high} at most");
    // The high-water mark after 100 000 keys is the one after a million
    // (within what the map's deferred reclamation holds at a time).
    assert!(
        high <= at_100k + at_100k / 4,
        "live bytes grew from {at_100k} to {high}"
    );
    // Per key kept, a bounded size: name, breaker, map entry, and what
    // the map holds back before freeing.
    assert!(
        high / isize::try_from(MAX_KEYS).unwrap() < 1024,
        "{high} bytes for {MAX_KEYS} keys"
    );
    // The open key, still before its reset, was never evicted.
    assert_eq!(keyed.get("db").unwrap().state(), CircuitState::Open);
}
