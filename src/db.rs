//! One database layer for SQLite and PostgreSQL (sqlx `Any`), chosen at run time from the URL.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("unsupported database URL (expected sqlite: or postgres://)")
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    /// Private: reads go through [`Db::reader`], writes through
    /// [`Db::begin_write`] or [`Db::bookkeeping`], so no write can skip
    /// SQLite's single-writer gate.
    pool: AnyPool,
    pub backend: Backend,
    /// SQLite allows one writer at a time; queuing writers here (FIFO) instead of
    /// letting them spin on SQLITE_BUSY keeps latency fair and avoids busy errors.
    write_gate: Option<Arc<Semaphore>>,
    /// PostgreSQL only: connections whose commits do not wait for the disk
    /// flush, for bookkeeping whose loss in a crash is harmless.
    relaxed: Option<AnyPool>,
    /// Reads that fill the in-memory public catalogue (`infra::readmodel`).
    snapshots: AnyPool,
}

/// One connection for single-statement (autocommit) bookkeeping writes,
/// holding SQLite's writer slot while it lives.
pub struct Bookkeeping {
    conn: sqlx::pool::PoolConnection<Any>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Bookkeeping {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// A write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken up
/// front, so a read followed by a write can never fail to upgrade), plain
/// `BEGIN` on PostgreSQL, where invariants rely on conditional updates.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

fn with_sqlite_pragmas(opts: AnyPoolOptions) -> AnyPoolOptions {
    opts.after_connect(|conn, _meta| {
        Box::pin(async move {
            // Money lives here: WAL for concurrent readers, FULL sync so a
            // committed transfer survives power loss, FKs enforced.
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.execute("PRAGMA synchronous = FULL").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            conn.execute("PRAGMA busy_timeout = 10000").await?;
            Ok(())
        })
    })
}

pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
}

impl Db {
    pub async fn connect(url: &str, settings: PoolSettings) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool_opts = checked_when_idle(
            AnyPoolOptions::new()
                .max_connections(settings.max_connections)
                .min_connections(settings.min_connections)
                .acquire_timeout(Duration::from_secs(10)),
        );
        if backend == Backend::Sqlite {
            pool_opts = with_sqlite_pragmas(pool_opts);
        }
        let pool = pool_opts.connect_with(options.clone()).await?;
        // Two connections of their own: filling the in-memory catalogue must
        // not queue behind the purchases of a ticket drop for the main pool.
        let mut snapshot_opts = checked_when_idle(
            AnyPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(10)),
        );
        if backend == Backend::Sqlite {
            snapshot_opts = with_sqlite_pragmas(snapshot_opts);
        }
        let snapshots = snapshot_opts.connect_lazy_with(options.clone());
        let relaxed = match backend {
            Backend::Postgres => Some(
                checked_when_idle(
                    AnyPoolOptions::new()
                        .max_connections((settings.max_connections / 2).max(2))
                        .acquire_timeout(Duration::from_secs(10)),
                )
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("SET synchronous_commit = off").await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options),
            ),
            Backend::Sqlite => None,
        };
        Ok(Db {
            pool,
            backend,
            write_gate: (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1))),
            relaxed,
            snapshots,
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let permit = match &self.write_gate {
            Some(gate) => Some(
                gate.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| sqlx::Error::PoolClosed)?,
            ),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            _permit: permit,
        })
    }

    /// A connection for bookkeeping written one statement at a time (each
    /// statement its own transaction), whose loss in a crash is harmless:
    /// idempotency reservations, where the ledger's unique key, committed
    /// durably with the money, still stops a second posting. On PostgreSQL
    /// such commits do not wait for the flush; on SQLite the writer slot is held.
    pub async fn bookkeeping(&self) -> Result<Bookkeeping, sqlx::Error> {
        let permit = match &self.write_gate {
            Some(gate) => Some(
                gate.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| sqlx::Error::PoolClosed)?,
            ),
            None => None,
        };
        let conn = match &self.relaxed {
            Some(pool) => pool.acquire().await?,
            None => self.pool.acquire().await?,
        };
        Ok(Bookkeeping {
            conn,
            _permit: permit,
        })
    }

    /// The pool that fills the in-memory catalogue; reads only.
    pub fn snapshots(&self) -> &AnyPool {
        &self.snapshots
    }

    /// The pool for reads. A statement run here must not write: SQLite's
    /// writer gate is not held (writes go through [`Db::begin_write`]).
    pub fn reader(&self) -> &AnyPool {
        &self.pool
    }

    /// A read-only transaction seeing one snapshot of the database, for reports
    /// whose queries must agree with each other while transfers go on.
    pub async fn snapshot(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let begin = match self.backend {
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Backend::Sqlite => "BEGIN",
        };
        self.pool.begin_with(begin).await
    }

    /// Waits for the pool's connections to close (shutdown, tests).
    pub async fn close(&self) {
        self.snapshots.close().await;
        self.pool.close().await
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await
    }
}

/// sqlx pings every connection it hands out by default: one more round trip
/// per acquire, which on the transfer path was a quarter of all of them. A
/// connection that was in use a moment ago is alive; only one that sat idle
/// (long enough for a server restart or a proxy timeout) is checked first.
fn checked_when_idle(opts: AnyPoolOptions) -> AnyPoolOptions {
    opts.test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(10) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Creates the folder of a file database and asks SQLite to create the file.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:"
        && !path.is_empty()
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    })
}

/// Pool exhaustion, SQLite busy and PostgreSQL serialization/deadlock errors:
/// nothing was committed, so the client may retry.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite BUSY/LOCKED (5, 6, extended 261, 262, 517), PG 40001/40P01/55P03.
            matches!(
                code.as_ref(),
                "5" | "6" | "261" | "262" | "517" | "40001" | "40P01" | "55P03"
            )
        }
        _ => false,
    }
}

/// Name of the violated unique/check constraint or index, on either engine.
///
/// PostgreSQL reports the constraint name; SQLite only reports the columns
/// (`UNIQUE constraint failed: users.email`), so callers match on either form.
pub fn constraint_violation(err: &sqlx::Error) -> Option<String> {
    if let sqlx::Error::Database(db) = err {
        if let Some(c) = db.constraint() {
            return Some(c.to_owned());
        }
        let msg = db.message();
        for prefix in [
            "UNIQUE constraint failed: ",
            "CHECK constraint failed: ",
            "FOREIGN KEY constraint failed",
        ] {
            if let Some(rest) = msg.strip_prefix(prefix) {
                return Some(rest.trim().to_owned());
            }
        }
        let code = db.code().unwrap_or_default();
        if matches!(
            code.as_ref(),
            "23505" | "23514" | "23503" | "2067" | "1555" | "275" | "787"
        ) {
            return Some(msg.to_owned());
        }
    }
    None
}

/// A named unique or check constraint, as each engine reports its violation:
/// PostgreSQL by name; SQLite by name for a CHECK constraint but by its
/// columns (`table.a, table.b`) for a UNIQUE one, so both are given.
#[derive(Debug, Clone, Copy)]
pub struct Constraint {
    pub name: &'static str,
    /// SQLite's spelling of a UNIQUE constraint; empty for a CHECK.
    pub columns: &'static str,
}

impl Constraint {
    pub const fn check(name: &'static str) -> Self {
        Constraint { name, columns: "" }
    }

    pub const fn unique(name: &'static str, columns: &'static str) -> Self {
        Constraint { name, columns }
    }

    /// Whether `err` is a violation of this constraint, on either engine.
    pub fn violated_by(&self, err: &sqlx::Error) -> bool {
        constraint_violation(err)
            .is_some_and(|c| c == self.name || (!self.columns.is_empty() && c == self.columns))
    }
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 UTC text of a millisecond timestamp, as the API shows times.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:?mode=rwc"
        );
        assert!(Backend::from_url("mysql://x").is_err());
    }
}
