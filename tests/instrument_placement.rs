//! `#[tracing::instrument]` is a foreign attribute that wraps the body, so
//! it follows Rust's order, not the stacking rule: written *below* the
//! resilient attributes (last, just above `async fn`) it makes one span
//! around the whole call, with the retry's events inside it; written above
//! them it wraps the body the retry re-runs, one span per attempt, and the
//! retry's events fall outside.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use resilient::retry;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Debug)]
struct Down;

/// Records each span opened (by name) and, for each event, the spans it
/// happened in.
#[derive(Clone, Default)]
struct Spans {
    next: Arc<AtomicU64>,
    opened: Arc<Mutex<Vec<&'static str>>>,
    entered: Arc<Mutex<Vec<u64>>>,
    /// `(target, spans entered when it happened)`.
    events: Arc<Mutex<Vec<(String, usize)>>>,
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.opened.lock().unwrap().push(span.metadata().name());
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let depth = self.entered.lock().unwrap().len();
        self.events
            .lock()
            .unwrap()
            .push((event.metadata().target().to_owned(), depth));
    }
    fn enter(&self, span: &Id) {
        self.entered.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut entered = self.entered.lock().unwrap();
        if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
            entered.remove(at);
        }
    }
}

impl Spans {
    fn opened(&self) -> Vec<&'static str> {
        self.opened.lock().unwrap().clone()
    }

    /// How many retry events happened inside a span.
    fn retry_events_in_a_span(&self) -> (usize, usize) {
        let events = self.events.lock().unwrap();
        let retries: Vec<_> = events
            .iter()
            .filter(|(target, _)| target == "resilient::retry")
            .collect();
        let inside = retries.iter().filter(|(_, depth)| *depth > 0).count();
        (inside, retries.len())
    }
}

/// One span for the whole call: `instrument` last.
#[retry(attempts = 3, backoff = none)]
#[tracing::instrument(name = "whole_call", skip_all)]
async fn one_span() -> Result<(), Down> {
    tracing::info!("attempt");
    Err(Down)
}

/// `instrument` above the resilient attributes: inside the retry.
#[tracing::instrument(name = "per_attempt", skip_all)]
#[retry(attempts = 3, backoff = none)]
async fn span_per_attempt() -> Result<(), Down> {
    tracing::info!("attempt");
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn instrument_last_is_one_span_around_the_whole_call() {
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(spans.clone());
    assert!(one_span().await.is_err());
    assert_eq!(spans.opened(), ["whole_call"]);
    assert_eq!(
        spans.retry_events_in_a_span(),
        (3, 3),
        "two retries and the stop, all in the span"
    );
}

#[tokio::test(start_paused = true)]
async fn instrument_on_top_is_one_span_per_attempt() {
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(spans.clone());
    assert!(span_per_attempt().await.is_err());
    assert_eq!(spans.opened(), ["per_attempt"; 3]);
    assert_eq!(spans.retry_events_in_a_span(), (0, 3));
}
