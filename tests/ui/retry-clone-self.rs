use resilient::retry;

struct Client;

impl Client {
    #[retry(clone(self))]
    async fn fetch(&self) -> Result<u32, String> {
        Ok(1)
    }
}

fn main() {
    let _ = Client.fetch();
}
