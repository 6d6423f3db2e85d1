//! SQL for users and refresh tokens.

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};

use crate::auth::model::User;
use crate::auth::token::Role;
use crate::db::{Constraint, rfc3339};

/// A second account with the same e-mail.
pub const EMAIL_TAKEN: Constraint = Constraint::unique("users_email_key", "users.email");

pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

const USER_COLUMNS: &str =
    "id, email, name, club_id, role, staff_club_id, created_at, password_hash";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    club_id: Option<String>,
    role: String,
    staff_club_id: Option<String>,
    created_at: i64,
    password_hash: String,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = sqlx::Error;
    fn try_from(r: UserRow) -> Result<UserRecord, sqlx::Error> {
        // The CHECK constraint keeps roles to these words: another is corruption.
        let role = Role::parse(&r.role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {:?}", r.role).into()))?;
        Ok(UserRecord {
            user: User {
                id: r.id,
                email: r.email,
                name: r.name,
                club_id: r.club_id,
                role,
                staff_club_id: r.staff_club_id,
                created_at: rfc3339(r.created_at),
            },
            password_hash: r.password_hash,
        })
    }
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub name: &'a str,
    pub club_id: Option<&'a str>,
    pub role: Role,
    pub staff_club_id: Option<&'a str>,
    pub now: i64,
}

pub async fn insert_user(conn: &mut AnyConnection, u: NewUser<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, club_id, role, staff_club_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(u.id)
    .bind(u.email)
    .bind(u.password_hash)
    .bind(u.name)
    .bind(u.club_id)
    .bind(u.role.as_str())
    .bind(u.staff_club_id)
    .bind(u.now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_by_email(pool: &AnyPool, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.map(UserRecord::try_from).transpose()
}

pub async fn find_by_id(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(UserRecord::try_from).transpose()?.map(|r| r.user))
}

pub async fn update_profile(
    conn: &mut AnyConnection,
    id: &str,
    name: Option<&str>,
    club_id: Option<Option<&str>>,
    now: i64,
) -> Result<(), sqlx::Error> {
    // COALESCE keeps a field that the request did not mention; the club is
    // replaced only when the request named it (possibly as null).
    sqlx::query(
        "UPDATE users SET name = COALESCE($2, name),
                club_id = CASE WHEN $3 = 1 THEN $4 ELSE club_id END,
                updated_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(if club_id.is_some() { 1i64 } else { 0i64 })
    .bind(club_id.flatten())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn club_exists(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club_id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 FROM clubs WHERE id = $1")
        .bind(club_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

pub async fn insert_refresh(
    conn: &mut AnyConnection,
    family_id: &str,
    user_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::db::new_id())
    .bind(family_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a live refresh token as used, in one statement so that two concurrent
/// refreshes with the same token cannot both succeed. Returns (user, family).
pub async fn consume_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE refresh_tokens SET rotated_at = $2
         WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2
         RETURNING user_id, family_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn family_of(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

pub async fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(res.rows_affected())
}

/// A refresh token as stored, whatever its state.
#[derive(sqlx::FromRow)]
pub struct RefreshRecord {
    pub user_id: String,
    pub family_id: String,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn find_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, family_id, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// Whether a refresh token can still be exchanged.
pub async fn is_live(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 FROM refresh_tokens
         WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Revokes every live refresh token of a user; returns their sessions.
pub async fn revoke_user(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL
         RETURNING family_id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    let mut families: Vec<String> = rows.into_iter().map(|r| r.0).collect();
    families.sort();
    families.dedup();
    Ok(families)
}

pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(user_id)
        .bind(password_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn known_address(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    email: &str,
    address: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 FROM login_known_addresses k JOIN users u ON u.id = k.user_id
         WHERE u.email = $1 AND k.address = $2",
    )
    .bind(email)
    .bind(address)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

pub async fn remember_address(
    conn: &mut AnyConnection,
    user_id: &str,
    address: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_known_addresses (user_id, address, last_seen) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, address) DO UPDATE SET last_seen = excluded.last_seen",
    )
    .bind(user_id)
    .bind(address)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sessions revoked since `since` (ms), with when each was revoked last.
pub async fn revoked_since(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    since: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT family_id, MAX(revoked_at) AS revoked_at FROM refresh_tokens
         WHERE revoked_at >= $1 GROUP BY family_id",
    )
    .bind(since)
    .fetch_all(conn)
    .await
}
