//! Who may call the API: bearer tokens and their scopes, the `Host` check against DNS
//! rebinding, and the rule that keeps cross-site forms from changing anything.
//!
//! The middleware ([`check`]) runs before every route. In order:
//!
//! 1. `GET /api/health`, `GET /api/openapi.json` and the dashboard (`GET /` and its
//!    `/assets/`) pass: they reveal nothing and change nothing, and service managers probe
//!    health by address. The dashboard asks for a token when the API it calls answers 401.
//! 2. The `Host` header must name an allowed host ([`AllowedHosts`]), else `421`.
//! 3. With a [`TokenVerifier`], an `Authorization` header must be `Bearer <token>` with a
//!    known, unrevoked token, else `401` with `WWW-Authenticate: Bearer`. Without one the header
//!    is not read.
//! 4. When tokens are required (the server has a [`TokenVerifier`] and its store holds a
//!    token), a request without one gets `401`, except the metrics when [`MetricsAccess::Open`].
//! 5. A `read` token may only read (`GET`, `HEAD`): anything else is `403`.
//! 6. A request with any method but `GET`, `HEAD` or `OPTIONS`, on any path, without an
//!    `Authorization` header must say `Content-Type: application/json` (or
//!    `application/x-ndjson`, for a batch), else `415`: a cross-site HTML form
//!    can send only `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`, and
//!    cannot set `Authorization`. The rule does not depend on the path, so no spelling of one
//!    (percent-encoded, doubled slashes, dot segments) can reach a route that writes without it.
//!
//! The paths of step 1 and of the open metrics are compared with the path as the router matches
//! it: percent-decoded, as actix decodes it before routing, so `/api/%68ealth` is `/api/health`
//! here as there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::http::header;
use ring::rand::SecureRandom as _;
use scheduler_core::{StoredToken, Timestamp, TokenScope, TokenStore};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;

/// The beginning of every token, so that a token is recognisable in a file or a log (secret
/// scanners can look for it).
pub const TOKEN_PREFIX: &str = "sched_";

/// Hex digits of a token's id (64 random bits).
const ID_HEX: usize = 16;
/// Hex digits of a token's secret (256 random bits).
const SECRET_HEX: usize = 64;

/// A token just made: its text, shown once, and what the store keeps of it.
#[derive(Debug)]
pub struct NewToken {
    /// The whole token, `sched_<id>_<secret>`: what a client sends as
    /// `Authorization: Bearer <text>`. It is never stored.
    pub text: String,
    /// What the store keeps: the id, scope, label and SHA-256 of [`NewToken::text`].
    pub stored: StoredToken,
}

impl NewToken {
    /// A new random token (the id and the secret from the operating system's random
    /// generator), created at `now`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Internal`] when the operating system's random generator fails.
    pub fn generate(
        scope: TokenScope,
        name: Option<String>,
        now: Timestamp,
    ) -> Result<NewToken, ApiError> {
        let random = ring::rand::SystemRandom::new();
        let mut id = [0u8; ID_HEX / 2];
        let mut secret = [0u8; SECRET_HEX / 2];
        random
            .fill(&mut id)
            .and_then(|()| random.fill(&mut secret))
            .map_err(|_| ApiError::Internal {
                message: "the operating system's random generator failed".to_owned(),
            })?;
        let id = hex(&id);
        let text = format!("{TOKEN_PREFIX}{id}_{}", hex(&secret));
        Ok(NewToken {
            stored: StoredToken {
                id,
                name,
                scope,
                secret_hash: hash_token(&text),
                created_at: now,
                revoked_at: None,
            },
            text,
        })
    }
}

/// SHA-256 of a token's text: what a store keeps. A token has 256 random bits, so a fast hash
/// is enough; a slow password hash would only slow every request.
pub fn hash_token(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// The id of a well-formed token (`sched_<16 hex>_<64 hex>`), or `None`.
pub fn token_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let is_hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (is_hex(id, ID_HEX) && is_hex(secret, SECRET_HEX)).then_some(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks tokens against a [`TokenStore`], remembering what it read for a short while so that
/// a request costs no database read. Cheap to clone; clones share what they remember.
///
/// A token found is remembered for the `ttl` given to [`TokenVerifier::new`]: a revocation
/// takes effect within it. While the store fails, what it last said stands (a request with a
/// token never seen gets the store's error, 503 when transient). Unknown ids are not remembered (they would let anyone fill the
/// memory). That the store holds a token is remembered for good once seen, since tokens are
/// never deleted; that it holds none, for `ttl`.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    store: Arc<dyn TokenStore>,
    ttl: Duration,
    has_tokens: Mutex<Option<(bool, Instant)>>,
    found: Mutex<HashMap<String, (StoredToken, Instant)>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

/// The most tokens a verifier remembers; past it, it forgets them all and reads again.
const REMEMBERED_TOKENS: usize = 1_024;

impl TokenVerifier {
    /// How long the server binary's verifier remembers a token: a revocation takes effect
    /// within it.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(2);

    /// A verifier of the tokens in `store`, remembering each read for `ttl`.
    pub fn new(store: Arc<dyn TokenStore>, ttl: Duration) -> TokenVerifier {
        TokenVerifier {
            inner: Arc::new(VerifierInner {
                store,
                ttl,
                has_tokens: Mutex::new(None),
                found: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether the store holds any token (revoked ones count): then every request needs one.
    ///
    /// # Errors
    ///
    /// The store's failure, as an [`ApiError`] (503 for a transient one).
    pub async fn tokens_required(&self) -> Result<bool, ApiError> {
        let remembered = *lock(&self.inner.has_tokens);
        if let Some((known, at)) = remembered
            && (known || at.elapsed() < self.inner.ttl)
        {
            return Ok(known);
        }
        match self.inner.store.has_tokens().await {
            Ok(known) => {
                *lock(&self.inner.has_tokens) = Some((known, Instant::now()));
                Ok(known)
            }
            // The store is failing: what it last said holds until it answers again.
            Err(error) => remembered
                .map(|(known, _)| known)
                .ok_or_else(|| error.into()),
        }
    }

    /// The scope of `text`, a token's whole text.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthorized`] when the token is malformed, unknown, revoked or its secret
    /// is wrong; the store's failure otherwise.
    pub async fn verify(&self, text: &str) -> Result<TokenScope, ApiError> {
        let unauthorized = |message: String| ApiError::Unauthorized { message };
        let Some(id) = token_id(text) else {
            return Err(unauthorized(format!(
                "malformed token: expected {TOKEN_PREFIX}<id>_<secret>, as `scheduler tokens create` prints it"
            )));
        };
        let remembered = lock(&self.inner.found).get(id).cloned();
        let token = match remembered {
            Some((token, at)) if at.elapsed() < self.inner.ttl => token,
            stale => match self.inner.store.find_token(id).await {
                Ok(token) => {
                    let token = token.ok_or_else(|| unauthorized(format!("unknown token {id}")))?;
                    let mut found = lock(&self.inner.found);
                    if found.len() >= REMEMBERED_TOKENS {
                        found.clear();
                    }
                    found.insert(id.to_owned(), (token.clone(), Instant::now()));
                    token
                }
                // The store is failing (an outage): a token it last said was valid stays so
                // until it answers again; nobody can revoke it there meanwhile either.
                Err(error) => match stale {
                    Some((token, _)) => token,
                    None => return Err(error.into()),
                },
            },
        };
        // Constant time: how much of the hash matched must not show in the answer's timing.
        let matches: bool = hash_token(text).ct_eq(&token.secret_hash).into();
        if !matches {
            return Err(unauthorized(format!("invalid token {id}")));
        }
        if token.revoked_at.is_some() {
            return Err(unauthorized(format!("token {id} is revoked")));
        }
        Ok(token.scope)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one assignment or map operation: a poisoned value is whole.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which `Host` headers the API answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Loopback names (`localhost`, `127.0.0.1`, `[::1]`) while no token is required, and any
    /// host once tokens are: a token, not the name, is then what protects the API.
    #[default]
    LoopbackUntilTokens,
    /// These hosts only (lowercase, without port; `[::1]` with brackets), whether tokens are
    /// required or not. `*` allows any.
    Only(Vec<String>),
}

/// The loopback names [`AllowedHosts::LoopbackUntilTokens`] allows.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl AllowedHosts {
    /// A list as `--allowed-hosts` takes it: names separated by commas, with or without
    /// ports (`example.com`, `10.0.0.5:8080`, `[::1]`, `::1`, `*`).
    ///
    /// # Errors
    ///
    /// A message naming the empty or malformed entry.
    pub fn parse_list(text: &str) -> Result<AllowedHosts, String> {
        let mut hosts = Vec::new();
        for entry in text.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!("empty host name in {text:?}"));
            }
            let host = if entry.parse::<std::net::Ipv6Addr>().is_ok() {
                format!("[{entry}]")
            } else {
                host_name(entry).to_owned()
            };
            if host.is_empty() || entry.contains(['/', ' ', '@']) {
                return Err(format!("{entry:?} is not a host name"));
            }
            hosts.push(host.to_ascii_lowercase());
        }
        Ok(AllowedHosts::Only(hosts))
    }

    fn allows(&self, host: &str, tokens_required: bool) -> bool {
        match self {
            AllowedHosts::LoopbackUntilTokens => tokens_required || LOOPBACK_HOSTS.contains(&host),
            AllowedHosts::Only(hosts) => hosts
                .iter()
                .any(|allowed| allowed == "*" || allowed == host),
        }
    }
}

/// The host of a `Host` header, without its port: `example.com:8080` -> `example.com`,
/// `[::1]:80` -> `[::1]`.
fn host_name(header: &str) -> &str {
    if header.starts_with('[') {
        return header.find(']').map_or(header, |end| &header[..=end]);
    }
    header.split(':').next().unwrap_or(header)
}

/// Whether the metrics endpoints (`GET /metrics`, `GET /api/metrics`) need a token when tokens
/// are required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who can reach the API may read the metrics (they hold counts and timings, no job
    /// definitions): what a Prometheus scrape needs without credentials.
    #[default]
    Open,
    /// The metrics need a token like every other read.
    Token,
}

/// How the API authenticates. The default authenticates nothing (no [`TokenVerifier`]): the
/// server binary always sets one unless told `--insecure-no-auth`.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// Where tokens are checked; `None`: no token is ever required (an `Authorization` header
    /// is then ignored).
    pub tokens: Option<TokenVerifier>,
    /// Which `Host` headers are answered.
    pub allowed_hosts: AllowedHosts,
    /// Whether the metrics need a token.
    pub metrics: MetricsAccess,
}

/// Paths that are always open.
const OPEN_PATHS: [&str; 2] = ["/api/health", "/api/openapi.json"];
/// The metrics paths.
const METRICS_PATHS: [&str; 2] = ["/metrics", "/api/metrics"];

/// Checks one request against `config` (the order is in the module's documentation).
pub(crate) async fn check(request: &ServiceRequest, config: &AuthConfig) -> Result<(), ApiError> {
    // The decoded path the router matches, not the raw one: the two differ by percent-encoding.
    let path = request.match_info().as_str();
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if reads && (OPEN_PATHS.contains(&path) || crate::dashboard::is_dashboard_path(path)) {
        return Ok(());
    }
    let tokens_required = match &config.tokens {
        Some(verifier) => verifier.tokens_required().await?,
        None => false,
    };
    check_host(request, &config.allowed_hosts, tokens_required)?;

    // Without a verifier the header is not read: a proxy in front may use it for itself.
    let scope = match &config.tokens {
        Some(verifier) => match bearer_token(request)? {
            Some(token) => Some(verifier.verify(token).await?),
            None => None,
        },
        None => None,
    };
    let open_metrics =
        reads && config.metrics == MetricsAccess::Open && METRICS_PATHS.contains(&path);
    if tokens_required && scope.is_none() && !open_metrics {
        return Err(ApiError::Unauthorized {
            message: "this server requires a token: send Authorization: Bearer <token> (see `scheduler tokens create`)".to_owned(),
        });
    }
    if !reads && scope == Some(TokenScope::Read) {
        return Err(ApiError::Forbidden {
            message: format!(
                "a read token may only read (GET); {} needs an admin token",
                request.method()
            ),
        });
    }
    // No cross-site form can send an `Authorization` header, whatever its scheme.
    let has_credentials = request.headers().contains_key(header::AUTHORIZATION);
    if may_change_state(request.method()) && !has_credentials && !is_json(request) {
        return Err(ApiError::UnsupportedMediaType {
            found: content_type(request).unwrap_or("none").to_owned(),
        });
    }
    Ok(())
}

fn check_host(
    request: &ServiceRequest,
    allowed: &AllowedHosts,
    tokens_required: bool,
) -> Result<(), ApiError> {
    // HTTP/1.1 sends `Host`; HTTP/2 the authority of the URI. `X-Forwarded-Host` is not read:
    // a page that rebinds its name to this server is same-origin and may set it.
    let host = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().map_err(|_| ApiError::HostNotAllowed {
            host: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })?,
        None => match request.uri().authority() {
            Some(authority) => authority.as_str(),
            // HTTP/1.0 without a `Host`: no browser sends that.
            None => return Ok(()),
        },
    };
    let name = host_name(host).to_ascii_lowercase();
    if allowed.allows(&name, tokens_required) {
        Ok(())
    } else {
        Err(ApiError::HostNotAllowed {
            host: host.to_owned(),
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header, `None` without the header.
fn bearer_token(request: &ServiceRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ApiError::Unauthorized {
        message: "malformed Authorization header: expected Bearer <token>".to_owned(),
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

/// Whether a request with this method may change state: every method but `GET`, `HEAD` and
/// `OPTIONS`, whatever the path, so that a route added later is covered without a list to keep.
fn may_change_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn content_type(request: &ServiceRequest) -> Option<&str> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

/// `application/json`, or `application/x-ndjson` (a batch of jobs), with or without
/// parameters (`; charset=utf-8`). A cross-site form can send neither.
fn is_json(request: &ServiceRequest) -> bool {
    content_type(request).is_some_and(|value| {
        value.split(';').next().is_some_and(|media| {
            let media = media.trim();
            media.eq_ignore_ascii_case("application/json")
                || media.eq_ignore_ascii_case("application/x-ndjson")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_unique_and_hashed() {
        let now = Timestamp::UNIX_EPOCH;
        let a = NewToken::generate(TokenScope::Admin, Some("ci".to_owned()), now).unwrap();
        let b = NewToken::generate(TokenScope::Read, None, now).unwrap();
        assert_ne!(a.text, b.text);
        assert!(a.text.starts_with(TOKEN_PREFIX));
        assert_eq!(token_id(&a.text), Some(a.stored.id.as_str()));
        assert_eq!(a.stored.secret_hash, hash_token(&a.text));
        assert!(!a.text.contains(&hex(&a.stored.secret_hash)));
        assert_eq!(a.stored.name.as_deref(), Some("ci"));
        assert_eq!(b.stored.scope, TokenScope::Read);
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        let id = "0123456789abcdef";
        let secret = "a".repeat(64);
        let check =
            |text: &str, expected: Option<&str>| assert_eq!(token_id(text), expected, "{text}");
        check(&format!("sched_{id}_{secret}"), Some(id));
        check(&format!("sched_{id}_{}", &secret[1..]), None);
        check(&format!("sched_{}_{secret}", &id[1..]), None);
        check(&format!("sched_{}_{secret}", id.to_uppercase()), None);
        check(&format!("other_{id}_{secret}"), None);
        check(&format!("sched_{id}{secret}"), None);
        check("", None);
    }

    #[test]
    fn every_method_but_get_head_and_options_may_change_state() {
        for (method, expected) in [
            (Method::GET, false),
            (Method::HEAD, false),
            (Method::OPTIONS, false),
            (Method::POST, true),
            (Method::PUT, true),
            (Method::DELETE, true),
            (Method::PATCH, true),
            (Method::TRACE, true),
            (Method::CONNECT, true),
            (Method::from_bytes(b"JUNK").unwrap(), true),
        ] {
            assert_eq!(may_change_state(&method), expected, "{method}");
        }
    }

    #[test]
    fn host_names_lose_their_port() {
        let check = |header: &str, expected: &str| assert_eq!(host_name(header), expected);
        check("example.com", "example.com");
        check("example.com:8080", "example.com");
        check("127.0.0.1:80", "127.0.0.1");
        check("[::1]:8080", "[::1]");
        check("[::1]", "[::1]");
    }

    #[test]
    fn allowed_host_lists_parse() {
        assert_eq!(
            AllowedHosts::parse_list("Example.com, 10.0.0.5:8080,::1,[::1]:80,*"),
            Ok(AllowedHosts::Only(vec![
                "example.com".to_owned(),
                "10.0.0.5".to_owned(),
                "[::1]".to_owned(),
                "[::1]".to_owned(),
                "*".to_owned(),
            ]))
        );
        assert!(
            AllowedHosts::parse_list("a,,b")
                .unwrap_err()
                .contains("empty")
        );
        assert!(AllowedHosts::parse_list("http://x/").is_err());
    }

    #[test]
    fn loopback_hosts_are_allowed_until_tokens_are_required() {
        let hosts = AllowedHosts::LoopbackUntilTokens;
        assert!(hosts.allows("localhost", false));
        assert!(hosts.allows("[::1]", false));
        assert!(!hosts.allows("attacker.example", false));
        assert!(hosts.allows("attacker.example", true));
        let only = AllowedHosts::parse_list("api.example").unwrap();
        assert!(only.allows("api.example", true));
        assert!(!only.allows("localhost", false));
    }
}
