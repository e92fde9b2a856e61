//! Start-up recovery, before any listener accepts: attempts left `sending` by a crash become
//! interrupted attempts (retried per policy, and counted), conversions left half-done start
//! again, partial spool writes are removed, and spool files no job refers to are quarantined
//! (a crash between rename and commit: the client got no 250 and sends again; a report not
//! queued is made again), or, when the spool is a cache of the store (several nodes), removed.
//! Logs what it did.

use faxhub_queue::job::now_ms;
use faxhub_queue::spool::{MAIL_DIR, MSG_DIR, PAGES_DIR, Spool};
use faxhub_queue::store::Store;
use std::collections::HashSet;

pub async fn recover(store: &Store, spool: &Spool) -> Result<(), String> {
    let recovery = store.recover(now_ms()).await.map_err(|e| e.to_string())?;
    for (job, number) in &recovery.interrupted {
        tracing::warn!(job = %job, rcpt = %number, from = "sending", to = "deferred", status = "4.4.7", reason = "attempt interrupted by a restart", "recovered");
    }
    if recovery.reconvert > 0 {
        tracing::info!(
            jobs = recovery.reconvert,
            "conversions interrupted by a restart will run again"
        );
    }
    let partial = spool
        .clean_tmp()
        .map_err(|e| format!("cleaning {}: {e}", spool.root().display()))?;
    if partial > 0 {
        tracing::info!(files = partial, "removed partial spool writes");
    }
    let known: HashSet<String> = store
        .spool_paths()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .flat_map(|p| Spool::companions(p))
        .chain(store.mail_paths().await.map_err(|e| e.to_string())?)
        .collect();
    for dir in [MSG_DIR, PAGES_DIR, MAIL_DIR] {
        for rel in spool.list(dir).map_err(|e| e.to_string())? {
            if !known.contains(&rel) && spool.is_cache() {
                // several nodes: a copy of a file the store no longer has (purged by another
                // node), or one whose row was never committed (the client got no 250)
                let _ = std::fs::remove_file(spool.path(&rel));
            } else if !known.contains(&rel) {
                let moved = spool
                    .quarantine(&rel)
                    .map_err(|e| format!("quarantining {rel}: {e}"))?;
                tracing::warn!(file = %rel, to = %moved.display(), "spool file with no job quarantined");
            }
        }
    }
    Ok(())
}
