//! Integration tests of the transports against servers on 127.0.0.1 (HTTP servers of the
//! tests' own, the NATS and RabbitMQ brokers of the machine), one module per area.

mod support;

mod attempts;
mod body;
mod failures;
mod outbound;
#[cfg(all(feature = "nats", feature = "amqp"))]
mod queue;
mod requests;
mod security_doc;
mod status;
mod tls;
mod versions;
