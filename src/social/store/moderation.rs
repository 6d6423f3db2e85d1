//! Blocks and reports.

use sqlx::AnyConnection;

pub async fn block(
    conn: &mut AnyConnection,
    blocker: &str,
    blocked: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(blocker)
    .bind(blocked)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn unblock(
    conn: &mut AnyConnection,
    blocker: &str,
    blocked: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker)
        .bind(blocked)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub async fn blocked_by(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    blocker: &str,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.blocked_id, u.name, b.created_at FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.blocker_id = $1 ORDER BY b.created_at DESC LIMIT 1000",
    )
    .bind(blocker)
    .fetch_all(conn)
    .await
}

#[derive(sqlx::FromRow)]
pub struct ReportRow {
    pub id: String,
    pub reporter_id: String,
    pub target_kind: String,
    pub target_id: String,
    pub club_id: Option<String>,
    pub reason: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

pub struct NewReport<'a> {
    pub id: &'a str,
    pub reporter: &'a str,
    pub target_kind: &'a str,
    pub target_id: &'a str,
    pub club_id: Option<&'a str>,
    pub reason: &'a str,
    pub now: i64,
}

/// Files a report once per reporter and target; a second one returns the first.
pub async fn report(
    conn: &mut AnyConnection,
    r: NewReport<'_>,
) -> Result<(ReportRow, bool), sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO reports (id, reporter_id, target_kind, target_id, club_id, reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(r.id)
    .bind(r.reporter)
    .bind(r.target_kind)
    .bind(r.target_id)
    .bind(r.club_id)
    .bind(r.reason)
    .bind(r.now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let row = sqlx::query_as(
        "SELECT id, reporter_id, target_kind, target_id, club_id, reason, created_at, resolved_at
         FROM reports WHERE reporter_id = $1 AND target_kind = $2 AND target_id = $3",
    )
    .bind(r.reporter)
    .bind(r.target_kind)
    .bind(r.target_id)
    .fetch_one(conn)
    .await?;
    Ok((row, n == 1))
}

/// Open reports, oldest first: of one club's spaces, or all (`None`, admins).
pub async fn open_reports(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, reporter_id, target_kind, target_id, club_id, reason, created_at, resolved_at
         FROM reports
         WHERE resolved_at IS NULL AND ($1 = '' OR club_id = $1) AND ($2 = '' OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(club.unwrap_or(""))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Hiding content settles the reports about it.
pub async fn resolve(
    conn: &mut AnyConnection,
    target_kind: &str,
    target_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reports SET resolved_at = $3
         WHERE target_kind = $1 AND target_id = $2 AND resolved_at IS NULL",
    )
    .bind(target_kind)
    .bind(target_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
