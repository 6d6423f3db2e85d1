//! Chat, feed and moderation tables.

pub mod conversations;
pub mod feed;
pub mod messages;
pub mod moderation;

pub type Exec<'c> = &'c mut sqlx::AnyConnection;

/// Ids of `ids` that are users.
pub async fn existing_users(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut found = Vec::new();
    for id in ids {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
        if let Some((id,)) = row {
            found.push(id);
        }
    }
    Ok(found)
}

/// The club a fan supports, or a staff member works for.
pub async fn home_club(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT staff_club_id, club_id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(staff, fan)| staff.or(fan)))
}

pub async fn club_name(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM clubs WHERE id = $1")
        .bind(club_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(n,)| n))
}

/// Whether `blocker` has blocked `blocked`.
pub async fn blocks(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    blocker: &str,
    blocked: &str,
) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) AS n FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
    )
    .bind(blocker)
    .bind(blocked)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}
