//! NATS targets: core NATS publish at most once, JetStream publish with acknowledgement at
//! least once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, HeaderMap, ServerAddr};
use scheduler_core::{AttemptError, BrokerServer, DeliveryType, NatsTarget};
use tokio::sync::OnceCell;

use super::{BrokerConnectionState, BrokerConnectionStatus, Publish, allowed_addresses, lock};

/// One client per server (host, port, credentials).
#[derive(Debug, Default)]
pub(crate) struct NatsConnections {
    servers: Mutex<HashMap<BrokerServer, Arc<NatsServer>>>,
}

#[derive(Debug)]
struct NatsServer {
    server: BrokerServer,
    client: OnceCell<Client>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl NatsConnections {
    pub(crate) fn statuses(&self) -> Vec<BrokerConnectionStatus> {
        let servers: Vec<Arc<NatsServer>> = lock(&self.servers).values().cloned().collect();
        let mut statuses: Vec<BrokerConnectionStatus> = servers
            .iter()
            .map(|server| {
                let state = match server.client.get().map(Client::connection_state) {
                    Some(State::Connected) => BrokerConnectionState::Connected,
                    Some(State::Disconnected) => BrokerConnectionState::Disconnected,
                    Some(State::Pending) | None => BrokerConnectionState::Connecting,
                };
                BrokerConnectionStatus {
                    kind: "nats",
                    server: server.server.to_string(),
                    state,
                    last_error: (state != BrokerConnectionState::Connected)
                        .then(|| lock(&server.last_error).clone())
                        .flatten(),
                }
            })
            .collect();
        statuses.sort_by(|a, b| a.server.cmp(&b.server));
        statuses
    }

    pub(crate) async fn publish(
        &self,
        target: &NatsTarget,
        publish: Publish<'_>,
    ) -> Result<(), AttemptError> {
        let server = Arc::clone(
            lock(&self.servers)
                .entry(target.server.clone())
                .or_insert_with(|| {
                    Arc::new(NatsServer {
                        server: target.server.clone(),
                        client: OnceCell::new(),
                        last_error: Arc::new(Mutex::new(None)),
                    })
                }),
        );
        let client = server
            .client
            .get_or_try_init(|| server.connect(publish.policy, publish.timeout))
            .await
            .inspect_err(|error| *lock(&server.last_error) = Some(error.to_string()))?;
        if client.connection_state() != State::Connected {
            let reason = lock(&server.last_error)
                .clone()
                .unwrap_or_else(|| "disconnected".to_owned());
            return Err(AttemptError::Connect(format!(
                "nats: not connected to {} ({reason}); the client reconnects by itself",
                server.server
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &publish.message.headers {
            headers.append(name.as_str(), value.as_str());
        }
        let subject = target.subject.clone();
        match publish.delivery {
            DeliveryType::AtMostOnce => client
                .publish_with_headers(subject, headers, publish.message.body)
                .await
                .map_err(|e| AttemptError::Protocol(format!("nats: publish: {e}"))),
            DeliveryType::AtLeastOnce => {
                let mut jetstream = async_nats::jetstream::new(client.clone());
                jetstream.set_timeout(publish.timeout);
                let acknowledgement = jetstream
                    .publish_with_headers(subject, headers, publish.message.body)
                    .await
                    .map_err(|e| AttemptError::Protocol(format!("nats: jetstream publish: {e}")))?;
                acknowledgement.await.map(|_ack| ()).map_err(|e| {
                    AttemptError::Protocol(format!(
                        "nats: no JetStream acknowledgement for subject {}: {e}",
                        target.subject
                    ))
                })
            }
        }
    }
}

impl NatsServer {
    /// Resolves and checks the server's addresses, then connects to those allowed. The
    /// client keeps to them: servers a cluster announces are not used, so no connection
    /// bypasses the target policy.
    async fn connect(
        &self,
        policy: &crate::policy::TargetPolicy,
        timeout: Duration,
    ) -> Result<Client, AttemptError> {
        let addresses = allowed_addresses(policy, &self.server.host, self.server.port).await?;
        let servers = addresses
            .iter()
            .map(|address| format!("nats://{address}").parse::<ServerAddr>())
            .collect::<Result<Vec<ServerAddr>, _>>()
            .map_err(|e| AttemptError::InvalidRequest(format!("nats: server address: {e}")))?;
        let last_error = Arc::clone(&self.last_error);
        let mut options = ConnectOptions::new()
            .name("scheduler")
            .connection_timeout(timeout)
            .ignore_discovered_servers()
            .retain_servers_order()
            .max_reconnects(None)
            .event_callback(move |event| {
                let last_error = Arc::clone(&last_error);
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            log::info!("nats: connected");
                            *lock(&last_error) = None;
                        }
                        event => {
                            log::warn!("nats: {event}");
                            *lock(&last_error) = Some(event.to_string());
                        }
                    }
                }
            });
        options = match (&self.server.user, &self.server.password) {
            (Some(user), Some(password)) => {
                options.user_and_password(user.clone(), password.expose().to_owned())
            }
            // `nats://token@host`: a user without a password is a token.
            (Some(token), None) => options.token(token.clone()),
            (None, _) => options,
        };
        let client = options
            .connect(servers)
            .await
            .map_err(|e| AttemptError::Connect(format!("nats: connect to {}: {e}", self.server)))?;
        log::info!("nats: connected to {}", self.server);
        Ok(client)
    }
}
