use resilient::retry;

#[retry(attempts = 3)]
async fn returns_a_number() -> u32 {
    1
}

#[retry(attempts = 3)]
async fn returns_nothing() {}

fn main() {
    let _ = (returns_a_number(), returns_nothing());
}
