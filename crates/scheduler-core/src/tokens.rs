//! API tokens as a store keeps them: the boundary between the REST API, which checks tokens,
//! and the stores, which keep them.
//!
//! A token's secret never reaches a store: the store keeps its SHA-256 (`secret_hash`), and the
//! API compares the hash of what a client sends with it. The token's format, its generation and
//! the comparison live in `http-api`; this module only says what is stored.
//!
//! The trait is its own capability rather than part of [`Store`](crate::Store): the engine
//! never needs it, and a store of one's own need not keep tokens.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::BoxFuture;
use crate::{Result, Timestamp};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenScope {
    /// Reads: `GET` requests.
    Read,
    /// Everything.
    Admin,
}

impl TokenScope {
    /// The scope's name as stored and shown: `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Admin => "admin",
        }
    }

    /// The scope named `text` (`read` or `admin`), if any.
    pub fn parse(text: &str) -> Option<TokenScope> {
        match text {
            "read" => Some(TokenScope::Read),
            "admin" => Some(TokenScope::Admin),
            _ => None,
        }
    }
}

/// One API token as stored: everything but its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    /// The token's public id: part of the token, shown by listings, named by revocations.
    pub id: String,
    /// A label for people, if given.
    pub name: Option<String>,
    /// What the token may do.
    pub scope: TokenScope,
    /// SHA-256 of the whole token text.
    pub secret_hash: [u8; 32],
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked token is kept (listings show it) and never accepted.
    pub revoked_at: Option<Timestamp>,
}

/// Where API tokens are kept. Tokens are never deleted, only revoked, so that "a token was
/// ever created here" ([`TokenStore::has_tokens`]) cannot be undone by revoking them all.
pub trait TokenStore: Send + Sync {
    /// Stores a new token. Ids are random, so a duplicate id is a store error.
    fn insert_token(&self, token: StoredToken) -> BoxFuture<'_, Result<()>>;

    /// The token with this id, revoked or not.
    fn find_token(&self, id: &str) -> BoxFuture<'_, Result<Option<StoredToken>>>;

    /// Every token, oldest first.
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>>;

    /// Marks the token revoked at `at`. Returns whether a token with this id exists (revoking
    /// one already revoked keeps its first revocation time and returns `true`).
    fn revoke_token(&self, id: &str, at: Timestamp) -> BoxFuture<'_, Result<bool>>;

    /// Whether any token, revoked or not, was ever stored.
    fn has_tokens(&self) -> BoxFuture<'_, Result<bool>>;
}

/// Tokens in memory, for tests and for embedding without a database.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<BTreeMap<String, StoredToken>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> MemoryTokenStore {
        MemoryTokenStore::default()
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StoredToken>> {
        // A panic while holding the lock leaves the map whole: every change is one insert.
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenStore for MemoryTokenStore {
    fn insert_token(&self, token: StoredToken) -> BoxFuture<'_, Result<()>> {
        let result = {
            let mut tokens = self.tokens();
            if tokens.contains_key(&token.id) {
                Err(crate::Error::store(
                    crate::StoreErrorKind::Permanent,
                    "storing a token",
                    format!("token {} exists", token.id),
                ))
            } else {
                tokens.insert(token.id.clone(), token);
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn find_token(&self, id: &str) -> BoxFuture<'_, Result<Option<StoredToken>>> {
        let found = self.tokens().get(id).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>> {
        let mut all: Vec<StoredToken> = self.tokens().values().cloned().collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Box::pin(std::future::ready(Ok(all)))
    }

    fn revoke_token(&self, id: &str, at: Timestamp) -> BoxFuture<'_, Result<bool>> {
        let found = match self.tokens().get_mut(id) {
            Some(token) => {
                token.revoked_at.get_or_insert(at);
                true
            }
            None => false,
        };
        Box::pin(std::future::ready(Ok(found)))
    }

    fn has_tokens(&self) -> BoxFuture<'_, Result<bool>> {
        let any = !self.tokens().is_empty();
        Box::pin(std::future::ready(Ok(any)))
    }
}
