//! Integration tests of the alert sinks against a webhook on 127.0.0.1, one module per area.

mod support;

mod config;
mod delivery;
mod fan_out;
mod job_webhooks;
mod queue;
