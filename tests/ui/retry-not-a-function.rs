use resilient::retry;

#[retry(attempts = 3)]
struct Client {
    url: String,
}

// A layer that needs an `async fn` says so.
#[resilient::timeout("2s")]
struct Server {
    port: u16,
}

fn main() {
    let _ = Client { url: String::new() }.url;
    let _ = Server { port: 0 }.port;
}
