//! The SQLite store's tests: the core conformance suite, plus what only a real file has
//! (migrations, reopening, crashes, bad paths).

mod claims;
mod conformance;
mod durability;
mod history;
mod migration;
mod open_errors;
mod retention;
mod support;
