// Each copy of a hedged body starts from its own copy of a `mut`
// argument: one that is not `Copy` is an error at the argument.
use resilient::hedge;

#[hedge(after = "50ms")]
async fn append(mut lines: Vec<String>) -> Result<usize, ()> {
    lines.push(String::new());
    Ok(lines.len())
}

fn main() {
    let _ = append(Vec::new());
}
