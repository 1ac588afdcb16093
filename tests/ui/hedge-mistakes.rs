// Every argument mistake of `#[hedge]` is an error at its token.
use resilient::hedge;

#[hedge(max = 3)]
async fn no_delay() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(after = "50ms", max = 1)]
async fn one_copy_is_no_hedge() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(after = "5", max = 11)]
async fn no_unit_and_too_many() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(afer = "50ms", maxx = 2)]
async fn typos() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(after = "50ms", after = "60ms", budget = 3, name = SEARCH)]
async fn duplicate_and_literals() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(after = "50ms", max = copies())]
async fn max_known_at_run_time() -> Result<u32, ()> {
    Ok(1)
}

#[hedge(after = "50ms", max = 99999999999)]
async fn max_past_u32() -> Result<u32, ()> {
    Ok(1)
}

const SEARCH: &str = "search";

fn copies() -> u32 {
    2
}

fn main() {}
