// The copies of a hedged body run at once: none can have a `&mut` of the
// caller's to itself. Each is an error at the argument.
use resilient::hedge;

struct Cache {
    hits: u32,
}

impl Cache {
    #[hedge(after = "50ms")]
    async fn refresh(&mut self) -> Result<u32, ()> {
        self.hits += 1;
        Ok(self.hits)
    }

    #[hedge(after = "50ms")]
    async fn pinned(self: std::pin::Pin<&mut Self>) -> Result<u32, ()> {
        Ok(self.hits)
    }

    #[hedge(after = "50ms")]
    async fn consume(mut self) -> Result<u32, ()> {
        self.hits += 1;
        Ok(self.hits)
    }
}

#[hedge(after = "50ms")]
async fn fill(buf: &mut Vec<u8>, (ref mut count, _): (u32, u32)) -> Result<usize, ()> {
    buf.push(1);
    *count += 1;
    Ok(buf.len())
}

#[hedge(after = "50ms")]
async fn maybe_fill(buf: Option<&mut Vec<u8>>) -> Result<usize, ()> {
    Ok(buf.map_or(0, |buf| buf.len()))
}

#[hedge(after = "50ms")]
async fn pair((count, _): (&mut u32, u32)) -> Result<u32, ()> {
    Ok(*count)
}

fn main() {}
