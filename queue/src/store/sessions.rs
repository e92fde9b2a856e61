//! The web client's sessions: a row per signed-in browser, with the SHA-256 of its secret (never
//! the secret), who signed in and when the session ends. Making and checking the secret is the
//! daemon's (`faxhub::web::session`); the store keeps the rows, shared by every node.

use super::{Store, StoreError, opt_text, text};
use sqlx::Row;

/// A session as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    pub login: String,
    pub mail: String,
    pub name: Option<String>,
    pub admin: bool,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

const COLUMNS: &str = "id, hash, login, mail, name, admin, created_at, expires_at";

fn row(r: &sqlx::any::AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        hash: r.try_get("hash")?,
        login: r.try_get("login")?,
        mail: r.try_get("mail")?,
        name: r.try_get("name")?,
        admin: r.try_get::<i64, _>("admin")? != 0,
        created_at_ms: r.try_get("created_at")?,
        expires_at_ms: r.try_get("expires_at")?,
    })
}

impl Store {
    /// Keeps a new session, and ends the sessions expired by `now_ms`; an id already taken is
    /// an error (ids are random).
    pub async fn create_session(&self, s: &SessionRow, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.writer)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO web_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(text(&s.id))
        .bind(text(&s.hash))
        .bind(text(&s.login))
        .bind(text(&s.mail))
        .bind(opt_text(&s.name))
        .bind(i64::from(s.admin))
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The session `id` if it has not expired by `now_ms`.
    pub async fn session(&self, id: &str, now_ms: i64) -> Result<Option<SessionRow>, StoreError> {
        let found = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM web_sessions WHERE id = $1 AND expires_at > $2"
        ))
        .bind(text(id))
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        found.as_ref().map(row).transpose()
    }

    /// Ends the session `id` (sign-out); false if there was none.
    pub async fn end_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE id = $1")
            .bind(text(id))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
