//! The spool in the store, for several nodes: a spool file goes into `blobs` (1 MiB chunks) in
//! the same transaction as the row that refers to it (a job's message, its page sets, a mail of
//! the outbox), so that `250` still means committed with its content, and no node needs a
//! shared file system. Each node's spool directory is then a cache: a file not there is fetched
//! (`Spool::local`). Blobs go with their rows when those are purged, and `collect_blobs`
//! removes any no row refers to. Only a store given a spool (`with_blobs`, PostgreSQL) does
//! any of this; with SQLite the spool is on the local disk.

use super::{Any, Store, StoreError};
use crate::spool::Spool;
use sqlx::Row;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes per row of `blobs`.
pub(super) const CHUNK: usize = 1 << 20;
/// Whole small files per INSERT.
const SMALL_PER_STATEMENT: usize = 200;

/// Inserts `files` (each whole in one chunk) in one statement, and empties the list.
async fn insert_small(
    tx: &mut sqlx::Transaction<'static, Any>,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO blobs (name, seq, data) VALUES {}",
        super::values(files.len(), 3)
    );
    let mut q = sqlx::query(&sql);
    for (name, data) in files.drain(..) {
        q = q.bind(name).bind(0i64).bind(data);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    /// Copies the spool files `names` (and the companions of page sets) from this node's spool
    /// into the store, in `tx`; `replace`: they may be there already (a conversion done again
    /// after a lease expired). Small files go many to a statement. Nothing without
    /// `with_blobs`.
    pub(super) async fn put_blobs(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        names: &[&str],
        replace: bool,
    ) -> Result<(), StoreError> {
        let Some(root) = &self.blobs else {
            return Ok(());
        };
        // whole small files, inserted together
        let mut small: Vec<(String, Vec<u8>)> = Vec::new();
        let mut small_bytes = 0;
        for name in names {
            for (i, file) in Spool::companions(name).into_iter().enumerate() {
                // a page set's PDF and thumbnail are made with it, but only its TIFF is needed
                let path = root.join(&file);
                let mut reader = match tokio::fs::File::open(&path).await {
                    Ok(f) => f,
                    Err(e) if i > 0 && e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::Spool(file, e)),
                };
                if replace {
                    sqlx::query("DELETE FROM blobs WHERE name = $1")
                        .bind(&file)
                        .execute(&mut **tx)
                        .await?;
                }
                let mut seq = 0i64;
                loop {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    (&mut reader)
                        .take(CHUNK as u64)
                        .read_to_end(&mut chunk)
                        .await
                        .map_err(|e| StoreError::Spool(file.clone(), e))?;
                    let last = chunk.len() < CHUNK;
                    if seq == 0 && last {
                        small_bytes += chunk.len();
                        small.push((file.clone(), chunk));
                        if small_bytes >= CHUNK || small.len() >= SMALL_PER_STATEMENT {
                            insert_small(tx, &mut small).await?;
                            small_bytes = 0;
                        }
                        break;
                    }
                    if chunk.is_empty() {
                        break;
                    }
                    sqlx::query("INSERT INTO blobs (name, seq, data) VALUES ($1, $2, $3)")
                        .bind(&file)
                        .bind(seq)
                        .bind(chunk)
                        .execute(&mut **tx)
                        .await?;
                    seq += 1;
                    if last {
                        break;
                    }
                }
            }
        }
        insert_small(tx, &mut small).await
    }

    /// Puts `files` (name, content) into the store in `tx`, as `put_blobs` does spool files.
    /// Without `with_blobs` there is nowhere else to keep them: an error.
    pub(super) async fn put_blob_bytes(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        files: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        if self.blobs.is_none() {
            return Err(StoreError::Spool(
                files[0].0.to_string(),
                std::io::Error::other("a message held in memory, but this store keeps no files"),
            ));
        }
        let mut small: Vec<(String, Vec<u8>)> = Vec::new();
        let mut small_bytes = 0;
        for (name, content) in files {
            if content.len() < CHUNK {
                small_bytes += content.len();
                small.push((name.to_string(), content.to_vec()));
                if small_bytes >= CHUNK || small.len() >= SMALL_PER_STATEMENT {
                    insert_small(tx, &mut small).await?;
                    small_bytes = 0;
                }
                continue;
            }
            for (seq, chunk) in content.chunks(CHUNK).enumerate() {
                sqlx::query("INSERT INTO blobs (name, seq, data) VALUES ($1, $2, $3)")
                    .bind(*name)
                    .bind(seq as i64)
                    .bind(chunk.to_vec())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        insert_small(tx, &mut small).await
    }

    /// Writes the blob `name` to `dest` (created); false if the store has no such blob.
    pub async fn get_blob(&self, name: &str, dest: &Path) -> Result<bool, StoreError> {
        let spool_err = |e| StoreError::Spool(name.to_string(), e);
        let mut out: Option<tokio::fs::File> = None;
        for seq in 0i64.. {
            let Some(row) = sqlx::query("SELECT data FROM blobs WHERE name = $1 AND seq = $2")
                .bind(name)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?
            else {
                break;
            };
            let data: Vec<u8> = row.try_get("data")?;
            let file = match &mut out {
                Some(f) => f,
                None => out.insert(tokio::fs::File::create(dest).await.map_err(spool_err)?),
            };
            file.write_all(&data).await.map_err(spool_err)?;
        }
        match out {
            Some(mut f) => {
                f.flush().await.map_err(spool_err)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Deletes the blobs of the spool files `names` (with their companions), in `tx`.
    pub(super) async fn delete_blobs(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        names: &[String],
    ) -> Result<(), StoreError> {
        if self.blobs.is_none() {
            return Ok(());
        }
        for name in names {
            for file in Spool::companions(name) {
                sqlx::query("DELETE FROM blobs WHERE name = $1")
                    .bind(file)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes blobs no job, recipient or mail refers to; how many files.
    pub async fn collect_blobs(&self) -> Result<u64, StoreError> {
        if self.blobs.is_none() {
            return Ok(0);
        }
        let names = sqlx::query("SELECT DISTINCT name FROM blobs")
            .fetch_all(&self.pool)
            .await?;
        let referenced: std::collections::HashSet<String> = self
            .spool_paths()
            .await?
            .iter()
            .flat_map(|p| Spool::companions(p))
            .chain(self.mail_paths().await?)
            .collect();
        let mut removed = 0;
        for row in names {
            let name: String = row.try_get("name")?;
            if !referenced.contains(&name) {
                sqlx::query("DELETE FROM blobs WHERE name = $1")
                    .bind(&name)
                    .execute(&self.writer)
                    .await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
