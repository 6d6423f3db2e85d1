//! Selling tickets and what owners do with them: each bound (per-fan limit,
//! seats) is one conditional statement, so no concurrency can pass it.

use sqlx::AnyConnection;

use crate::tickets::model::ProvenanceEntry;

pub(in crate::tickets) async fn user_name(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// A fan to give a ticket to: by id, or by (normalised) e-mail.
pub(in crate::tickets) async fn recipient(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: Option<&str>,
    email: Option<&str>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name FROM users WHERE (id = $1 AND $1 <> '') OR (email = $2 AND $2 <> '') LIMIT 1",
    )
    .bind(id.unwrap_or(""))
    .bind(email.unwrap_or(""))
    .fetch_optional(conn)
    .await
}

/// What a purchase checks about its match.
#[derive(sqlx::FromRow)]
pub(in crate::tickets) struct SaleEvent {
    pub home_club_id: String,
    pub kickoff_at: i64,
    pub sale_starts_at: i64,
    pub sale_ends_at: i64,
    pub per_fan_limit: i64,
}

pub(in crate::tickets) async fn sale_event(
    conn: &mut AnyConnection,
    event_id: &str,
) -> Result<Option<SaleEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT home_club_id, kickoff_at, sale_starts_at, sale_ends_at, per_fan_limit
         FROM events WHERE id = $1",
    )
    .bind(event_id)
    .fetch_optional(conn)
    .await
}

#[derive(sqlx::FromRow)]
pub(in crate::tickets) struct SaleCategory {
    pub id: String,
    pub price: i64,
    pub currency: String,
}

/// A category of the match, by id or by name (any case).
pub(in crate::tickets) async fn sale_category(
    conn: &mut AnyConnection,
    event_id: &str,
    id_or_name: &str,
) -> Result<Option<SaleCategory>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, price, currency FROM ticket_categories
         WHERE event_id = $1 AND (id = $2 OR LOWER(name) = LOWER($2))",
    )
    .bind(event_id)
    .bind(id_or_name)
    .fetch_optional(conn)
    .await
}

/// Counts `quantity` against the fan's allowance for the match; false when
/// it would pass `limit`.
pub(in crate::tickets) async fn take_allowance(
    conn: &mut AnyConnection,
    event_id: &str,
    user_id: &str,
    quantity: i64,
    limit: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO event_fan_purchases (event_id, user_id, bought) VALUES ($1, $2, 0)
         ON CONFLICT (event_id, user_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    let n = sqlx::query(
        "UPDATE event_fan_purchases SET bought = bought + $3
         WHERE event_id = $1 AND user_id = $2 AND bought + $3 <= $4",
    )
    .bind(event_id)
    .bind(user_id)
    .bind(quantity)
    .bind(limit)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Takes `quantity` seats of a category; false when not that many are left.
pub(in crate::tickets) async fn take_seats(
    conn: &mut AnyConnection,
    category_id: &str,
    quantity: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE ticket_categories SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= capacity",
    )
    .bind(category_id)
    .bind(quantity)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Reserves `quantity` serial numbers of the match; the last one reserved.
pub(in crate::tickets) async fn issue_serials(
    conn: &mut AnyConnection,
    event_id: &str,
    quantity: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (last,): (i64,) = sqlx::query_as(
        "UPDATE events SET tickets_issued = tickets_issued + $2, updated_at = $3 WHERE id = $1
         RETURNING tickets_issued",
    )
    .bind(event_id)
    .bind(quantity)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(last)
}

pub(in crate::tickets) struct NewTicket<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub category_id: &'a str,
    pub buyer_id: &'a str,
    pub holder_name: &'a str,
    pub serial: i64,
    pub price: i64,
    pub currency: &'a str,
    pub commission_bps: i64,
    pub now: i64,
}

pub(in crate::tickets) async fn insert_ticket(
    conn: &mut AnyConnection,
    t: NewTicket<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tickets (id, event_id, category_id, buyer_id, owner_id, holder_name, serial, status, version,
                              inside, price, currency, commission_bps, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4, $5, $6, 'valid', 1, 0, $7, $8, $9, $10, $10)",
    )
    .bind(t.id)
    .bind(t.event_id)
    .bind(t.category_id)
    .bind(t.buyer_id)
    .bind(t.holder_name)
    .bind(t.serial)
    .bind(t.price)
    .bind(t.currency)
    .bind(t.commission_bps)
    .bind(t.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a valid ticket of `from` to `to` under a new version (its old QR
/// codes are revoked); the new version, None when it was not `from`'s valid
/// ticket.
pub(in crate::tickets) async fn hand_over(
    conn: &mut AnyConnection,
    ticket_id: &str,
    from: &str,
    to: &str,
    to_name: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE tickets SET owner_id = $3, holder_name = $4, version = version + 1, updated_at = $5
         WHERE id = $1 AND owner_id = $2 AND status = 'valid'
         RETURNING version",
    )
    .bind(ticket_id)
    .bind(from)
    .bind(to)
    .bind(to_name)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// A refunded ticket: its match, category and version.
#[derive(sqlx::FromRow)]
pub(in crate::tickets) struct Refunded {
    pub event_id: String,
    pub category_id: String,
    pub version: i64,
}

/// Marks a valid ticket its buyer still owns refunded, and gives back the
/// seat and the fan's allowance. None when it was not refundable.
pub(in crate::tickets) async fn refund_ticket(
    conn: &mut AnyConnection,
    ticket_id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<Refunded>, sqlx::Error> {
    let row: Option<Refunded> = sqlx::query_as(
        "UPDATE tickets SET status = 'refunded', inside = 0, updated_at = $3
         WHERE id = $1 AND owner_id = $2 AND buyer_id = $2 AND status = 'valid'
         RETURNING event_id, category_id, version",
    )
    .bind(ticket_id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    sqlx::query(
        "UPDATE event_fan_purchases SET bought = bought - 1 WHERE event_id = $1 AND user_id = $2 AND bought >= 1",
    )
    .bind(&r.event_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE ticket_categories SET sold = sold - 1 WHERE id = $1 AND sold >= 1")
        .bind(&r.category_id)
        .execute(conn)
        .await?;
    Ok(Some(r))
}

/// Whether the user was ever on either side of the ticket's chain.
pub(in crate::tickets) async fn in_chain(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    ticket_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM ticket_provenance WHERE ticket_id = $1 AND (from_user = $2 OR to_user = $2) LIMIT 1",
    )
    .bind(ticket_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    seq: i64,
    kind: String,
    version: i64,
    from_user: Option<String>,
    to_user: Option<String>,
    at: i64,
    prev_hash: String,
    hash: String,
    signature: String,
}

/// The ticket's whole ownership chain, in order.
pub(in crate::tickets) async fn chain(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    ticket_id: &str,
) -> Result<Vec<ProvenanceEntry>, sqlx::Error> {
    let rows: Vec<ChainRow> = sqlx::query_as(
        "SELECT seq, kind, version, from_user, to_user, at, prev_hash, hash, signature
         FROM ticket_provenance WHERE ticket_id = $1 ORDER BY seq",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProvenanceEntry {
            seq: r.seq,
            kind: r.kind,
            version: r.version,
            from: r.from_user,
            to: r.to_user,
            at_ms: r.at,
            at: crate::db::rfc3339(r.at),
            prev_hash: r.prev_hash,
            hash: r.hash,
            signature: r.signature,
        })
        .collect())
}
