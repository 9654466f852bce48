//! The target policy: which addresses a request may connect to, checked after DNS resolution.
//!
//! The transport's resolver resolves a host name, keeps only the addresses the policy allows
//! and connects to those; a request to an IP literal is checked before it is sent. Every new
//! connection is checked, so a name that resolves to an allowed address at job creation and to
//! a refused one later (DNS rebinding) is refused then. A connection that reaches the
//! scheduler's own API ([`TargetPolicy::own_api`]) is closed as soon as it is made, whatever
//! the URL said.

mod connect;

pub(crate) use connect::{OwnApiGuard, PolicyResolver};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Which targets the transport may connect to.
///
/// Precedence, first match wins:
/// 1. a connection to the scheduler's own API ([`own_api`](Self::own_api)) is refused;
/// 2. an address or host name that matches a rule of [`deny`](Self::deny) is refused;
/// 3. one that matches a rule of [`allow`](Self::allow) is allowed (this punches holes in the
///    defaults below);
/// 4. link-local and cloud metadata addresses ([`AddressClass::LinkLocalOrMetadata`]) and
///    reserved, multicast and broadcast addresses ([`AddressClass::Reserved`]) are refused;
/// 5. with [`deny_private`](Self::deny_private), loopback and private addresses
///    ([`AddressClass::Loopback`], [`AddressClass::Private`]) are refused;
/// 6. everything else is allowed.
///
/// The default refuses link-local, metadata and reserved addresses only, so loopback and
/// private targets work out of the box.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Also refuse loopback and private addresses.
    pub deny_private: bool,
    /// Targets allowed even when a default would refuse them.
    pub allow: Vec<TargetRule>,
    /// Targets always refused.
    pub deny: Vec<TargetRule>,
    /// The socket addresses the scheduler's own API listens on: a connection to one of them is
    /// refused, whatever the rules, so that a job cannot call the API (and, say, create jobs).
    /// An unspecified address (`0.0.0.0:8080`, `[::]:8080`) stands for every local address
    /// with that port, loopback included. Empty (the default) checks nothing.
    pub own_api: Vec<SocketAddr>,
}

/// One `allow` or `deny` entry: a network or a host name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRule {
    /// Every address of a network (`10.1.0.0/16`, `fd00::/8`; a bare address is a network of
    /// one address).
    Network(IpNetwork),
    /// A host name, compared without regard to case and a trailing dot. `*.example.com` (or
    /// `.example.com`) matches every name below `example.com`, and `example.com` itself.
    Host(String),
}

/// A network: an address and a prefix length (CIDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

/// What kind of address an address is, for the policy's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Link-local (`169.254.0.0/16`, `fe80::/10`) and the cloud metadata services' addresses
    /// (`fd00:ec2::254`, `100.100.100.200`, `192.0.0.192`): refused unless allowed.
    LinkLocalOrMetadata,
    /// Addresses no target should have: "this network" (`0.0.0.0/8`, which reaches the host
    /// itself) and the unspecified `::`, the IETF protocol assignments (`192.0.0.0/24`),
    /// multicast (`224.0.0.0/4`, `ff00::/8`), the reserved `240.0.0.0/4` and the broadcast
    /// `255.255.255.255`: refused unless allowed.
    Reserved,
    /// Loopback (`127.0.0.0/8`, `::1`).
    Loopback,
    /// Private, shared and test networks: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
    /// `100.64.0.0/10` (carrier-grade NAT), `198.18.0.0/15` (benchmarking), `fc00::/7`,
    /// `fec0::/10`.
    Private,
    /// Everything else.
    Public,
}

/// A target the policy refuses: which host, which address, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    host: String,
    reason: String,
}

impl TargetPolicy {
    /// Checks one resolved (or literal) address of `host`.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] that says which rule or default refused the address.
    pub fn check_address(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        let original = address;
        let address = canonical(address);
        let refuse = |reason: String| Refusal {
            host: host.to_owned(),
            reason,
        };
        if let Some(rule) = self.deny.iter().find(|r| r.matches(host, Some(original))) {
            return Err(refuse(format!(
                "{address} matches the denied target {rule}"
            )));
        }
        if self.allow.iter().any(|r| r.matches(host, Some(original))) {
            return Ok(());
        }
        match classify(address) {
            AddressClass::LinkLocalOrMetadata => Err(refuse(format!(
                "{address} is a link-local or cloud metadata address, refused unless allowed"
            ))),
            AddressClass::Reserved => Err(refuse(format!(
                "{address} is a reserved, multicast or broadcast address, refused unless allowed"
            ))),
            class @ (AddressClass::Loopback | AddressClass::Private) if self.deny_private => {
                let kind = if class == AddressClass::Loopback {
                    "loopback"
                } else {
                    "private"
                };
                Err(refuse(format!(
                    "{address} is a {kind} address and private targets are denied"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Checks a host name before it is resolved: a name the deny list names is refused. A
    /// name the policy allows by name still has its addresses checked against the deny list.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] naming the deny rule.
    pub fn check_host_name(&self, host: &str) -> Result<(), Refusal> {
        match self.deny.iter().find(|r| r.matches(host, None)) {
            Some(rule) => Err(Refusal {
                host: host.to_owned(),
                reason: format!("the host matches the denied target {rule}"),
            }),
            None => Ok(()),
        }
    }

    /// Checks what can be known of a target without DNS: an IP literal host is checked as an
    /// address; a name is checked against the deny list, and `localhost` (and names below
    /// it, RFC 6761) as a loopback address. Names are resolved, and their addresses checked,
    /// on every connection.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] that says why.
    pub fn check_host(&self, host: &str) -> Result<(), Refusal> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = bare.parse::<IpAddr>() {
            return self.check_address(host, address);
        }
        self.check_host_name(host)?;
        let name = normalize_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            self.check_address(host, IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        }
        Ok(())
    }

    /// Checks a connection made (or about to be made) to `peer` for `host`: refused when
    /// `peer` is the scheduler's own API ([`own_api`](Self::own_api)).
    ///
    /// # Errors
    ///
    /// A [`Refusal`] that names the API's listen address.
    pub fn check_connection(&self, host: &str, peer: SocketAddr) -> Result<(), Refusal> {
        match self.own_api_of(peer) {
            Some(listen) => Err(Refusal {
                host: host.to_owned(),
                reason: format!(
                    "{peer} is this scheduler's own API (listening on {listen}); a job may not call it"
                ),
            }),
            None => Ok(()),
        }
    }

    /// The listen address of [`own_api`](Self::own_api) that `peer` reaches, if any.
    fn own_api_of(&self, peer: SocketAddr) -> Option<SocketAddr> {
        let address = canonical(peer.ip());
        self.own_api.iter().copied().find(|listen| {
            let listening = canonical(listen.ip());
            listen.port() == peer.port()
                && if listening.is_unspecified() {
                    is_local_address(address)
                } else {
                    listening == address
                }
        })
    }

    /// `addresses` (resolved for `host`) without the refused ones.
    ///
    /// # Errors
    ///
    /// When every address is refused: the refusal of the first one.
    pub fn filter(
        &self,
        host: &str,
        addresses: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refusal> {
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = addresses
            .into_iter()
            .filter(|address| {
                match self
                    .check_connection(host, *address)
                    .and_then(|()| self.check_address(host, address.ip()))
                {
                    Ok(()) => true,
                    Err(refusal) => {
                        first_refusal.get_or_insert(refusal);
                        false
                    }
                }
            })
            .collect();
        match first_refusal {
            Some(refusal) if allowed.is_empty() => Err(refusal),
            _ => Ok(allowed),
        }
    }
}

impl TargetRule {
    fn matches(&self, host: &str, address: Option<IpAddr>) -> bool {
        match self {
            TargetRule::Network(network) => address.is_some_and(|a| network.contains(a)),
            TargetRule::Host(pattern) => {
                let name = normalize_name(host);
                match pattern.strip_prefix('.') {
                    Some(domain) => {
                        name == domain
                            || name
                                .strip_suffix(domain)
                                .is_some_and(|rest| rest.ends_with('.'))
                    }
                    None => name == *pattern,
                }
            }
        }
    }
}

impl FromStr for TargetRule {
    type Err = String;

    /// Reads `10.0.0.0/8`, `fd00::/8`, `192.0.2.7`, `::1`, `api.example.com` or
    /// `*.example.com`.
    fn from_str(text: &str) -> Result<TargetRule, String> {
        let text = text.trim();
        if text.contains('/') {
            return text.parse().map(TargetRule::Network);
        }
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = bare.parse::<IpAddr>() {
            return Ok(TargetRule::Network(IpNetwork::host(address)));
        }
        let name = normalize_name(text);
        let (wildcard, rest) = match name.strip_prefix("*.").or_else(|| name.strip_prefix('.')) {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if rest.is_empty() || rest.len() > 253 || !rest.split('.').all(valid_label) {
            return Err(format!(
                "{text:?} is not a CIDR (10.0.0.0/8), an IP address or a host name (api.example.com, *.example.com)"
            ));
        }
        Ok(TargetRule::Host(if wildcard {
            format!(".{rest}")
        } else {
            rest.to_owned()
        }))
    }
}

impl fmt::Display for TargetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRule::Network(network) => write!(f, "{network}"),
            TargetRule::Host(name) => match name.strip_prefix('.') {
                Some(domain) => write!(f, "*.{domain}"),
                None => f.write_str(name),
            },
        }
    }
}

impl IpNetwork {
    /// The network of `address` alone (`/32` or `/128`).
    pub fn host(address: IpAddr) -> IpNetwork {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        IpNetwork { address, prefix }
    }

    /// Whether `address` is in the network. An IPv6 address that embeds an IPv4 address
    /// (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64, 6to4) is in the network when
    /// either it or its IPv4 address is.
    pub fn contains(&self, address: IpAddr) -> bool {
        let canonical = canonical(address);
        self.contains_exactly(address) || (canonical != address && self.contains_exactly(canonical))
    }

    fn contains_exactly(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                prefix_matches(&network.octets(), &address.octets(), self.prefix)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                prefix_matches(&network.octets(), &address.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    /// Reads `address/prefix`.
    fn from_str(text: &str) -> Result<IpNetwork, String> {
        let invalid = |why: &str| format!("{text:?} is not a valid CIDR: {why}");
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| invalid("expected address/prefix"))?;
        let address: IpAddr = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| invalid("not an IP address before the slash"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| invalid(&format!("the prefix length must be 0 to {max}")))?;
        // An IPv4-mapped network (`::ffff:10.0.0.0/104`) is its IPv4 network; other IPv6
        // networks stay IPv6, and `contains` compares embedded IPv4 addresses both ways.
        let mapped = match address {
            IpAddr::V6(v6) if prefix >= 96 => v6.to_ipv4_mapped(),
            _ => None,
        };
        Ok(match mapped {
            Some(v4) => IpNetwork {
                address: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            None => IpNetwork { address, prefix },
        })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Refusal {
    /// The host the refused target was named by.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target {} refused by the target policy: {}",
            self.host, self.reason
        )
    }
}

impl std::error::Error for Refusal {}

/// The class of `address`. An IPv6 address that embeds an IPv4 address (mapped
/// `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is
/// classified as that IPv4 address.
pub fn classify(address: IpAddr) -> AddressClass {
    match canonical(address) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if (first & 0xffc0) == 0xfe80 || v6 == AWS_METADATA_V6 {
                AddressClass::LinkLocalOrMetadata
            } else if v6.is_loopback() {
                AddressClass::Loopback
            } else if v6.is_unspecified() || (first & 0xff00) == 0xff00 {
                AddressClass::Reserved
            } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

fn classify_v4(v4: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = v4.octets();
    let metadata = [
        Ipv4Addr::new(100, 100, 100, 200),
        Ipv4Addr::new(192, 0, 0, 192),
    ];
    if a == 169 && b == 254 || metadata.contains(&v4) {
        AddressClass::LinkLocalOrMetadata
    } else if a == 0 || a >= 224 || (a == 192 && b == 0 && c == 0) {
        // 0/8, multicast 224/4, reserved 240/4 and the broadcast address in it, 192.0.0/24.
        AddressClass::Reserved
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// The AWS instance metadata service's IPv6 address.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// An IPv6 address that embeds an IPv4 address as that IPv4 address, so that no IPv6 spelling
/// slips past an IPv4 rule or class: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, but not `::` and `::1`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::/48`, the IPv4 address in bits 16 to 48). Others as they are.
fn canonical(address: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = address else {
        return address;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_unspecified() && !v6.is_loopback() {
        return IpAddr::V4(last);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(last);
    }
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    address
}

/// Whether `address` belongs to this machine: loopback, unspecified, or assigned to one of its
/// interfaces (the system lets a socket bind to it).
fn is_local_address(address: IpAddr) -> bool {
    address.is_loopback()
        || address.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(address, 0)).is_ok()
}

fn prefix_matches(network: &[u8], address: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if network[..full] != address[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (network[full] & mask) == (address[full] & mask)
}

fn normalize_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
