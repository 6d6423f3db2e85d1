//! The live event log: what a reconnecting client gets again.

use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::mpsc;

use crate::infra::fanout::{Event, Fanout};

use crate::db::now_ms;

/// PostgreSQL hands out `seq` at insert, not at commit: two writers could
/// commit 11 before 10, and a client that saw 11 would never ask for 10. One
/// transaction-scoped advisory lock, taken just before the append and held to
/// commit, makes `seq` order commit order. SQLite has one writer already.
pub async fn order_lock(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock(7468501)")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Appends an event inside the caller's transaction; returns its `seq`.
pub async fn append(
    conn: &mut AnyConnection,
    topic: &str,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<i64, sqlx::Error> {
    order_lock(conn).await?;
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO live_events (topic, kind, payload, created_at) VALUES ($1, $2, $3, $4)
         RETURNING seq",
    )
    .bind(topic)
    .bind(kind)
    .bind(payload.to_string())
    .bind(now_ms())
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

/// Appends events whose business transactions have committed, in one
/// statement of their own on the bookkeeping connection (notifications: a
/// money transaction must not queue behind the log's order lock, nor wait
/// for a second flush). On PostgreSQL the statement takes the order lock
/// before the identity hands out `seq`, and releases it when it commits.
/// Returns each event's `seq`, in the order given.
pub async fn append_batch(db: &crate::db::Db, events: &[Event]) -> Result<Vec<i64>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            format!(
                "(${}, ${}, ${}, ${})",
                4 * i + 1,
                4 * i + 2,
                4 * i + 3,
                4 * i + 4
            )
        })
        .collect();
    let mut conn = db.bookkeeping().await?;
    let sql = if conn.conn().backend_name() == "PostgreSQL" {
        format!(
            "WITH ordered AS (SELECT pg_advisory_xact_lock(7468501))
             INSERT INTO live_events (topic, kind, payload, created_at)
             SELECT v.topic, v.kind, v.payload, v.created_at
             FROM ordered, (VALUES {}) AS v (topic, kind, payload, created_at)
             RETURNING seq, topic, payload",
            rows.join(", ")
        )
    } else {
        format!(
            "INSERT INTO live_events (topic, kind, payload, created_at) VALUES {}
             RETURNING seq, topic, payload",
            rows.join(", ")
        )
    };
    let payloads: Vec<String> = events.iter().map(|e| e.payload.to_string()).collect();
    let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
    for (e, payload) in events.iter().zip(&payloads) {
        q = q
            .bind(e.topic.clone())
            .bind(e.kind.clone())
            .bind(payload.clone())
            .bind(now);
    }
    let mut written = q.fetch_all(conn.conn()).await?;
    // Matched back by content, whatever order the rows come back in.
    let mut seqs = Vec::with_capacity(events.len());
    for (e, payload) in events.iter().zip(&payloads) {
        let i = written
            .iter()
            .position(|(_, topic, p)| *topic == e.topic && p == payload)
            .ok_or_else(|| sqlx::Error::Protocol("a logged event was not returned".into()))?;
        seqs.push(written.swap_remove(i).0);
    }
    Ok(seqs)
}

/// Logs events after their commit and then fans them out, in batches: under
/// load one transaction carries many notifications. A crash between the
/// business commit and the batch loses the live push of its notifications,
/// never the notifications (their list and unread count have them).
#[derive(Clone)]
pub struct Logger {
    tx: mpsc::Sender<Event>,
    fanout: Arc<dyn Fanout>,
}

impl Logger {
    pub fn start(db: crate::db::Db, fanout: Arc<dyn Fanout>) -> Logger {
        let (tx, mut rx) = mpsc::channel::<Event>(10_000);
        let out = fanout.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 256 {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                match append_batch(&db, &batch).await {
                    Ok(seqs) => {
                        for (e, seq) in batch.iter_mut().zip(seqs) {
                            e.id = Some(seq);
                        }
                    }
                    // Still pushed to the sockets open now, without an id
                    // to resume from.
                    Err(e) => tracing::warn!(error = %e, "live events not logged"),
                }
                for e in batch {
                    out.publish(e);
                }
            }
        });
        Logger { tx, fanout }
    }

    pub fn log_and_publish(&self, event: Event) {
        if let Err(e) = self.tx.try_send(event) {
            // The writer is far behind (the database is away): push live only.
            let event = match e {
                mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
            };
            self.fanout.publish(event);
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub topic: String,
    pub kind: String,
    pub payload: String,
}

/// What `user_id` may see after `after`, oldest first: their own topic and
/// the conversations they are a member of now.
pub async fn after(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, topic, kind, payload FROM live_events
         WHERE seq > $2 AND (topic = 'user:' || $1 OR topic IN (
             SELECT 'conversation:' || conversation_id FROM conversation_members WHERE user_id = $1))
         ORDER BY seq LIMIT $3",
    )
    .bind(user_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The newest `seq` (0 on an empty log): where a new client starts.
pub async fn head(conn: impl sqlx::Executor<'_, Database = sqlx::Any>) -> Result<i64, sqlx::Error> {
    let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) AS seq FROM live_events")
        .fetch_one(conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// The topics of the conversations `user_id` belongs to.
pub async fn conversation_topics(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT conversation_id FROM conversation_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| format!("conversation:{id}"))
        .collect())
}

/// Forgets events older than `before` (ms): a client away longer reloads
/// through the REST lists instead.
pub async fn prune(conn: &mut AnyConnection, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM live_events WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn user_name(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(n,)| n))
}
