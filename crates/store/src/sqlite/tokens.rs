//! API tokens (schema version 10): hashes only, never secrets.

use rusqlite::{OptionalExtension, params};
use scheduler_core::{BoxFuture, Result, StoredToken, Timestamp, TokenStore};

use super::{SqliteStore, store_error};
use crate::codec::millis;
use crate::tokens::{TOKEN_COLUMNS, TokenRow, token_from_row};

impl TokenStore for SqliteStore {
    fn insert_token(&self, token: StoredToken) -> BoxFuture<'_, Result<()>> {
        self.write(move |connection| {
            connection
                .execute(
                    "INSERT INTO api_tokens (id, name, scope, secret_hash, created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        token.id,
                        token.name,
                        token.scope.as_str(),
                        token.secret_hash.as_slice(),
                        millis(token.created_at),
                        token.revoked_at.map(millis),
                    ],
                )
                .map_err(store_error("storing a token"))?;
            Ok(())
        })
    }

    fn find_token(&self, id: &str) -> BoxFuture<'_, Result<Option<StoredToken>>> {
        let id = id.to_owned();
        self.read("reading a token", move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"
                ))?
                .query_row([id], decode)
                .optional()
        })
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>> {
        self.read("listing the tokens", |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
            ))?;
            let rows = statement.query_map([], decode)?;
            rows.collect()
        })
    }

    fn revoke_token(&self, id: &str, at: Timestamp) -> BoxFuture<'_, Result<bool>> {
        let id = id.to_owned();
        self.write(move |connection| {
            let changed = connection
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, millis(at)],
                )
                .map_err(store_error("revoking a token"))?;
            Ok(changed > 0)
        })
    }

    fn has_tokens(&self) -> BoxFuture<'_, Result<bool>> {
        self.read("counting the tokens", |connection| {
            connection
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_tokens)")?
                .query_row([], |row| row.get(0))
        })
    }
}

fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredToken> {
    token_from_row(TokenRow {
        id: row.get(0)?,
        name: row.get(1)?,
        scope: row.get(2)?,
        secret_hash: row.get(3)?,
        created_at: row.get(4)?,
        revoked_at: row.get(5)?,
    })
    .map_err(|reason| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, reason.into())
    })
}
