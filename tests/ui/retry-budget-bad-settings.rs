// A budget's settings are checked when the `static` is built: a ratio
// out of range is a compile error there, with the setting named.
use resilient::RetryBudget;

static NEGATIVE: RetryBudget = RetryBudget::builder().ratio(-0.5).build();

fn main() {
    let _ = &NEGATIVE;
}
