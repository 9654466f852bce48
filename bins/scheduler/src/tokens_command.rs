//! `scheduler tokens`: API tokens, made and revoked on the database directly (the server need
//! not run; a running server sees a change within `TokenVerifier::DEFAULT_TTL`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use http_api::NewToken;
use scheduler_core::{Timestamp, TokenScope, TokenStore};
use store::{PostgresConfig, PostgresStore, SqliteConfig, SqliteStore};

use crate::logging::{self, LogFormat};
use crate::serve_command::DEFAULT_DB;

/// `scheduler tokens ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Create a token and print it, once: it is stored only as a hash. From then on, every
    /// request to the API needs a token.
    Create(CreateArgs),
    /// List the tokens: ids, scopes, names, creation and revocation times (never the tokens).
    List(DbArg),
    /// Revoke a token by its id; a running server refuses it within a few seconds.
    Revoke(RevokeArgs),
}

/// The database, as `serve --db` takes it.
#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// The SQLite database file or PostgreSQL URL the server uses.
    #[arg(long, env = "SCHEDULER_DB", default_value = DEFAULT_DB)]
    db: String,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// What the token may do: `read` (GET requests) or `admin` (everything).
    #[arg(long, value_enum)]
    scope: ScopeArg,
    /// A label for people (who or what uses the token).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The token's id, as `scheduler tokens list` shows it.
    id: String,
    #[command(flatten)]
    db: DbArg,
}

/// `--scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScopeArg {
    /// GET requests only.
    Read,
    /// Every request.
    Admin,
}

impl From<ScopeArg> for TokenScope {
    fn from(scope: ScopeArg) -> TokenScope {
        match scope {
            ScopeArg::Read => TokenScope::Read,
            ScopeArg::Admin => TokenScope::Admin,
        }
    }
}

/// Runs a `tokens` command.
pub(crate) async fn run(command: TokensCommand) -> anyhow::Result<ExitCode> {
    logging::init("warn", LogFormat::Text, None);
    match command {
        TokensCommand::Create(args) => {
            let tokens = open(&args.db.db).await?;
            let token = NewToken::generate(args.scope.into(), args.name, Timestamp::now())?;
            let id = token.stored.id.clone();
            tokens
                .insert_token(token.stored)
                .await
                .context("storing the token")?;
            println!("{}", token.text);
            eprintln!(
                "created {} token {id}; it is shown only now: keep it secret, and send it as `Authorization: Bearer <token>`",
                TokenScope::from(args.scope).as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::List(args) => {
            let tokens = open(&args.db).await?;
            let all = tokens.list_tokens().await.context("listing the tokens")?;
            println!(
                "{:<16}  {:<5}  {:<24}  {:<24}  NAME",
                "ID", "SCOPE", "CREATED", "REVOKED"
            );
            for token in all {
                println!(
                    "{:<16}  {:<5}  {:<24}  {:<24}  {}",
                    token.id,
                    token.scope.as_str(),
                    token.created_at.to_string(),
                    token
                        .revoked_at
                        .map_or_else(|| "-".to_owned(), |at| at.to_string()),
                    token.name.as_deref().unwrap_or("-")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke(args) => {
            let tokens = open(&args.db.db).await?;
            if tokens
                .revoke_token(&args.id, Timestamp::now())
                .await
                .context("revoking the token")?
            {
                println!("revoked token {}", args.id);
                Ok(ExitCode::SUCCESS)
            } else {
                anyhow::bail!(
                    "no token has the id {:?} (see `scheduler tokens list`)",
                    args.id
                )
            }
        }
    }
}

/// The store `--db` names (a new SQLite database if there is none yet).
async fn open(db: &str) -> anyhow::Result<Arc<dyn TokenStore>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let store = PostgresStore::connect(&PostgresConfig::new(db)).await?;
        return Ok(Arc::new(store));
    }
    let path = std::path::Path::new(db);
    let store = SqliteStore::open(&SqliteConfig::new(path))
        .map_err(|error| crate::db_command::with_remedy(error, path))?;
    Ok(Arc::new(store))
}
