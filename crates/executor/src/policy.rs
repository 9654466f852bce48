//! The target policy: which addresses a request may connect to, checked after DNS resolution.
//!
//! The transport's resolver resolves a host name, keeps only the addresses the policy allows
//! and connects to those; a request to an IP literal is checked before it is sent. Every new
//! connection is checked, so a name that resolves to an allowed address at job creation and to
//! a refused one later (DNS rebinding) is refused then.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Which targets the transport may connect to.
///
/// Precedence, first match wins:
/// 1. an address or host name that matches a rule of [`deny`](Self::deny) is refused;
/// 2. one that matches a rule of [`allow`](Self::allow) is allowed (this punches holes in the
///    defaults below);
/// 3. link-local and cloud metadata addresses ([`AddressClass::LinkLocalOrMetadata`]) are
///    refused;
/// 4. with [`deny_private`](Self::deny_private), loopback and private addresses
///    ([`AddressClass::Loopback`], [`AddressClass::Private`]) are refused;
/// 5. everything else is allowed.
///
/// The default refuses link-local and metadata addresses only, so loopback and private
/// targets work out of the box.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Also refuse loopback and private addresses.
    pub deny_private: bool,
    /// Targets allowed even when a default would refuse them.
    pub allow: Vec<TargetRule>,
    /// Targets always refused.
    pub deny: Vec<TargetRule>,
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
    /// (`fd00:ec2::254`, `100.100.100.200`): refused unless allowed.
    LinkLocalOrMetadata,
    /// Loopback (`127.0.0.0/8`, `::1`) and the unspecified address (`0.0.0.0/8`, `::`), which
    /// reaches the host itself.
    Loopback,
    /// Private and shared networks: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
    /// `100.64.0.0/10`, `fc00::/7`, `fec0::/10`.
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
        let address = canonical(address);
        let refuse = |reason: String| Refusal {
            host: host.to_owned(),
            reason,
        };
        if let Some(rule) = self.deny.iter().find(|r| r.matches(host, Some(address))) {
            return Err(refuse(format!(
                "{address} matches the denied target {rule}"
            )));
        }
        if self.allow.iter().any(|r| r.matches(host, Some(address))) {
            return Ok(());
        }
        match classify(address) {
            AddressClass::LinkLocalOrMetadata => Err(refuse(format!(
                "{address} is a link-local or cloud metadata address, refused unless allowed"
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
            .filter(|address| match self.check_address(host, address.ip()) {
                Ok(()) => true,
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                    false
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

    /// Whether `address` is in the network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// counts as its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, canonical(address)) {
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
        Ok(IpNetwork {
            address: canonical(address),
            prefix,
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

/// The class of `address`; an IPv4-mapped or NAT64 IPv6 address is classified as its IPv4
/// address.
pub fn classify(address: IpAddr) -> AddressClass {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if a == 169 && b == 254 || v4 == Ipv4Addr::new(100, 100, 100, 200) {
                AddressClass::LinkLocalOrMetadata
            } else if a == 127 || a == 0 {
                AddressClass::Loopback
            } else if a == 10
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168)
                || (a == 100 && (64..128).contains(&b))
            {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if (first & 0xffc0) == 0xfe80 || v6 == AWS_METADATA_V6 {
                AddressClass::LinkLocalOrMetadata
            } else if v6.is_loopback() || v6.is_unspecified() {
                AddressClass::Loopback
            } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

/// The AWS instance metadata service's IPv6 address.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// An IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address as its IPv4
/// address, so that no IPv6 spelling slips past an IPv4 rule; others as they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
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

/// The transport's resolver: the system resolver (`getaddrinfo`, on Tokio's blocking pool),
/// then the policy's filter. hyper-util's connector does not call it for IP literals; those
/// are checked before the request is sent.
#[derive(Clone, Debug)]
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<TargetPolicy>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str();
            policy.check_host_name(host)?;
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            Ok(policy.filter(host, addresses)?.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn classifies_addresses() {
        let check = |address: &str, class: AddressClass| {
            assert_eq!(classify(ip(address)), class, "{address}");
        };
        use AddressClass::*;
        check("169.254.169.254", LinkLocalOrMetadata);
        check("169.254.0.1", LinkLocalOrMetadata);
        check("100.100.100.200", LinkLocalOrMetadata);
        check("fe80::1", LinkLocalOrMetadata);
        check("febf::1", LinkLocalOrMetadata);
        check("fd00:ec2::254", LinkLocalOrMetadata);
        check("::ffff:169.254.169.254", LinkLocalOrMetadata);
        check("64:ff9b::a9fe:a9fe", LinkLocalOrMetadata);
        check("127.0.0.1", Loopback);
        check("127.255.0.9", Loopback);
        check("0.0.0.0", Loopback);
        check("::1", Loopback);
        check("::", Loopback);
        check("::ffff:127.0.0.1", Loopback);
        check("10.1.2.3", Private);
        check("172.16.0.1", Private);
        check("172.31.255.255", Private);
        check("192.168.1.1", Private);
        check("100.64.0.1", Private);
        check("fc00::1", Private);
        check("fd12:3456::1", Private);
        check("fec0::1", Private);
        check("172.32.0.1", Public);
        check("172.15.0.1", Public);
        check("100.128.0.1", Public);
        check("169.255.0.1", Public);
        check("8.8.8.8", Public);
        check("2001:db8::1", Public);
        check("fe00::1", Public);
    }

    fn policy(deny_private: bool, allow: &[&str], deny: &[&str]) -> TargetPolicy {
        let rules = |texts: &[&str]| {
            texts
                .iter()
                .map(|t| t.parse().expect("a rule"))
                .collect::<Vec<TargetRule>>()
        };
        TargetPolicy {
            deny_private,
            allow: rules(allow),
            deny: rules(deny),
        }
    }

    /// `host` at `address`: `None` when allowed, else a part of the refusal's message.
    fn check(policy: &TargetPolicy, host: &str, address: &str, expected: Option<&str>) {
        let result = policy.check_address(host, ip(address));
        match (result, expected) {
            (Ok(()), None) => {}
            (Err(refusal), Some(part)) => {
                assert!(
                    refusal.to_string().contains(part),
                    "{host} {address}: {refusal}"
                );
            }
            (result, expected) => {
                panic!("{host} {address}: got {result:?}, expected {expected:?}")
            }
        }
    }

    #[test]
    fn the_default_refuses_link_local_and_metadata_only() {
        let p = TargetPolicy::default();
        check(
            &p,
            "metadata",
            "169.254.169.254",
            Some("link-local or cloud metadata"),
        );
        check(&p, "x", "fd00:ec2::254", Some("metadata"));
        check(&p, "x", "::ffff:169.254.169.254", Some("link-local"));
        check(&p, "localhost", "127.0.0.1", None);
        check(&p, "x", "::1", None);
        check(&p, "x", "10.0.0.1", None);
        check(&p, "x", "8.8.8.8", None);
    }

    #[test]
    fn deny_private_refuses_loopback_and_private_ranges() {
        let p = policy(true, &[], &[]);
        check(
            &p,
            "x",
            "127.0.0.1",
            Some("loopback address and private targets are denied"),
        );
        check(&p, "x", "::1", Some("loopback"));
        check(&p, "x", "0.0.0.0", Some("loopback"));
        check(&p, "x", "10.0.0.1", Some("private address"));
        check(&p, "x", "192.168.0.1", Some("private address"));
        check(&p, "x", "fd12::1", Some("private address"));
        check(&p, "x", "169.254.169.254", Some("link-local"));
        check(&p, "x", "8.8.8.8", None);
    }

    #[test]
    fn allow_punches_holes_and_deny_wins() {
        let p = policy(
            true,
            &[
                "10.1.0.0/16",
                "internal.example.com",
                "*.svc.local",
                "169.254.169.254",
            ],
            &["10.1.2.0/24", "evil.example.com", "8.8.4.4"],
        );
        check(&p, "x", "10.1.9.9", None);
        check(&p, "x", "10.2.0.1", Some("private"));
        check(
            &p,
            "x",
            "10.1.2.3",
            Some("matches the denied target 10.1.2.0/24"),
        );
        check(&p, "internal.example.com", "10.9.9.9", None);
        check(&p, "INTERNAL.example.com.", "192.168.1.1", None);
        check(
            &p,
            "internal.example.com",
            "10.1.2.3",
            Some("denied target 10.1.2.0/24"),
        );
        check(&p, "a.b.svc.local", "10.3.0.1", None);
        check(&p, "svc.local", "10.3.0.1", None);
        check(&p, "notsvc.local", "10.3.0.1", Some("private"));
        check(&p, "x", "169.254.169.254", None);
        check(&p, "x", "169.254.169.253", Some("link-local"));
        check(&p, "x", "8.8.4.4", Some("denied target 8.8.4.4/32"));
        check(&p, "x", "::ffff:8.8.4.4", Some("denied target 8.8.4.4/32"));
        assert!(p.check_host_name("evil.example.com").is_err());
        assert!(p.check_host_name("Evil.Example.com.").is_err());
        assert!(p.check_host_name("good.example.com").is_ok());
    }

    #[test]
    fn check_host_knows_literals_and_localhost_without_dns() {
        let p = policy(true, &[], &["blocked.test"]);
        assert!(p.check_host("127.0.0.1").is_err());
        assert!(p.check_host("[::1]").is_err());
        assert!(p.check_host("localhost").is_err());
        assert!(p.check_host("api.localhost").is_err());
        assert!(p.check_host("blocked.test").is_err());
        assert!(p.check_host("example.com").is_ok());
        let default = TargetPolicy::default();
        assert!(default.check_host("localhost").is_ok());
        assert!(default.check_host("169.254.169.254").is_err());
        assert!(default.check_host("[fe80::1]").is_err());
    }

    #[test]
    fn filter_keeps_allowed_addresses_and_refuses_when_none_is() {
        let p = policy(true, &[], &[]);
        let addresses = |list: &[&str]| {
            list.iter()
                .map(|a| SocketAddr::new(ip(a), 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            p.filter("mixed", addresses(&["10.0.0.1", "8.8.8.8"])),
            Ok(addresses(&["8.8.8.8"]))
        );
        let refused = p
            .filter("inside", addresses(&["10.0.0.1", "127.0.0.1"]))
            .expect_err("refused");
        assert_eq!(refused.host(), "inside");
        assert!(refused.reason().contains("10.0.0.1"), "{refused}");
    }

    #[test]
    fn rules_parse_or_say_why_not() {
        let parse = |text: &str| text.parse::<TargetRule>().map(|r| r.to_string());
        assert_eq!(parse("10.0.0.0/8"), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(parse("fd00::/8"), Ok("fd00::/8".to_owned()));
        assert_eq!(parse("192.0.2.7"), Ok("192.0.2.7/32".to_owned()));
        assert_eq!(parse("[::1]"), Ok("::1/128".to_owned()));
        assert_eq!(parse("API.Example.com."), Ok("api.example.com".to_owned()));
        assert_eq!(parse("*.example.com"), Ok("*.example.com".to_owned()));
        assert_eq!(parse(".example.com"), Ok("*.example.com".to_owned()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/",
            "",
            "*.",
            "a b",
            "http://x",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }
}
