//! The one integration-test binary of cron-expr (ripgrep's layout: one binary, a module per
//! area).
//!
//! - `oracle`: a slow, obviously-correct model written from the API notes, and its own checks.
//! - `cases`: the hand-computed table, expression + start time -> next fire times.
//! - `properties`: proptest properties against the oracle.
//! - `errors`: error messages, fields and columns; inputs that must not panic.
//! - `randomized`: a fixed-seed randomized comparison with the oracle.

mod cases;
mod errors;
mod oracle;
mod properties;
mod randomized;
