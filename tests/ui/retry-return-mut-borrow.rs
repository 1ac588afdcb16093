use resilient::retry;

struct Pool {
    conn: String,
}

impl Pool {
    // A known limit: a `&mut` borrowed from an argument cannot be returned
    // from a retried body (rustc cannot return a unique borrow out of a
    // loop). Return an owned value, or retry the call that produces it.
    #[retry(attempts = 3)]
    async fn conn(&mut self) -> Result<&mut String, String> {
        Ok(&mut self.conn)
    }
}

fn main() {
    let mut pool = Pool { conn: String::new() };
    let _ = pool.conn();
}
