//! Integration tests of the HTTP transport against servers on 127.0.0.1, one module per area.

mod support;

mod attempts;
mod body;
mod failures;
mod outbound;
mod requests;
mod status;
mod tls;
mod versions;
