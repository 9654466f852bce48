//! The integration tests of the REST API: one binary, a module per area. Every test drives the
//! real routes (`http_api::configure`) with actix's test utilities against a real engine on
//! scheduler-core's memory store, manual clock and fake transport.

mod support;

mod auth;
mod batch;
mod cross_site;
mod dashboard;
mod executions;
mod hardening;
mod jobs;
mod observability;
mod one_off;
mod openapi;
mod openapi_rules;
mod queues;
mod secrets;
mod server;
mod validation;
