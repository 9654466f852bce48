//! Decoding the rows of `api_tokens`, shared by the SQLite and PostgreSQL stores.

use scheduler_core::{StoredToken, TokenScope};

use crate::codec::timestamp_from_millis;

/// The columns of `api_tokens`, in the order [`token_from_row`] takes them.
pub(crate) const TOKEN_COLUMNS: &str = "id, name, scope, secret_hash, created_at, revoked_at";

/// One row's values, as both databases return them.
pub(crate) struct TokenRow {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) scope: String,
    pub(crate) secret_hash: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

/// The token a row holds, or what is wrong with the row.
pub(crate) fn token_from_row(row: TokenRow) -> Result<StoredToken, String> {
    let scope = TokenScope::parse(&row.scope)
        .ok_or_else(|| format!("token {}: unknown scope {:?}", row.id, row.scope))?;
    let secret_hash: [u8; 32] = row.secret_hash.as_slice().try_into().map_err(|_| {
        format!(
            "token {}: a secret hash of {} bytes, not 32",
            row.id,
            row.secret_hash.len()
        )
    })?;
    Ok(StoredToken {
        created_at: timestamp_from_millis(row.created_at)?,
        revoked_at: row.revoked_at.map(timestamp_from_millis).transpose()?,
        id: row.id,
        name: row.name,
        scope,
        secret_hash,
    })
}
