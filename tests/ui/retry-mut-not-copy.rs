use resilient::retry;

// Each attempt starts from the caller's value of a `mut` argument: a copy,
// so a type that is not `Copy` needs `clone(text)`.
#[retry(attempts = 3)]
async fn send(mut text: String, id: u32) -> Result<(), String> {
    text.push_str("!");
    Err(format!("{text} {id}"))
}

fn main() {
    let _ = send(String::new(), 1);
}
