//! Arguments a retry cannot start afresh each attempt, and the ways out.
use resilient::retry;

struct Worker {
    done: u32,
}

impl Worker {
    // `mut self` cannot be copied per attempt: `&mut self`, or `keep(self)`.
    #[retry(attempts = 3)]
    async fn run(mut self) -> Result<u32, String> {
        self.done += 1;
        Err(self.done.to_string())
    }
}

// A `ref mut` binding points into the argument: `mut n`, or `keep(n)`.
#[retry(attempts = 3)]
async fn by_ref_mut(ref mut n: u32) -> Result<u32, String> {
    *n += 1;
    Err(n.to_string())
}

// A handle that is neither `Copy` nor `Clone`: `keep(rx)` carries it on.
#[retry(attempts = 3)]
async fn receives(mut rx: std::sync::mpsc::Receiver<u32>) -> Result<u32, String> {
    rx.try_recv().map_err(|e| e.to_string())
}

// The outer retry clones `v`; the inner one re-runs the body too, and
// needs its own `clone(v)`.
#[retry(attempts = 2, clone(v))]
#[retry(attempts = 3)]
async fn nested(mut v: Vec<u32>) -> Result<usize, String> {
    v.push(1);
    Err(v.len().to_string())
}

// One or the other, and only arguments.
#[retry(attempts = 2, clone(v), keep(v, w))]
async fn both(mut v: Vec<u32>) -> Result<usize, String> {
    v.push(1);
    Err(v.len().to_string())
}

// `keep(self)` is for `self` by value.
impl Worker {
    #[retry(attempts = 2, keep(self))]
    async fn borrowed(&self) -> Result<u32, String> {
        Err(self.done.to_string())
    }
}

fn main() {
    let _ = Worker { done: 0 }.run();
    let _ = by_ref_mut(1);
    let _ = receives(std::sync::mpsc::channel().1);
    let _ = nested(Vec::new());
    let _ = both(Vec::new());
    let _ = Worker { done: 0 }.borrowed();
}
