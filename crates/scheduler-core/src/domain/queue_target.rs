//! Message-queue targets: a job whose target URL is `nats://` or `amqp://` publishes each
//! attempt to a broker instead of sending an HTTP request.
//!
//! The URL is parsed here, once, so that validation at creation and the transport that
//! publishes read it the same way. A password in the URL (`user:password@`) is a secret, as a
//! secret header's value is: [`redact_target_url`] gives the form that may be shown or logged.

use std::borrow::Cow;
use std::fmt;

/// The port of a `nats://` URL that names none.
pub const NATS_DEFAULT_PORT: u16 = 4222;
/// The port of an `amqp://` URL that names none.
pub const AMQP_DEFAULT_PORT: u16 = 5672;
/// What [`redact_target_url`] shows in place of a password.
pub const REDACTED_PASSWORD: &str = "***";
/// The longest AMQP exchange name, routing key or virtual host, and NATS subject, in bytes
/// (AMQP 0-9-1's short strings).
pub const MAX_QUEUE_NAME_BYTES: usize = 255;

/// A parsed message-queue target.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum QueueTarget {
    /// `nats://[user[:password]@]host[:port]/<subject>`.
    Nats(NatsTarget),
    /// `amqp://[user[:password]@]host[:port]/<vhost>?exchange=X&routingKey=Y`.
    Amqp(AmqpTarget),
}

/// The broker a target connects to: one connection per distinct server.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct BrokerServer {
    /// The host: a name, or an IP literal without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The user name, percent-decoded; `None` when the URL has no user info.
    pub user: Option<String>,
    /// The password, percent-decoded; shown by no `Debug` or `Display`.
    pub password: Option<SecretText>,
}

/// A NATS subject to publish to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NatsTarget {
    /// The server.
    pub server: BrokerServer,
    /// The subject (tokens separated by dots, no wildcards).
    pub subject: String,
}

/// A RabbitMQ (AMQP 0-9-1) exchange and routing key to publish to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AmqpTarget {
    /// The server.
    pub server: BrokerServer,
    /// The virtual host, percent-decoded (`%2f` is `/`, the default; an empty path is `/` too).
    pub vhost: String,
    /// The exchange; empty is the default exchange.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
}

/// A password: compared and hashed as text, shown as `***`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretText(String);

impl SecretText {
    /// The text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED_PASSWORD)
    }
}

impl fmt::Display for BrokerServer {
    /// `host:port`, with brackets around an IPv6 literal; never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl QueueTarget {
    /// Reads `url` when its scheme is `nats://` or `amqp://`: `None` for any other scheme,
    /// else the target or why it is invalid.
    pub fn parse(url: &str) -> Option<Result<QueueTarget, String>> {
        let url = url.trim();
        if let Some(rest) = strip_scheme(url, "nats://") {
            Some(parse_nats(rest).map(QueueTarget::Nats))
        } else {
            strip_scheme(url, "amqp://").map(|rest| parse_amqp(rest).map(QueueTarget::Amqp))
        }
    }

    /// The server the target connects to.
    pub fn server(&self) -> &BrokerServer {
        match self {
            QueueTarget::Nats(target) => &target.server,
            QueueTarget::Amqp(target) => &target.server,
        }
    }

    /// `nats` or `amqp`.
    pub fn scheme(&self) -> &'static str {
        match self {
            QueueTarget::Nats(_) => "nats",
            QueueTarget::Amqp(_) => "amqp",
        }
    }
}

/// Whether `url` names a message-queue target (`nats://` or `amqp://`), valid or not.
pub fn is_queue_target_url(url: &str) -> bool {
    let url = url.trim();
    strip_scheme(url, "nats://").is_some() || strip_scheme(url, "amqp://").is_some()
}

/// `url` with the password of its user info (if any) shown as [`REDACTED_PASSWORD`]: the form
/// of a target URL that the API shows and logs carry. Other URLs are returned as they are.
pub fn redact_target_url(url: &str) -> Cow<'_, str> {
    match password_span(url) {
        Some((start, end)) => Cow::Owned(format!(
            "{}{REDACTED_PASSWORD}{}",
            &url[..start],
            &url[end..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// `url` with its password replaced by the password of `stored` when `url`'s is
/// [`REDACTED_PASSWORD`] (a client sent back what it read): `Ok(None)` when there is nothing
/// to replace, `Err(())` when `stored` has no password to keep.
#[allow(clippy::result_unit_err)]
pub fn restore_target_password(url: &str, stored: Option<&str>) -> Result<Option<String>, ()> {
    let Some((start, end)) = password_span(url) else {
        return Ok(None);
    };
    if &url[start..end] != REDACTED_PASSWORD {
        return Ok(None);
    }
    let stored = stored.ok_or(())?;
    let (stored_start, stored_end) = password_span(stored).ok_or(())?;
    Ok(Some(format!(
        "{}{}{}",
        &url[..start],
        &stored[stored_start..stored_end],
        &url[end..]
    )))
}

/// Where the password of a queue URL's user info is, as byte offsets.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let trimmed_start = url.len() - url.trim_start().len();
    let rest = &url[trimmed_start..];
    let scheme_len =
        if strip_scheme(rest, "nats://").is_some() || strip_scheme(rest, "amqp://").is_some() {
            "nats://".len()
        } else {
            return None;
        };
    let authority_start = trimmed_start + scheme_len;
    let authority_len = url[authority_start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - authority_start);
    let authority = &url[authority_start..authority_start + authority_len];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some((authority_start + colon + 1, authority_start + at))
}

fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    url.strip_prefix(scheme)
}

fn parse_nats(rest: &str) -> Result<NatsTarget, String> {
    if rest.contains(['?', '#']) {
        return Err(
            "a nats:// target takes no query or fragment: nats://host:port/<subject>".to_owned(),
        );
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let server = parse_authority(authority, NATS_DEFAULT_PORT)?;
    let subject = percent_decode(path, "subject")?;
    check_subject(&subject)?;
    Ok(NatsTarget { server, subject })
}

fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("a nats:// target needs a subject: nats://host:port/<subject>".to_owned());
    }
    if subject.len() > MAX_QUEUE_NAME_BYTES {
        return Err(format!(
            "the subject must be at most {MAX_QUEUE_NAME_BYTES} bytes"
        ));
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return Err(format!("subject {subject:?} has an empty token"));
        }
        if token == "*" || token == ">" {
            return Err(format!(
                "subject {subject:?} has a wildcard: a job publishes to one subject"
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "subject {subject:?} must not contain whitespace or control characters"
            ));
        }
    }
    Ok(())
}

fn parse_amqp(rest: &str) -> Result<AmqpTarget, String> {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let server = parse_authority(authority, AMQP_DEFAULT_PORT)?;
    let vhost = if path.is_empty() {
        "/".to_owned()
    } else {
        percent_decode(path, "virtual host")?
    };
    let mut exchange = None;
    let mut routing_key = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "exchange" => &mut exchange,
            "routingKey" => &mut routing_key,
            _ => {
                return Err(format!(
                    "unknown query parameter {name:?}: an amqp:// target takes exchange and routingKey"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("query parameter {name:?} is given twice"));
        }
        *slot = Some(percent_decode(value, name)?);
    }
    let exchange = exchange.unwrap_or_default();
    let routing_key = routing_key.unwrap_or_default();
    if exchange.is_empty() && routing_key.is_empty() {
        return Err(
            "an amqp:// target needs an exchange or a routing key: amqp://user@host:port/vhost?exchange=X&routingKey=Y"
                .to_owned(),
        );
    }
    for (name, value) in [
        ("virtual host", &vhost),
        ("exchange", &exchange),
        ("routingKey", &routing_key),
    ] {
        if value.len() > MAX_QUEUE_NAME_BYTES {
            return Err(format!(
                "{name} must be at most {MAX_QUEUE_NAME_BYTES} bytes"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("{name} must not contain control characters"));
        }
    }
    Ok(AmqpTarget {
        server,
        vhost,
        exchange,
        routing_key,
    })
}

/// `[user[:password]@]host[:port]`.
fn parse_authority(authority: &str, default_port: u16) -> Result<BrokerServer, String> {
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (user, password) = match user_info {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (info, None),
            };
            let user = percent_decode(user, "user")?;
            let password = password
                .map(|p| percent_decode(p, "password").map(SecretText))
                .transpose()?;
            (Some(user), password)
        }
    };
    let (host, port) = match host_port.rfind(':') {
        Some(colon) if !host_port[colon..].contains(']') => {
            (&host_port[..colon], Some(&host_port[colon + 1..]))
        }
        _ => (host_port, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the target URL has no host".to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '%')
    {
        return Err(format!("host {host:?} is not a valid host"));
    }
    let port = match port {
        None | Some("") => default_port,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(format!(
                    "port {port:?} of the target URL must be a number from 1 to 65535"
                ));
            }
        },
    };
    Ok(BrokerServer {
        host: host.to_owned(),
        port,
        user,
        password,
    })
}

/// Decodes `%XX` escapes; `what` names the part in the error.
fn percent_decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("the {what} has an invalid percent escape"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("the {what} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<QueueTarget, String> {
        QueueTarget::parse(url).expect("a queue URL")
    }

    /// `url` is refused with an error containing `expected`.
    fn refused(url: &str, expected: &str) {
        match parse(url) {
            Ok(target) => panic!("{url}: accepted as {target:?}"),
            Err(error) => assert!(error.contains(expected), "{url}: {error}"),
        }
    }

    #[test]
    fn reads_nats_targets() {
        let QueueTarget::Nats(target) = parse("nats://127.0.0.1:4223/jobs.nightly").expect("valid")
        else {
            panic!("not nats");
        };
        assert_eq!(target.subject, "jobs.nightly");
        assert_eq!(target.server.to_string(), "127.0.0.1:4223");
        assert_eq!(target.server.user, None);
        let QueueTarget::Nats(target) = parse("nats://u:p%40ss@[::1]/a").expect("valid") else {
            panic!("not nats");
        };
        assert_eq!(target.server.port, NATS_DEFAULT_PORT);
        assert_eq!(target.server.host, "::1");
        assert_eq!(target.server.to_string(), "[::1]:4222");
        assert_eq!(target.server.user.as_deref(), Some("u"));
        assert_eq!(
            target.server.password.as_ref().map(SecretText::expose),
            Some("p@ss")
        );
        refused("nats://host:4222", "needs a subject");
        refused("nats://host:4222/", "needs a subject");
        refused("nats://host/a.*.b", "wildcard");
        refused("nats://host/a.>", "wildcard");
        refused("nats://host/a..b", "empty token");
        refused("nats://host/a%20b", "whitespace");
        refused("nats://host/a?x=1", "no query");
        refused("nats:///a", "no host");
        refused("nats://host:0/a", "port \"0\"");
        refused("nats://host:99999/a", "from 1 to 65535");
        refused("nats://host/a%zz", "percent escape");
    }

    #[test]
    fn reads_amqp_targets() {
        let QueueTarget::Amqp(target) =
            parse("amqp://guest:guest@127.0.0.1:5672/%2f?exchange=jobs&routingKey=nightly.run")
                .expect("valid")
        else {
            panic!("not amqp");
        };
        assert_eq!(target.vhost, "/");
        assert_eq!(target.exchange, "jobs");
        assert_eq!(target.routing_key, "nightly.run");
        assert_eq!(target.server.user.as_deref(), Some("guest"));
        let QueueTarget::Amqp(target) = parse("amqp://host?routingKey=q").expect("valid") else {
            panic!("not amqp");
        };
        assert_eq!(target.server.port, AMQP_DEFAULT_PORT);
        assert_eq!((target.vhost.as_str(), target.exchange.as_str()), ("/", ""));
        let QueueTarget::Amqp(target) = parse("amqp://u@host/prod?exchange=x").expect("valid")
        else {
            panic!("not amqp");
        };
        assert_eq!(target.vhost, "prod");
        assert_eq!(target.server.password, None);
        refused("amqp://host/%2f", "needs an exchange or a routing key");
        refused(
            "amqp://host/?exchange=x&queue=y",
            "unknown query parameter \"queue\"",
        );
        refused("amqp://host/?exchange=x&exchange=y", "given twice");
        refused(
            &format!("amqp://host/?exchange={}", "x".repeat(256)),
            "at most 255 bytes",
        );
        refused("amqp://:5672/?exchange=x", "no host");
    }

    #[test]
    fn other_schemes_are_not_queue_targets() {
        assert!(QueueTarget::parse("http://example.com/").is_none());
        assert!(!is_queue_target_url("https://example.com/"));
        assert!(is_queue_target_url(" amqp://host/"));
    }

    #[test]
    fn redacts_and_restores_passwords() {
        let check = |url: &str, shown: &str| assert_eq!(redact_target_url(url), shown, "{url}");
        check(
            "amqp://guest:guest@h:5672/%2f?exchange=x",
            "amqp://guest:***@h:5672/%2f?exchange=x",
        );
        check("nats://u:p@h/s", "nats://u:***@h/s");
        check("nats://u@h/s", "nats://u@h/s");
        check("amqp://h/?exchange=a@b", "amqp://h/?exchange=a@b");
        check("http://u:p@h/", "http://u:p@h/");
        let stored = "amqp://guest:secret@h/%2f?exchange=x";
        assert_eq!(
            restore_target_password("amqp://guest:***@h/%2f?exchange=y", Some(stored)),
            Ok(Some("amqp://guest:secret@h/%2f?exchange=y".to_owned()))
        );
        assert_eq!(
            restore_target_password("amqp://guest:other@h/?exchange=y", Some(stored)),
            Ok(None)
        );
        assert_eq!(
            restore_target_password("amqp://guest:***@h/?exchange=y", None),
            Err(())
        );
        assert_eq!(
            restore_target_password(
                "amqp://guest:***@h/?exchange=y",
                Some("amqp://h/?exchange=x")
            ),
            Err(())
        );
        assert!(format!("{:?}", parse(stored)).contains("***"));
        assert!(!format!("{:?}", parse(stored)).contains("secret"));
    }
}
