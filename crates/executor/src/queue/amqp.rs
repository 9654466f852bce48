//! RabbitMQ (AMQP 0-9-1) targets: a publish on a channel in confirm mode, `mandatory` so that
//! an unroutable message comes back. At least once, the attempt waits for the broker's
//! confirm; a nack, a returned message or a closed channel fail it. At most once, it does not
//! wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use amqprs::callbacks::{ChannelCallback, ConnectionCallback};
use amqprs::channel::{BasicPublishArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{
    Ack, BasicProperties, Cancel, Close, CloseChannel, FieldTable, FieldValue, Nack, Return,
};
use scheduler_core::{
    AmqpTarget, AttemptError, BrokerServer, DeliveryType, HEADER_ATTEMPT, HEADER_EXECUTION_ID,
};
use tokio::sync::oneshot;

use super::{BrokerConnectionState, BrokerConnectionStatus, Publish, allowed_addresses, lock};

/// One connection (and one publishing channel) per server and virtual host.
#[derive(Debug, Default)]
pub(crate) struct AmqpConnections {
    servers: Mutex<HashMap<(BrokerServer, String), Arc<AmqpServer>>>,
}

#[derive(Debug)]
struct AmqpServer {
    server: BrokerServer,
    vhost: String,
    /// Held across a publish, so that delivery tags follow the order of the publishes.
    session: tokio::sync::Mutex<Option<Session>>,
    /// The connection's state, readable without the session's lock.
    status: Arc<Mutex<Status>>,
}

#[derive(Debug, Default)]
struct Status {
    /// `None` before the first connection.
    connected: Option<bool>,
    last_error: Option<String>,
}

impl Status {
    fn up(&mut self) {
        self.connected = Some(true);
        self.last_error = None;
    }

    fn down(&mut self, reason: &str) {
        self.connected = Some(false);
        self.last_error = Some(reason.to_owned());
    }
}

struct Session {
    connection: Connection,
    channel: Channel,
    confirms: Arc<Confirms>,
    next_tag: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("next_tag", &self.next_tag)
            .finish_non_exhaustive()
    }
}

/// What an at-least-once publish waits for.
type ConfirmResult = Result<(), String>;

/// The publishes waiting for their confirms, by delivery tag.
#[derive(Debug, Default)]
struct Confirms {
    pending: Mutex<BTreeMap<u64, Pending>>,
}

#[derive(Debug)]
struct Pending {
    /// The execution id and attempt, to match a returned message.
    execution_id: String,
    attempt: String,
    /// Set when the broker returned the message: it was not routed to any queue.
    returned: Option<String>,
    done: oneshot::Sender<ConfirmResult>,
}

impl Confirms {
    /// Completes the publishes up to `tag` (or `tag` alone): an ack succeeds unless the
    /// message was returned.
    fn confirm(&self, tag: u64, multiple: bool, acked: bool) {
        let done: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            if multiple {
                let rest = pending.split_off(&(tag + 1));
                std::mem::replace(&mut *pending, rest)
                    .into_values()
                    .collect()
            } else {
                pending.remove(&tag).into_iter().collect()
            }
        };
        for pending in done {
            let result = match (acked, pending.returned) {
                (true, None) => Ok(()),
                (true, Some(returned)) => Err(returned),
                (false, _) => Err("amqp: the broker nacked the message".to_owned()),
            };
            // The attempt may have timed out and gone: nothing waits then.
            let _ = pending.done.send(result);
        }
    }

    /// Fails every waiting publish with `reason`.
    fn fail_all(&self, reason: &str) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        for pending in pending.into_values() {
            let _ = pending.done.send(Err(reason.to_owned()));
        }
    }
}

/// The channel's callback: confirms, returns and the broker closing the channel.
struct ChannelEvents {
    confirms: Arc<Confirms>,
}

#[async_trait::async_trait]
impl ChannelCallback for ChannelEvents {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let reason = format!(
            "amqp: the broker closed the channel: {} {}",
            close.reply_code(),
            close.reply_text()
        );
        log::warn!("{reason}");
        self.confirms.fail_all(&reason);
        Ok(())
    }

    async fn cancel(
        &mut self,
        _channel: &Channel,
        _cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }

    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        self.confirms
            .confirm(ack.delivery_tag(), ack.mutiple(), true);
    }

    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        self.confirms
            .confirm(nack.delivery_tag(), nack.multiple(), false);
    }

    async fn publish_return(
        &mut self,
        _channel: &Channel,
        ret: Return,
        properties: BasicProperties,
        _content: Vec<u8>,
    ) {
        let header = |name: &str| {
            properties.headers().and_then(|headers| {
                let key = name.try_into().ok()?;
                match headers.get(&key) {
                    Some(FieldValue::S(value)) => Some(value.to_string()),
                    _ => None,
                }
            })
        };
        let (Some(execution_id), Some(attempt)) =
            (header(HEADER_EXECUTION_ID), header(HEADER_ATTEMPT))
        else {
            return;
        };
        let reason = format!(
            "amqp: the broker returned the message ({} {}): exchange {:?} routed it to no queue with routing key {:?}",
            ret.reply_code(),
            ret.reply_text(),
            ret.exchange(),
            ret.routing_key()
        );
        // The return comes before the confirm of the same message.
        if let Some(pending) = lock(&self.confirms.pending)
            .values_mut()
            .find(|p| p.execution_id == execution_id && p.attempt == attempt)
        {
            pending.returned = Some(reason);
        }
    }
}

/// The connection's callback: the broker closing the connection.
struct ConnectionEvents {
    confirms: Arc<Confirms>,
}

#[async_trait::async_trait]
impl ConnectionCallback for ConnectionEvents {
    async fn close(
        &mut self,
        _connection: &Connection,
        close: Close,
    ) -> Result<(), amqprs::error::Error> {
        let reason = format!("amqp: the broker closed the connection: {close}");
        log::warn!("{reason}");
        self.confirms.fail_all(&reason);
        Ok(())
    }

    async fn blocked(&mut self, _connection: &Connection, reason: String) {
        log::warn!("amqp: the broker blocks publishing: {reason}");
    }

    async fn unblocked(&mut self, _connection: &Connection) {
        log::info!("amqp: the broker unblocked publishing");
    }

    async fn secret_updated(&mut self, _connection: &Connection) {}
}

impl AmqpConnections {
    pub(crate) fn statuses(&self) -> Vec<BrokerConnectionStatus> {
        let servers: Vec<Arc<AmqpServer>> = lock(&self.servers).values().cloned().collect();
        let mut statuses: Vec<BrokerConnectionStatus> = servers
            .iter()
            .map(|server| {
                let status = lock(&server.status);
                let state = match status.connected {
                    Some(true) => BrokerConnectionState::Connected,
                    Some(false) => BrokerConnectionState::Disconnected,
                    None => BrokerConnectionState::Connecting,
                };
                BrokerConnectionStatus {
                    kind: "amqp",
                    server: format!("{}/{}", server.server, percent_vhost(&server.vhost)),
                    state,
                    last_error: (state != BrokerConnectionState::Connected)
                        .then(|| status.last_error.clone())
                        .flatten(),
                }
            })
            .collect();
        statuses.sort_by(|a, b| a.server.cmp(&b.server));
        statuses
    }

    pub(crate) async fn publish(
        &self,
        target: &AmqpTarget,
        publish: Publish<'_>,
    ) -> Result<(), AttemptError> {
        let key = (target.server.clone(), target.vhost.clone());
        let server = Arc::clone(lock(&self.servers).entry(key).or_insert_with(|| {
            Arc::new(AmqpServer {
                server: target.server.clone(),
                vhost: target.vhost.clone(),
                session: tokio::sync::Mutex::new(None),
                status: Arc::default(),
            })
        }));
        let result = server.publish(target, publish).await;
        if let Err(AttemptError::Connect(reason)) = &result {
            lock(&server.status).down(reason);
        }
        result
    }
}

impl AmqpServer {
    async fn publish(&self, target: &AmqpTarget, publish: Publish<'_>) -> Result<(), AttemptError> {
        let message = publish.message;
        let mut headers = FieldTable::new();
        for (name, value) in &message.headers {
            let name = name.as_str().try_into().map_err(|_| {
                AttemptError::InvalidRequest(format!("amqp: header name {name:?} is too long"))
            })?;
            let value = value.as_str().try_into().map_err(|_| {
                AttemptError::InvalidRequest(format!("amqp: header {name:?}: value too long"))
            })?;
            headers.insert(name, FieldValue::S(value));
        }
        let execution_id = message
            .header(HEADER_EXECUTION_ID)
            .unwrap_or_default()
            .to_owned();
        let attempt = message
            .header(HEADER_ATTEMPT)
            .unwrap_or_default()
            .to_owned();
        let content_type = message
            .header("Content-Type")
            .unwrap_or(crate::DEFAULT_CONTENT_TYPE)
            .to_owned();
        let properties = BasicProperties::default()
            .with_content_type(&content_type)
            .with_message_id(&execution_id)
            .with_persistence(true)
            .with_headers(headers)
            .finish();
        let arguments = BasicPublishArguments::new(&target.exchange, &target.routing_key)
            .mandatory(true)
            .finish();

        let waiting = {
            let mut session = self.session.lock().await;
            let open = session
                .as_ref()
                .is_some_and(|s| s.connection.is_open() && s.channel.is_open());
            if !open {
                if let Some(old) = session.take() {
                    old.confirms
                        .fail_all("amqp: the connection to the broker was lost");
                }
                let new = self.open(publish.policy).await?;
                lock(&self.status).up();
                *session = Some(new);
            }
            let Some(session) = session.as_mut() else {
                return Err(AttemptError::Connect("amqp: no connection".to_owned()));
            };
            let tag = session.next_tag;
            let waiting = match publish.delivery {
                DeliveryType::AtLeastOnce => {
                    let (done, waiting) = oneshot::channel();
                    lock(&session.confirms.pending).insert(
                        tag,
                        Pending {
                            execution_id,
                            attempt,
                            returned: None,
                            done,
                        },
                    );
                    Some(waiting)
                }
                DeliveryType::AtMostOnce => None,
            };
            let body = message.body.to_vec();
            if let Err(e) = session
                .channel
                .basic_publish(properties, body, arguments)
                .await
            {
                lock(&session.confirms.pending).remove(&tag);
                return Err(AttemptError::Protocol(format!("amqp: publish: {e}")));
            }
            session.next_tag += 1;
            waiting
        };
        match waiting {
            None => Ok(()),
            Some(waiting) => match waiting.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(AttemptError::Protocol(reason)),
                Err(_dropped) => Err(AttemptError::Protocol(
                    "amqp: the connection closed before the broker confirmed".to_owned(),
                )),
            },
        }
    }

    /// Opens a connection to the first allowed address and a channel in confirm mode.
    async fn open(&self, policy: &crate::policy::TargetPolicy) -> Result<Session, AttemptError> {
        let addresses = allowed_addresses(policy, &self.server.host, self.server.port).await?;
        let user = self.server.user.as_deref().unwrap_or("guest");
        let password = match (&self.server.user, &self.server.password) {
            (_, Some(password)) => password.expose(),
            (None, None) => "guest",
            (Some(_), None) => "",
        };
        let mut last_error = None;
        for address in addresses {
            let arguments = OpenConnectionArguments::new(
                &address.ip().to_string(),
                address.port(),
                user,
                password,
            )
            .virtual_host(&self.vhost)
            .connection_name("scheduler")
            .finish();
            match Connection::open(&arguments).await {
                Ok(connection) => return self.session(connection).await,
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        Err(AttemptError::Connect(format!(
            "amqp: connect to {}: {}",
            self.server,
            last_error.unwrap_or_else(|| "no address".to_owned())
        )))
    }

    async fn session(&self, connection: Connection) -> Result<Session, AttemptError> {
        let protocol = |what: &str, e: amqprs::error::Error| {
            AttemptError::Connect(format!("amqp: {what} on {}: {e}", self.server))
        };
        let confirms = Arc::new(Confirms::default());
        connection
            .register_callback(ConnectionEvents {
                confirms: Arc::clone(&confirms),
            })
            .await
            .map_err(|e| protocol("connection callback", e))?;
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| protocol("open channel", e))?;
        channel
            .register_callback(ChannelEvents {
                confirms: Arc::clone(&confirms),
            })
            .await
            .map_err(|e| protocol("channel callback", e))?;
        channel
            .confirm_select(ConfirmSelectArguments::default())
            .await
            .map_err(|e| protocol("confirm select", e))?;
        // A connection that breaks fails the publishes waiting for confirms at once, rather
        // than at their timeouts.
        let watched = connection.clone();
        let watched_confirms = Arc::clone(&confirms);
        let status = Arc::clone(&self.status);
        let server = self.server.to_string();
        tokio::spawn(async move {
            if watched.listen_network_io_failure().await {
                let reason = "amqp: the connection to the broker was lost";
                log::warn!("{reason}: {server}");
                lock(&status).down(reason);
                watched_confirms.fail_all(reason);
            }
        });
        log::info!("amqp: connected to {}", self.server);
        Ok(Session {
            connection,
            channel,
            confirms,
            next_tag: 1,
        })
    }
}

/// The virtual host as a URL path segment (`/` is `%2f`).
fn percent_vhost(vhost: &str) -> String {
    vhost.replace('%', "%25").replace('/', "%2f")
}
