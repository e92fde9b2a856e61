//! The store's side of destination memory (`crate::memory`): one row per number called, read
//! before each call and written after it; listed, pinned and forgotten by an operator.

use super::{Store, StoreError, text};
use crate::memory::{Destination, Profile};
use sqlx::Row;

const COLUMNS: &str =
    "number, t38, max_speed, ecm, pinned, last_ok, last_ok_at, last_failure, last_failure_at";

fn flag(v: Option<bool>) -> Option<i64> {
    v.map(i64::from)
}

fn destination(row: &sqlx::any::AnyRow) -> Result<Destination, StoreError> {
    let flag = |name: &str| -> Result<Option<bool>, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(|v| v != 0))
    };
    Ok(Destination {
        number: row.try_get("number")?,
        profile: Profile {
            t38: flag("t38")?,
            max_speed: row
                .try_get::<Option<i64>, _>("max_speed")?
                .map(|s| s.clamp(0, u32::MAX.into()) as u32),
            ecm: flag("ecm")?,
        },
        pinned: row.try_get::<i64, _>("pinned")? != 0,
        last_ok: row.try_get("last_ok")?,
        last_ok_at: row.try_get("last_ok_at")?,
        last_failure: row.try_get("last_failure")?,
        last_failure_at: row.try_get("last_failure_at")?,
    })
}

impl Store {
    /// What is known of `number` (E.164), if anything.
    pub async fn destination(&self, number: &str) -> Result<Option<Destination>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM destinations WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(destination).transpose()
    }

    /// Every number known, in order.
    pub async fn destinations(&self) -> Result<Vec<Destination>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM destinations ORDER BY number"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(destination).collect()
    }

    /// Writes what is known of a number (after a call, or an operator's pin).
    pub async fn remember(&self, d: &Destination, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO destinations (number, t38, max_speed, ecm, pinned, last_ok, last_ok_at, \
             last_failure, last_failure_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (number) DO UPDATE SET t38 = $2, max_speed = $3, ecm = $4, pinned = $5, \
             last_ok = $6, last_ok_at = $7, last_failure = $8, last_failure_at = $9, updated_at = $10",
        )
        .bind(&d.number)
        .bind(flag(d.profile.t38))
        .bind(d.profile.max_speed.map(i64::from))
        .bind(flag(d.profile.ecm))
        .bind(i64::from(d.pinned))
        .bind(d.last_ok.as_deref().map(text))
        .bind(d.last_ok_at)
        .bind(d.last_failure.as_deref().map(text))
        .bind(d.last_failure_at)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Forgets `number`: its calls start from the line's options again. False if unknown.
    pub async fn forget_destination(&self, number: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM destinations WHERE number = $1")
            .bind(number)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
