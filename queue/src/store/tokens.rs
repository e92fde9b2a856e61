//! The HTTP API's tokens: a row per token, with the SHA-256 of its secret (never the secret),
//! its scopes, and the sender it may act for. Generating, parsing and checking a token is the
//! daemon's (`faxhub::http::token`); the store only keeps the rows.

use super::{Store, StoreError, opt_text, text};
use sqlx::Row;

/// A token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    /// The public part of the token.
    pub id: String,
    /// Hex SHA-256 of the secret.
    #[serde(skip)]
    pub hash: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// The sender this token acts for: it sees and sends that sender's jobs only.
    pub sender: Option<String>,
    pub name: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, hash, scopes, sender, name, created_at, revoked_at";

fn row(r: &sqlx::any::AnyRow) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        hash: r.try_get("hash")?,
        scopes: r.try_get("scopes")?,
        sender: r.try_get("sender")?,
        name: r.try_get("name")?,
        created_at_ms: r.try_get("created_at")?,
        revoked_at_ms: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Whether the store answers (a statement on the reading pool): `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Keeps a new token; an id already taken is an error (ids are random: a retry picks
    /// another).
    pub async fn create_token(&self, token: &TokenRow) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO api_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
        ))
        .bind(text(&token.id))
        .bind(text(&token.hash))
        .bind(text(&token.scopes))
        .bind(opt_text(&token.sender))
        .bind(opt_text(&token.name))
        .bind(token.created_at_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The token `id`, revoked or not.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let found = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
            .bind(text(id))
            .fetch_optional(&self.pool)
            .await?;
        found.as_ref().map(row).transpose()
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Revokes the token `id` at `now_ms`; false if there is no such token or it was revoked.
    pub async fn revoke_token(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(text(id))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
