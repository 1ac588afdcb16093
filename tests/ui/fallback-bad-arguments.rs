//! `#[fallback]` argument mistakes besides the choice of form.
use resilient::fallback;

fn transient(_: &String) -> bool {
    true
}

#[fallback(default = 0)]
async fn default_with_a_value() -> Result<u32, String> {
    Ok(1)
}

#[fallback(default, when = transient, when = transient)]
async fn when_twice() -> Result<u32, String> {
    Ok(1)
}

#[fallback(a::b = 1)]
async fn path_as_name() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
