// A fallback below a hedge would turn the first failed copy into the
// winner: the order is an error.
use resilient::{fallback, hedge};

#[hedge(after = "50ms")]
#[fallback(value = 0)]
async fn lookup(id: u64) -> Result<u64, ()> {
    Ok(id)
}

fn main() {
    let _ = lookup(1);
}
