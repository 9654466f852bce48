//! The server's check of a job's target at creation: the target policy, and the server's own
//! API address.

use std::net::{IpAddr, SocketAddr};

use executor::{BrokerConnectionState, QueueTransport, TargetPolicy};
use http_api::{BrokerConnection, BrokerConnections, TargetCheck};

/// Refuses, when a job is created or replaced, a target the policy refuses by its URL alone
/// (an IP literal, a denied name, `localhost`), and a target that is this server's own API (a
/// job that calls the API could create jobs). Names are resolved and checked on each attempt,
/// not here.
#[derive(Debug)]
pub(crate) struct ServerTargetCheck {
    pub(crate) policy: TargetPolicy,
    /// The address the REST API listens on (`--listen`).
    pub(crate) listen: SocketAddr,
}

impl TargetCheck for ServerTargetCheck {
    fn check(&self, host: &str, port: u16) -> Result<(), String> {
        self.policy.check_host(host).map_err(|r| r.to_string())?;
        if port == self.listen.port() && self.is_own_host(host) {
            return Err(format!(
                "target {host}:{port} is this scheduler's own API (--listen {}); a job may not call it",
                self.listen
            ));
        }
        Ok(())
    }
}

/// The queue transport's broker connections, as `/api/health` and the metrics show them.
#[derive(Debug)]
pub(crate) struct QueueBrokers(pub(crate) QueueTransport);

impl BrokerConnections for QueueBrokers {
    fn connections(&self) -> Vec<BrokerConnection> {
        self.0
            .connections()
            .into_iter()
            .map(|status| BrokerConnection {
                kind: status.kind.to_owned(),
                server: status.server,
                state: status.state.as_str().to_owned(),
                connected: status.state == BrokerConnectionState::Connected,
                last_error: status.last_error,
            })
            .collect()
    }
}

impl ServerTargetCheck {
    /// Whether `host` reaches this server's listening address: the address itself, and, on a
    /// loopback or unspecified (`0.0.0.0`, `::`) listen address, any loopback host.
    fn is_own_host(&self, host: &str) -> bool {
        let listen = self.listen.ip();
        let local = listen.is_loopback() || listen.is_unspecified();
        match host.parse::<IpAddr>() {
            Ok(address) => {
                address == listen || (local && (address.is_loopback() || address.is_unspecified()))
            }
            Err(_) => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                local && (name == "localhost" || name.ends_with(".localhost"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listen: &str, host: &str, port: u16, refused: bool) {
        let check = ServerTargetCheck {
            policy: TargetPolicy::default(),
            listen: listen.parse().expect("an address"),
        };
        let result = check.check(host, port);
        assert_eq!(
            result.is_err(),
            refused,
            "{listen} {host}:{port}: {result:?}"
        );
        if let Err(reason) = result {
            assert!(
                reason.contains("own API") || reason.contains("target policy"),
                "{reason}"
            );
        }
    }

    #[test]
    fn the_servers_own_address_is_refused() {
        check("127.0.0.1:8080", "127.0.0.1", 8080, true);
        check("127.0.0.1:8080", "localhost", 8080, true);
        check("127.0.0.1:8080", "LOCALHOST.", 8080, true);
        check("127.0.0.1:8080", "::1", 8080, true);
        check("127.0.0.1:8080", "127.0.0.1", 8081, false);
        check("127.0.0.1:8080", "example.com", 8080, false);
        check("0.0.0.0:8080", "127.0.0.1", 8080, true);
        check("0.0.0.0:8080", "0.0.0.0", 8080, true);
        check("10.0.0.5:8080", "10.0.0.5", 8080, true);
        check("10.0.0.5:8080", "127.0.0.1", 8080, false);
        check("10.0.0.5:8080", "169.254.169.254", 80, true);
    }
}
