//! Several nodes on one store: each says it is alive (`heartbeat`, which also renews the leases
//! on the work it holds), takes back the work of a node whose leases expired
//! (`reclaim_expired`), and can be asked to drain (`drain`: finish what it holds, claim
//! nothing new, stop). Times of leases and heartbeats are the database's clock, so that nodes
//! whose clocks differ agree; on SQLite there is one node and this costs a few statements.

use super::tidings::Tiding;
use super::{Backend, Store, StoreError, interrupt};
use sqlx::Row;

/// A node as the store knows it (`faxhub cluster status`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeView {
    pub name: String,
    pub version: String,
    pub started_at_ms: i64,
    pub heartbeat_at_ms: i64,
    /// How long ago its last heartbeat was, by the database's clock.
    pub heartbeat_age_ms: i64,
    pub draining: bool,
    pub stopped_at_ms: Option<i64>,
    /// Calls in progress, conversions and outgoing mail it holds leases on.
    pub calls: i64,
    pub conversions: i64,
    pub mails: i64,
}

/// What `reclaim_expired` took back from nodes that stopped renewing their leases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Calls recorded as interrupted (job, number, the node that held it).
    pub calls: Vec<(crate::job::JobId, String, String)>,
    pub conversions: u64,
}

impl Store {
    /// Says this node is alive (registering it, running `version`, at its first beat) and
    /// renews the leases on everything it holds. Returns whether it was asked to drain.
    pub async fn heartbeat(&self, version: &str, started_at_ms: i64) -> Result<bool, StoreError> {
        let now = self.backend.now_ms();
        let lease = self.lease_sql();
        let mut tx = self.write_transaction().await?;
        sqlx::query(&format!(
            "INSERT INTO nodes (name, version, started_at, heartbeat_at) VALUES ($1, $2, $3, {now}) \
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, heartbeat_at = excluded.heartbeat_at, \
             stopped_at = NULL, \
             draining = CASE WHEN nodes.started_at = excluded.started_at THEN nodes.draining ELSE 0 END, \
             started_at = excluded.started_at"
        ))
        .bind(&*self.node)
        .bind(version)
        .bind(started_at_ms)
        .execute(&mut *tx)
        .await?;
        for renew in [
            "UPDATE recipients SET lease_until = {lease} WHERE node = $1 AND status = 'sending'",
            "UPDATE jobs SET lease_until = {lease} WHERE node = $1 AND conversion = 'converting'",
            "UPDATE outbox SET lease_until = {lease} WHERE node = $1 AND state = 'queued' AND lease_until IS NOT NULL",
        ] {
            sqlx::query(&renew.replace("{lease}", &lease))
                .bind(&*self.node)
                .execute(&mut *tx)
                .await?;
        }
        let draining: i64 = sqlx::query("SELECT draining FROM nodes WHERE name = $1")
            .bind(&*self.node)
            .fetch_one(&mut *tx)
            .await?
            .try_get("draining")?;
        tx.commit().await?;
        Ok(draining != 0)
    }

    /// Takes back the work of other nodes whose leases expired: their calls are recorded as
    /// interrupted (with the pages confirmed so far) and their recipients due again now, their
    /// conversions pending again. Outgoing mail needs nothing: an expired claim is no claim.
    pub async fn reclaim_expired(&self, now_ms: i64) -> Result<Reclaimed, StoreError> {
        let now = self.backend.now_ms();
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(&format!(
            "SELECT job_id, idx, number, progress, node FROM recipients \
             WHERE status = 'sending' AND lease_until < {now} AND node <> $1{}",
            self.backend.skip_locked()
        ))
        .bind(&*self.node)
        .fetch_all(&mut *tx)
        .await?;
        let mut reclaimed = Reclaimed::default();
        for row in &rows {
            let node: String = row.try_get("node")?;
            let reason = format!(
                "attempt interrupted: node {node} stopped renewing its claim during the call"
            );
            let (job, number) = interrupt(&mut tx, row, &reason, now_ms).await?;
            reclaimed.calls.push((job, number, node));
        }
        let conversions = sqlx::query(&format!(
            "UPDATE jobs SET conversion = 'pending', node = NULL, lease_until = NULL \
             WHERE conversion = 'converting' AND lease_until < {now} AND node <> $1"
        ))
        .bind(&*self.node)
        .execute(&mut *tx)
        .await?;
        reclaimed.conversions = conversions.rows_affected();
        tx.commit().await?;
        self.tell(Tiding::Work).await;
        Ok(reclaimed)
    }

    /// Asks node `name` to drain (it sees it at its next heartbeat); false if no such node.
    pub async fn drain(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE nodes SET draining = 1 WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// This node stopped: its remaining leases are released (what it still held is taken back
    /// by the next node to look, at once, instead of after the lease).
    pub async fn node_stopped(&self) -> Result<(), StoreError> {
        let now = self.backend.now_ms();
        let mut tx = self.write_transaction().await?;
        sqlx::query(&format!(
            "UPDATE nodes SET stopped_at = {now} WHERE name = $1"
        ))
        .bind(&*self.node)
        .execute(&mut *tx)
        .await?;
        for release in [
            "UPDATE recipients SET lease_until = 0 WHERE node = $1 AND status = 'sending'",
            "UPDATE jobs SET lease_until = 0 WHERE node = $1 AND conversion = 'converting'",
            "UPDATE outbox SET node = NULL, lease_until = NULL WHERE node = $1 AND state = 'queued'",
        ] {
            sqlx::query(release)
                .bind(&*self.node)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every node the store has seen, with what each holds.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, StoreError> {
        let now = self.backend.now_ms();
        let rows = sqlx::query(&format!(
            "SELECT n.name, n.version, n.started_at, n.heartbeat_at, {now} - n.heartbeat_at AS age, \
             n.draining, n.stopped_at, \
             (SELECT COUNT(*) FROM recipients r WHERE r.node = n.name AND r.status = 'sending') AS calls, \
             (SELECT COUNT(*) FROM jobs j WHERE j.node = n.name AND j.conversion = 'converting') AS conversions, \
             (SELECT COUNT(*) FROM outbox o WHERE o.node = n.name AND o.state = 'queued') AS mails \
             FROM nodes n ORDER BY n.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NodeView {
                    name: row.try_get("name")?,
                    version: row.try_get("version")?,
                    started_at_ms: row.try_get("started_at")?,
                    heartbeat_at_ms: row.try_get("heartbeat_at")?,
                    heartbeat_age_ms: row.try_get("age")?,
                    draining: row.try_get::<i64, _>("draining")? != 0,
                    stopped_at_ms: row.try_get("stopped_at")?,
                    calls: row.try_get("calls")?,
                    conversions: row.try_get("conversions")?,
                    mails: row.try_get("mails")?,
                })
            })
            .collect()
    }

    /// Whether this store is shared by several nodes (PostgreSQL).
    pub fn clustered(&self) -> bool {
        self.backend == Backend::Postgres
    }
}

/// What the other nodes say on the store's channel (PostgreSQL's LISTEN): "work", "outcome" or
/// "mail", as `Store::notify` sends them.
pub struct Notifications(sqlx::postgres::PgListener);

impl Notifications {
    /// Listens on the database at `url`.
    pub async fn listen(url: &str) -> Result<Notifications, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Notifications(listener))
    }

    /// The next thing said; `None` when the connection broke and was made again (what was
    /// said meanwhile is lost: look at everything).
    pub async fn next(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_string()))
    }
}

/// The channel nodes NOTIFY each other on.
pub(super) const CHANNEL: &str = "faxhub";

/// A role one node plays at a time (a transport agent, the retention purge): on PostgreSQL a
/// session advisory lock held on a connection of its own, released when the node stops, dies or
/// loses the database (another node takes the role then); on SQLite, one node, always held.
pub struct Role {
    conn: Option<sqlx::AnyConnection>,
}

impl Role {
    /// Whether this node still holds the role (its connection is alive).
    pub async fn held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
        }
    }
}

impl Store {
    /// The role `name`, if no other node holds it.
    pub async fn try_role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Role { conn: None }));
        }
        let mut conn = self.pool.acquire().await?.detach();
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock(hashtext($1)) AS got")
            .bind(format!("role {name}"))
            .fetch_one(&mut conn)
            .await?
            .try_get("got")?;
        Ok(got.then_some(Role { conn: Some(conn) }))
    }
}
