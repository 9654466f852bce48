//! API tokens: stored, found by id, listed oldest first, revoked without being deleted. The
//! same check runs on SQLite here, on the memory store, and on PostgreSQL in `postgres.rs`.

use scheduler_core::{MemoryTokenStore, StoredToken, Timestamp, TokenScope, TokenStore};
use store::SqliteStore;

use crate::support::{base_time, block_on};

fn token(id: &str, scope: TokenScope, name: Option<&str>, created_at: Timestamp) -> StoredToken {
    StoredToken {
        id: id.to_owned(),
        name: name.map(str::to_owned),
        scope,
        secret_hash: std::array::from_fn(|i| i as u8 ^ id.len() as u8),
        created_at,
        revoked_at: None,
    }
}

/// What every token store does.
pub(crate) async fn check_tokens(store: &dyn TokenStore) {
    assert!(
        !store.has_tokens().await.unwrap(),
        "a new store has no token"
    );
    assert_eq!(store.find_token("aaaa").await.unwrap(), None);
    assert!(store.list_tokens().await.unwrap().is_empty());
    assert!(
        !store.revoke_token("aaaa", base_time()).await.unwrap(),
        "revoking an unknown token says so"
    );

    let later = base_time()
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let admin = token("bbbb", TokenScope::Admin, Some("ci deploys"), later);
    let reader = token("aaaaa", TokenScope::Read, None, base_time());
    store.insert_token(admin.clone()).await.unwrap();
    store.insert_token(reader.clone()).await.unwrap();
    assert!(store.has_tokens().await.unwrap());
    assert!(
        store.insert_token(admin.clone()).await.is_err(),
        "a duplicate id is refused"
    );
    assert_eq!(store.find_token("bbbb").await.unwrap(), Some(admin.clone()));
    assert_eq!(
        store.list_tokens().await.unwrap(),
        vec![reader.clone(), admin.clone()],
        "oldest first"
    );

    let revoked_at = later
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    assert!(store.revoke_token("bbbb", revoked_at).await.unwrap());
    // A second revocation keeps the first time.
    assert!(store.revoke_token("bbbb", later).await.unwrap());
    let found = store.find_token("bbbb").await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(revoked_at));
    assert_eq!(found.secret_hash, admin.secret_hash);
    assert_eq!(
        store.find_token("aaaaa").await.unwrap().unwrap().revoked_at,
        None,
        "only the token named is revoked"
    );
    assert!(store.revoke_token("aaaaa", revoked_at).await.unwrap());
    assert!(
        store.has_tokens().await.unwrap(),
        "revoked tokens still count: revoking them all does not open the API"
    );
}

#[test]
fn sqlite_keeps_tokens() {
    let store = SqliteStore::open_temporary().expect("a temporary store");
    block_on(check_tokens(&store));
}

#[test]
fn memory_keeps_tokens() {
    block_on(check_tokens(&MemoryTokenStore::new()));
}
