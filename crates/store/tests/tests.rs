//! The stores' tests: the core conformance suite, plus what only a real database has
//! (migrations, reopening, crashes, bad paths; for PostgreSQL, several nodes on one database).

mod claims;
mod conformance;
mod durability;
mod files;
mod history;
mod migration;
mod open_errors;
#[cfg(feature = "postgres")]
mod postgres;
mod retention;
mod support;
mod tokens;
