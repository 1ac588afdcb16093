use resilient::retry;

trait Fetch {
    #[retry(attempts = 3)]
    async fn fetch(&self) -> Result<u32, String>;
}

fn main() {}
