use resilient::retry;

struct Client {
    delay_ms: u64,
}

fn is_transient(_: &u32) -> bool {
    true
}

impl Client {
    // A setting of the wrong type, and a hook of the wrong signature:
    // each error points at the user's expression.
    #[retry(backoff = fixed(self.delay_ms), when = is_transient)]
    async fn fetch(&self) -> Result<u32, String> {
        Ok(1)
    }
}

fn main() {
    let _ = Client { delay_ms: 5 }.fetch();
}
