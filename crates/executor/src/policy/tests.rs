//! The policy's unit tests: classes, rules, precedence and the own-API check.

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
    check("::1", Loopback);
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

#[test]
fn classifies_special_ranges() {
    let check = |address: &str, class: AddressClass| {
        assert_eq!(classify(ip(address)), class, "{address}");
    };
    use AddressClass::*;
    // Oracle Cloud's legacy metadata address.
    check("192.0.0.192", LinkLocalOrMetadata);
    // IETF protocol assignments, this network, multicast, 240/4 and broadcast.
    check("192.0.0.1", Reserved);
    check("192.0.0.255", Reserved);
    check("0.0.0.0", Reserved);
    check("0.1.2.3", Reserved);
    check("::", Reserved);
    check("224.0.0.1", Reserved);
    check("239.255.255.250", Reserved);
    check("240.0.0.1", Reserved);
    check("255.255.255.255", Reserved);
    check("ff02::1", Reserved);
    check("ff0e::1", Reserved);
    // Benchmarking and carrier-grade NAT: private-like.
    check("198.18.0.1", Private);
    check("198.19.255.255", Private);
    check("100.127.255.255", Private);
    check("198.17.255.255", Public);
    check("198.20.0.0", Public);
    check("192.0.1.1", Public);
    check("223.255.255.255", Public);
    // IPv6 forms of IPv4 addresses are judged as their IPv4 address.
    check("::ffff:10.0.0.1", Private);
    check("::ffff:224.0.0.1", Reserved);
    check("::127.0.0.1", Loopback);
    check("::169.254.169.254", LinkLocalOrMetadata);
    check("::10.1.2.3", Private);
    check("::8.8.8.8", Public);
    check("64:ff9b::7f00:1", Loopback);
    check("64:ff9b::10.0.0.1", Private);
    check("64:ff9b::8.8.8.8", Public);
    check("2002:7f00:1::1", Loopback);
    check("2002:a9fe:a9fe::", LinkLocalOrMetadata);
    check("2002:c0a8:0101::1", Private);
    check("2002:0808:0808::1", Public);
    check("2002:e000:0001::1", Reserved);
}

#[test]
fn reserved_addresses_are_refused_by_default_and_can_be_allowed() {
    let p = TargetPolicy::default();
    for address in [
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "ff02::1",
        "::",
        "192.0.0.8",
    ] {
        check(
            &p,
            "x",
            address,
            Some("reserved, multicast or broadcast address, refused unless allowed"),
        );
    }
    check(&p, "x", "192.0.0.192", Some("link-local or cloud metadata"));
    check(
        &p,
        "x",
        "2002:a9fe:a9fe::1",
        Some("169.254.169.254 is a link-local"),
    );
    check(&p, "x", "198.18.0.1", None);
    check(&p, "x", "2002:c0a8:0101::1", None);
    let strict = policy(true, &["239.1.2.3"], &[]);
    check(&strict, "x", "198.18.0.1", Some("private address"));
    check(
        &strict,
        "x",
        "::192.168.1.1",
        Some("192.168.1.1 is a private address"),
    );
    check(
        &strict,
        "x",
        "2002:c0a8:0101::1",
        Some("192.168.1.1 is a private address"),
    );
    check(&strict, "x", "239.1.2.3", None);
}

#[test]
fn rules_match_an_embedded_ipv4_address_and_the_ipv6_form() {
    let p = policy(false, &[], &["10.0.0.0/8", "2002::/16", "64:ff9b::/96"]);
    check(
        &p,
        "x",
        "2002:0a00:0001::1",
        Some("denied target 10.0.0.0/8"),
    );
    check(
        &p,
        "x",
        "2002:0808:0808::1",
        Some("denied target 2002::/16"),
    );
    check(
        &p,
        "x",
        "64:ff9b::8.8.8.8",
        Some("denied target 64:ff9b::/96"),
    );
    check(&p, "x", "::ffff:10.9.9.9", Some("denied target 10.0.0.0/8"));
    check(&p, "x", "8.8.8.8", None);
    let mapped = policy(false, &[], &["::ffff:10.0.0.0/104"]);
    check(&mapped, "x", "10.1.2.3", Some("denied target 10.0.0.0/8"));
    check(&mapped, "x", "11.1.2.3", None);
}

#[test]
fn a_connection_to_the_own_api_is_refused() {
    let socket = |text: &str| text.parse::<SocketAddr>().expect("a socket address");
    let own = |listen: &str| TargetPolicy {
        own_api: vec![socket(listen)],
        ..TargetPolicy::default()
    };
    let check = |p: &TargetPolicy, peer: &str, refused: bool| {
        let result = p.check_connection("h", socket(peer));
        assert_eq!(
            result.is_err(),
            refused,
            "{:?} {peer}: {result:?}",
            p.own_api
        );
        if let Err(refusal) = result {
            assert!(
                refusal
                    .reason()
                    .contains("is this scheduler's own API (listening on"),
                "{refusal}"
            );
        }
    };
    let loopback = own("127.0.0.1:8080");
    check(&loopback, "127.0.0.1:8080", true);
    check(&loopback, "[::ffff:127.0.0.1]:8080", true);
    check(&loopback, "127.0.0.1:8081", false);
    check(&loopback, "127.0.0.2:8080", false);
    check(&TargetPolicy::default(), "127.0.0.1:8080", false);
    // An unspecified listen address: every local address with the port.
    for listen in ["0.0.0.0:8080", "[::]:8080"] {
        let any = own(listen);
        check(&any, "127.0.0.1:8080", true);
        check(&any, "127.8.9.10:8080", true);
        check(&any, "[::1]:8080", true);
        check(&any, "0.0.0.0:8080", true);
        check(&any, "127.0.0.1:9090", false);
        // TEST-NET-1: documentation only, on no interface of this machine.
        check(&any, "192.0.2.1:8080", false);
    }
    // The allow list does not lift it; the resolver's filter applies it (queue brokers
    // connect to what it returns).
    let allowing = TargetPolicy {
        allow: vec!["127.0.0.0/8".parse().unwrap()],
        own_api: vec![socket("127.0.0.1:8080")],
        ..TargetPolicy::default()
    };
    check(&allowing, "127.0.0.1:8080", true);
    let refused = allowing
        .filter("api.test", vec![socket("127.0.0.1:8080")])
        .expect_err("refused");
    assert!(refused.reason().contains("own API"), "{refused}");
    assert_eq!(
        allowing.filter(
            "api.test",
            vec![socket("127.0.0.1:8080"), socket("127.0.0.1:9")]
        ),
        Ok(vec![socket("127.0.0.1:9")])
    );
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
        own_api: Vec::new(),
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
    check(&p, "x", "0.0.0.0", Some("reserved"));
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
