//! All of ticketing's SQL. This file: events with their categories, tickets
//! with their signed tokens, and the ownership chain; `sales` (purchases,
//! transfers, refunds), `gate` (scans) and `admin` (staff edits) hold the
//! statements of each part. Rows are read into `FromRow` structs.

pub(super) mod admin;
pub(super) mod gate;
pub(super) mod sales;

use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::db::{Constraint, now_ms, rfc3339};
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::signing::{ChainEntry, GENESIS, TicketClaims, TicketSigner};
use crate::wallet::money::{Currency, format_minor};

/// The constraints whose violations ticketing answers as refusals.
pub(super) const CATEGORY_NAME: Constraint = Constraint::unique(
    "ticket_categories_name_key",
    "ticket_categories.event_id, ticket_categories.name",
);
pub(super) const CATEGORY_SOLD: Constraint = Constraint::check("ticket_categories_sold_check");
pub(super) const SALE_WINDOW: Constraint = Constraint::check("events_sale_window_check");
pub(super) const CHECKIN_NONCE: Constraint = Constraint::unique(
    "ticket_checkins_nonce_key",
    "ticket_checkins.event_id, ticket_checkins.nonce",
);

const EVENT_SQL: &str = "
SELECT e.id, e.home_club_id, e.away_club_id, e.away_team, e.competition, e.venue, e.kickoff_at,
       e.sale_starts_at, e.sale_ends_at, e.per_fan_limit, h.name AS home_name, h.currency AS currency
FROM events e JOIN clubs h ON h.id = e.home_club_id";

const CATEGORY_SQL: &str = "
SELECT c.id, c.event_id, c.name, c.price, c.currency, c.capacity, c.sold
FROM ticket_categories c JOIN events e ON e.id = c.event_id";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    home_club_id: String,
    away_club_id: Option<String>,
    away_team: String,
    competition: String,
    venue: String,
    kickoff_at: i64,
    sale_starts_at: i64,
    sale_ends_at: i64,
    per_fan_limit: i64,
    home_name: String,
    currency: String,
}

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: String,
    event_id: String,
    name: String,
    price: i64,
    currency: String,
    capacity: i64,
    sold: i64,
}

impl CategoryRow {
    fn into_category(self) -> Result<Category, TicketError> {
        let cur = Currency::stored(&self.currency)?;
        Ok(Category {
            id: self.id,
            name: self.name,
            price: format_minor(self.price, cur),
            currency: cur.code().to_owned(),
            capacity: self.capacity,
            available: (self.capacity - self.sold).max(0),
        })
    }
}

impl EventRow {
    /// The event as fans see it at `now`, with its categories (and their
    /// prices in minor units, for the "from" price).
    fn into_event(self, categories: Vec<(Category, i64)>, now: i64) -> Result<Event, TicketError> {
        let (kickoff, starts, ends) = (self.kickoff_at, self.sale_starts_at, self.sale_ends_at);
        let cur = Currency::stored(&self.currency)?;
        let seats_available: i64 = categories.iter().map(|(c, _)| c.available).sum();
        let price_from = categories
            .iter()
            .map(|(_, p)| *p)
            .min()
            .map(|p| format_minor(p, cur));
        let status = if now < starts {
            "upcoming"
        } else if now >= ends.min(kickoff) {
            "sale_closed"
        } else if seats_available == 0 {
            "sold_out"
        } else {
            "on_sale"
        };
        Ok(Event {
            id: self.id,
            home_club: self.home_club_id,
            away_club: self.away_club_id,
            home_team: self.home_name,
            away_team: self.away_team,
            competition: self.competition,
            venue: self.venue,
            kickoff: rfc3339(kickoff),
            date: rfc3339(kickoff),
            sale_starts_at: rfc3339(starts),
            sale_ends_at: rfc3339(ends),
            status: status.to_owned(),
            per_fan_limit: self.per_fan_limit,
            price_from,
            currency: cur.code().to_owned(),
            seats_available,
            categories: categories.into_iter().map(|(c, _)| c).collect(),
        })
    }
}

/// Events with their categories, in the order of `events`.
fn assemble(
    events: Vec<EventRow>,
    categories: Vec<CategoryRow>,
    now: i64,
) -> Result<Vec<Event>, TicketError> {
    let mut by_event: std::collections::HashMap<String, Vec<(Category, i64)>> = Default::default();
    for c in categories {
        let (event, price) = (c.event_id.clone(), c.price);
        by_event
            .entry(event)
            .or_default()
            .push((c.into_category()?, price));
    }
    events
        .into_iter()
        .map(|e| {
            let cats = by_event.remove(&e.id).unwrap_or_default();
            e.into_event(cats, now)
        })
        .collect()
}

pub(super) async fn get_event(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> Result<Event, TicketError> {
    let event: EventRow = sqlx::query_as(AssertSqlSafe(format!("{EVENT_SQL} WHERE e.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(TicketError::NotFound("event"))?;
    let cats: Vec<CategoryRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{CATEGORY_SQL} WHERE c.event_id = $1 ORDER BY c.price, c.name"
    )))
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(assemble(vec![event], cats, now_ms())?.remove(0))
}

/// The matches on the list at `now`: those kicking off at or after
/// `now - shown_after_kickoff_ms`, by kickoff; and the first moment (ms) at
/// which that list or a status in it changes with time alone (a sale opens or
/// closes, a match drops off).
pub(super) async fn events_listed(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    now: i64,
    shown_after_kickoff_ms: i64,
) -> Result<(Vec<Event>, i64), TicketError> {
    let since = now - shown_after_kickoff_ms;
    let events: Vec<EventRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{EVENT_SQL} WHERE e.kickoff_at >= $1 ORDER BY e.kickoff_at, e.id"
    )))
    .bind(since)
    .fetch_all(conn)
    .await?;
    let cats: Vec<CategoryRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{CATEGORY_SQL} WHERE e.kickoff_at >= $1 ORDER BY c.price, c.name"
    )))
    .bind(since)
    .fetch_all(conn)
    .await?;
    let changes_at = events
        .iter()
        .flat_map(|e| {
            [
                e.sale_starts_at,
                e.sale_ends_at.min(e.kickoff_at),
                e.kickoff_at + shown_after_kickoff_ms + 1,
            ]
        })
        .filter(|t| *t > now)
        .min()
        .unwrap_or(i64::MAX);
    Ok((assemble(events, cats, now)?, changes_at))
}

const TICKET_SQL: &str = "
SELECT t.id, t.event_id, t.category_id, t.owner_id, t.buyer_id, t.holder_name, t.serial, t.status, t.version,
       t.price, t.currency, t.commission_bps, t.first_used_at, t.first_used_gate, t.created_at,
       c.name AS category_name, e.away_team, e.competition, e.venue, e.kickoff_at, e.home_club_id,
       h.name AS home_name
FROM tickets t
JOIN ticket_categories c ON c.id = t.category_id
JOIN events e ON e.id = t.event_id
JOIN clubs h ON h.id = e.home_club_id";

#[derive(sqlx::FromRow)]
struct TicketDbRow {
    id: String,
    event_id: String,
    category_id: String,
    owner_id: String,
    buyer_id: String,
    holder_name: String,
    serial: i64,
    status: String,
    version: i64,
    price: i64,
    currency: String,
    commission_bps: i64,
    first_used_at: Option<i64>,
    first_used_gate: Option<String>,
    created_at: i64,
    category_name: String,
    away_team: String,
    competition: String,
    venue: String,
    kickoff_at: i64,
    home_club_id: String,
    home_name: String,
}

/// A ticket as its owner sees it, with what the rules need besides.
pub(super) struct TicketRow {
    pub(super) view: Ticket,
    pub(super) owner_id: String,
    pub(super) buyer_id: String,
    pub(super) home_club_id: String,
    pub(super) kickoff_at: i64,
    pub(super) commission_bps: i64,
    pub(super) price_minor: i64,
    pub(super) first_used_at: Option<i64>,
    pub(super) first_used_gate: Option<String>,
    /// When the ticket was bought (ms).
    pub(super) created_at: i64,
}

impl TicketDbRow {
    /// With `with_qr`, a valid or used ticket carries its signed QR token.
    fn into_ticket(self, signer: &TicketSigner, with_qr: bool) -> Result<TicketRow, TicketError> {
        let cur = Currency::stored(&self.currency)?;
        let status = TicketStatus::stored(&self.status)?;
        let qr_code = (with_qr && matches!(status, TicketStatus::Valid | TicketStatus::Used))
            .then(|| {
                token_for(
                    signer,
                    &self.id,
                    &self.event_id,
                    &self.category_id,
                    self.serial,
                    self.version,
                )
            })
            .flatten();
        Ok(TicketRow {
            view: Ticket {
                id: self.id,
                event_id: self.event_id.clone(),
                category_id: self.category_id,
                category: self.category_name,
                holder_name: self.holder_name,
                serial: self.serial,
                status,
                version: self.version,
                price: format_minor(self.price, cur),
                currency: cur.code().to_owned(),
                event: TicketEvent {
                    id: self.event_id,
                    home_team: self.home_name,
                    away_team: self.away_team,
                    competition: self.competition,
                    venue: self.venue,
                    kickoff: rfc3339(self.kickoff_at),
                },
                qr_code,
                purchased_at: rfc3339(self.created_at),
                used_at: self.first_used_at.map(rfc3339),
            },
            owner_id: self.owner_id,
            buyer_id: self.buyer_id,
            home_club_id: self.home_club_id,
            kickoff_at: self.kickoff_at,
            commission_bps: self.commission_bps,
            price_minor: self.price,
            first_used_at: self.first_used_at,
            first_used_gate: self.first_used_gate,
            created_at: self.created_at,
        })
    }
}

pub(super) fn token_for(
    signer: &TicketSigner,
    id: &str,
    event: &str,
    category: &str,
    serial: i64,
    version: i64,
) -> Option<String> {
    Some(signer.sign_ticket(&TicketClaims {
        ticket_id: Uuid::parse_str(id).ok()?,
        event_id: Uuid::parse_str(event).ok()?,
        category_id: Uuid::parse_str(category).ok()?,
        serial: u32::try_from(serial).ok()?,
        version: u32::try_from(version).ok()?,
    }))
}

pub(super) async fn load_ticket(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    signer: &TicketSigner,
    id: &str,
    with_qr: bool,
) -> Result<Option<TicketRow>, TicketError> {
    let row: Option<TicketDbRow> =
        sqlx::query_as(AssertSqlSafe(format!("{TICKET_SQL} WHERE t.id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(|r| r.into_ticket(signer, with_qr)).transpose()
}

/// A fan's tickets, by kickoff and seat.
pub(super) async fn tickets_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    signer: &TicketSigner,
    owner_id: &str,
) -> Result<Vec<Ticket>, TicketError> {
    let rows: Vec<TicketDbRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{TICKET_SQL} WHERE t.owner_id = $1 ORDER BY e.kickoff_at, t.serial"
    )))
    .bind(owner_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| Ok(r.into_ticket(signer, true)?.view))
        .collect()
}

/// Appends the next link of a ticket's ownership chain (inside the caller's
/// transaction, after the ticket row was updated, so its lock orders writers).
pub(super) struct Link<'a> {
    pub(super) ticket_id: &'a str,
    pub(super) kind: &'a str,
    pub(super) version: i64,
    pub(super) from: Option<&'a str>,
    pub(super) to: Option<&'a str>,
    pub(super) at: i64,
}

pub(super) async fn append_provenance(
    conn: &mut AnyConnection,
    signer: &TicketSigner,
    link: Link<'_>,
) -> Result<(), sqlx::Error> {
    let Link {
        ticket_id,
        kind,
        version,
        from,
        to,
        at,
    } = link;
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM ticket_provenance WHERE ticket_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let entry = ChainEntry {
        seq,
        kind: kind.to_owned(),
        ticket_id: ticket_id.to_owned(),
        version,
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        at,
        prev_hash,
    };
    let hash = entry.hash();
    let signature = signer.sign_bytes(hash.as_bytes());
    sqlx::query(
        "INSERT INTO ticket_provenance (ticket_id, seq, kind, version, from_user, to_user, at, prev_hash, hash, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(ticket_id)
    .bind(seq)
    .bind(kind)
    .bind(version)
    .bind(from)
    .bind(to)
    .bind(at)
    .bind(&entry.prev_hash)
    .bind(&hash)
    .bind(&signature)
    .execute(conn)
    .await?;
    Ok(())
}
