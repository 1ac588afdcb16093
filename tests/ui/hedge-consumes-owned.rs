// A hedged body runs several times at once: it cannot give away an
// argument it owns. Borrow it, or clone it where it is consumed.
use resilient::hedge;

fn consume(_: String) {}

#[hedge(after = "50ms")]
async fn send(payload: String) -> Result<(), String> {
    consume(payload);
    Ok(())
}

fn main() {
    let _ = send(String::new());
}
