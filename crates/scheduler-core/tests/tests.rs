//! The crate's integration tests: one binary, one module per area. Every engine test runs on
//! the manual clock, the fake transport and the in-memory store.

mod faulty_store;
mod support;

mod backlog;
mod conformance;
mod delivery;
mod downtime;
mod hot_changes;
mod isolation;
mod jitter;
mod job_alerts;
mod membership;
mod misfire_overlap;
mod nodes;
mod one_off;
mod outage;
mod plan_claim;
mod redelivery;
mod retention;
mod schedule;
mod shutdown;
mod writer_health;
