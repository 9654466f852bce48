//! API tokens (schema version 4): hashes only, never secrets.

use scheduler_core::{
    BoxFuture, Error, Result, StoreErrorKind, StoredToken, Timestamp, TokenStore,
};

use super::{PostgresStore, failure};
use crate::codec::millis;
use crate::tokens::{TOKEN_COLUMNS, TokenRow, token_from_row};

impl TokenStore for PostgresStore {
    fn insert_token(&self, token: StoredToken) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            const WHAT: &str = "storing a token";
            let client = self.client(WHAT).await?;
            client
                .execute(
                    "INSERT INTO api_tokens (id, name, scope, secret_hash, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &token.id,
                        &token.name,
                        &token.scope.as_str(),
                        &token.secret_hash.as_slice(),
                        &millis(token.created_at),
                        &token.revoked_at.map(millis),
                    ],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(())
        })
    }

    fn find_token(&self, id: &str) -> BoxFuture<'_, Result<Option<StoredToken>>> {
        let id = id.to_owned();
        Box::pin(async move {
            const WHAT: &str = "reading a token";
            let client = self.client(WHAT).await?;
            let statement = client
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
                ))
                .await
                .map_err(failure::while_(WHAT))?;
            let row = client
                .query_opt(&statement, &[&id])
                .await
                .map_err(failure::while_(WHAT))?;
            row.map(|row| decode(&row, WHAT)).transpose()
        })
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>> {
        Box::pin(async move {
            const WHAT: &str = "listing the tokens";
            let client = self.client(WHAT).await?;
            let rows = client
                .query(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"),
                    &[],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            rows.iter().map(|row| decode(row, WHAT)).collect()
        })
    }

    fn revoke_token(&self, id: &str, at: Timestamp) -> BoxFuture<'_, Result<bool>> {
        let id = id.to_owned();
        Box::pin(async move {
            const WHAT: &str = "revoking a token";
            let client = self.client(WHAT).await?;
            let changed = client
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                    &[&id, &millis(at)],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(changed > 0)
        })
    }

    fn has_tokens(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            const WHAT: &str = "counting the tokens";
            let client = self.client(WHAT).await?;
            let statement = client
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_tokens)")
                .await
                .map_err(failure::while_(WHAT))?;
            let row = client
                .query_one(&statement, &[])
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(row.get(0))
        })
    }
}

fn decode(row: &tokio_postgres::Row, what: &'static str) -> Result<StoredToken> {
    token_from_row(TokenRow {
        id: row.get(0),
        name: row.get(1),
        scope: row.get(2),
        secret_hash: row.get(3),
        created_at: row.get(4),
        revoked_at: row.get(5),
    })
    .map_err(|reason| Error::store(StoreErrorKind::Corrupt, what, reason))
}
