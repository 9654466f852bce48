//! Authentication through the real binary: `scheduler tokens`, requests with and without a
//! token, scopes, revocation, the loopback rule, the `Host` check, JSON-or-token writes, the
//! client's `--token`, and HTTPS with a self-signed certificate made here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::support::{Server, db_path, request_with_headers, temp_dir, wait_until};
use crate::{scheduler, stderr, stdout};

/// `scheduler tokens create` on `db`: the token it prints.
fn create_token(db: &Path, scope: &str) -> String {
    let output = scheduler(&[
        "tokens",
        "create",
        "--scope",
        scope,
        "--name",
        "test",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    assert!(token.starts_with("sched_"), "{token}");
    token
}

/// One request with a bearer token (or none): the status and the body as JSON.
fn call(address: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let authorization = token.map(|token| format!("Authorization: Bearer {token}"));
    let mut headers = vec!["Content-Type: application/json"];
    headers.extend(authorization.as_deref());
    let body: &[u8] = if method == "POST" && path == "/api/jobs" {
        br#"{"schedule":"0 0 0 1 1 *","api":"http://127.0.0.1:9/x","type":"ATLEAST_ONCE"}"#
    } else {
        b""
    };
    let (status, text) = request_with_headers(address, method, path, &headers, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn tokens_gate_the_api_once_one_exists() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let admin = create_token(&db, "admin");
    let read = create_token(&db, "read");
    let server = Server::start(&db, &[]);
    let address = server.address;

    let (status, body) = call(address, "GET", "/api/jobs", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(call(address, "GET", "/api/health", None).0, 200);
    assert_eq!(call(address, "GET", "/api/jobs", Some(&admin)).0, 200);
    assert_eq!(call(address, "GET", "/api/jobs", Some(&read)).0, 200);
    let (status, body) = call(address, "POST", "/api/jobs", Some(&read));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = call(address, "POST", "/api/jobs", Some(&admin));
    assert_eq!(status, 201, "{body}");

    // The listing shows ids and scopes, never a token.
    let output = scheduler(&["tokens", "list", "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    let admin_id = admin.split('_').nth(1).unwrap();
    assert!(
        listing.contains(admin_id) && listing.contains("admin") && listing.contains("read"),
        "{listing}"
    );
    assert!(
        !listing.contains(&admin) && !listing.contains(&read),
        "{listing}"
    );

    // The client sends --token (or SCHEDULER_TOKEN).
    let url = format!("http://{address}");
    let output = scheduler(&["jobs", "list", "--server", &url]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));
    let output = scheduler(&["jobs", "list", "--server", &url, "--token", &admin]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1));
    let from_environment = |token: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scheduler"))
            .args(args)
            .env("SCHEDULER_TOKEN", token)
            .output()
            .expect("the scheduler binary runs")
    };
    let output = from_environment(&admin, &["jobs", "list", "--server", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1));
    let job_id = listed["jobs"][0]["jobId"].as_str().expect("a job id");
    // A read token from the environment reads, and may not pause.
    let output = from_environment(&read, &["jobs", "pause", job_id, "--server", &url]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("403"), "{}", stderr(&output));

    // A revoked token is refused within seconds, by the running server.
    let output = scheduler(&["tokens", "revoke", admin_id, "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    wait_until("the revoked token is refused", || {
        call(address, "GET", "/api/jobs", Some(&admin)).0 == 401
    });
    assert_eq!(call(address, "GET", "/api/jobs", Some(&read)).0, 200);
    let output = scheduler(&[
        "tokens",
        "revoke",
        "0000000000000000",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no token has the id"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn loopback_without_tokens_is_open_to_loopback_names_and_json_only() {
    let dir = temp_dir();
    let server = Server::start(&db_path(&dir), &[]);
    let address = server.address;
    let (status, job) = call(address, "POST", "/api/jobs", None);
    assert_eq!(status, 201, "{job}");
    let pause = format!("/api/jobs/{}/pause", job["jobId"].as_str().unwrap());

    // What a cross-site form would send.
    let (status, text) =
        request_with_headers(address, "POST", &pause, &["Content-Type: text/plain"], b"x");
    assert_eq!(status, 415, "{text}");
    // A page on another name, rebound to 127.0.0.1.
    let (status, text) = request_with_headers(
        address,
        "GET",
        "/api/jobs",
        &["Host: attacker.example"],
        b"",
    );
    assert_eq!(status, 421, "{text}");
    assert!(text.contains("host_not_allowed"), "{text}");
    let (status, text) =
        request_with_headers(address, "GET", "/api/jobs", &["Host: localhost"], b"");
    assert_eq!(status, 200, "{text}");
    assert_eq!(call(address, "POST", &pause, None).0, 200);

    // Creating a token turns authentication on for the running server.
    let token = create_token(&db_path(&dir), "admin");
    wait_until("requests without a token are refused", || {
        call(address, "GET", "/api/jobs", None).0 == 401
    });
    assert_eq!(call(address, "GET", "/api/jobs", Some(&token)).0, 200);
}

#[test]
fn a_non_loopback_address_needs_tokens_or_insecure_no_auth() {
    let dir = temp_dir();
    let db = db_path(&dir);
    // Refused before anything listens.
    let output = scheduler(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("refusing to serve the API on 0.0.0.0:0"),
        "{text}"
    );
    assert!(
        text.contains("scheduler tokens create") && text.contains("--insecure-no-auth"),
        "{text}"
    );

    // `--insecure-no-auth` turns tokens off (here on loopback, where every test server
    // listens), with a warning, even when the database holds a token.
    let _token = create_token(&db, "admin");
    let server = Server::start(&db, &["--insecure-no-auth"]);
    assert_eq!(call(server.address, "GET", "/api/jobs", None).0, 200);
    assert!(
        server
            .log()
            .contains("API authentication is off (--insecure-no-auth)"),
        "{}",
        server.log()
    );
}

#[test]
fn https_serves_the_api_with_the_given_certificate() {
    let dir = temp_dir();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let certificate = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&certificate, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        &db_path(&dir),
        &[
            "--tls-cert",
            certificate.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    // The log line that gave the address reaches the log just after.
    wait_until("the log says https", || {
        server.log().contains("listening on https://")
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(https_get(
        server.address,
        certified.cert.der().clone(),
        "/api/health",
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\""), "{answer}");

    // Plain HTTP to the HTTPS port gets no API answer.
    let mut plain = std::net::TcpStream::connect(server.address).expect("connect");
    plain
        .set_read_timeout(Some(crate::support::DEADLINE))
        .unwrap();
    std::io::Write::write_all(
        &mut plain,
        b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
}

#[test]
fn tls_connections_count_against_the_per_client_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = temp_dir();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let certificate = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&certificate, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        &db_path(&dir),
        &[
            "--tls-cert",
            certificate.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--max-connections-per-client",
            "1",
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // One connection, answered and kept open (HTTP/1.1 keep-alive), fills the limit.
        let mut held = tls_connect(server.address, certified.cert.der().clone()).await;
        held.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let read = held.read(&mut byte).await.expect("read the answer's head");
            assert_eq!(read, 1, "closed early: {}", String::from_utf8_lossy(&head));
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        // A second TLS connection from the same address is over the limit.
        let answer = https_get(server.address, certified.cert.der().clone(), "/api/health").await;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("too_many_connections"), "{answer}");
        drop(held);
    });
}

/// One HTTPS GET with a client that trusts only `certificate`: the raw answer.
async fn https_get(
    address: SocketAddr,
    certificate: rustls_pki_types::CertificateDer<'static>,
    path: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut tls = tls_connect(address, certificate).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server may close without a TLS close_notify after `Connection: close`.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A TLS connection to `address` by a client that trusts only `certificate`.
async fn tls_connect(
    address: SocketAddr,
    certificate: rustls_pki_types::CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate).expect("the certificate is a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake")
}

#[test]
fn bad_certificates_and_keys_are_refused_with_the_file_named() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let certificate = dir.path().join("cert.pem");
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&certificate, certified.cert.pem()).unwrap();
    std::fs::write(&other_key, other.signing_key.serialize_pem()).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let cases = [
        (
            path(&missing),
            path(&other_key),
            format!("reading the TLS certificate {}", path(&missing)),
        ),
        (
            path(&garbage),
            path(&other_key),
            format!(
                "the TLS certificate {} holds no certificate",
                path(&garbage)
            ),
        ),
        (
            path(&certificate),
            path(&garbage),
            format!(
                "the TLS private key {} holds no usable private key",
                path(&garbage)
            ),
        ),
        (
            path(&certificate),
            path(&other_key),
            format!("does not fit the certificate {}", path(&certificate)),
        ),
    ];
    for (cert, key, expected) in cases {
        let output = scheduler(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &path(&db),
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(&expected),
            "{expected}: {}",
            stderr(&output)
        );
    }
    assert!(!db.exists(), "refused before the database was made");
    let output = scheduler(&["serve", "--tls-cert", &path(&certificate)]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--tls-key"), "{}", stderr(&output));
}

#[test]
fn tokens_work_on_postgresql() {
    let Some(schema) = crate::postgres::Schema::create("tokens_work_on_postgresql") else {
        return;
    };
    let db = schema.db();
    let output = scheduler(&["tokens", "create", "--scope", "read", "--db", &db]);
    assert!(output.status.success(), "{}", stderr(&output));
    let read = stdout(&output).trim().to_owned();
    let server = Server::start(Path::new(&db), &[]);
    assert_eq!(call(server.address, "GET", "/api/jobs", None).0, 401);
    assert_eq!(call(server.address, "GET", "/api/jobs", Some(&read)).0, 200);
    assert_eq!(
        call(server.address, "POST", "/api/jobs", Some(&read)).0,
        403
    );
    let rows = schema.connect().query(&format!(
        "SELECT scope, secret_hash FROM {}.api_tokens",
        schema.name
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "read");
    let hash: Vec<u8> = rows[0].get(1);
    assert_eq!(hash.len(), 32, "only the hash is stored");
}
