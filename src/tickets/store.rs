//! All of ticketing's SQL that more than one operation reads: events with
//! their categories, and tickets with their signed tokens.

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};
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

pub(super) const EVENT_SQL: &str = "
SELECT e.id, e.home_club_id, e.away_club_id, e.away_team, e.competition, e.venue, e.kickoff_at,
       e.sale_starts_at, e.sale_ends_at, e.per_fan_limit, h.name AS home_name, h.currency AS currency
FROM events e JOIN clubs h ON h.id = e.home_club_id";

pub(super) const CATEGORY_SQL: &str = "
SELECT c.id, c.event_id, c.name, c.price, c.currency, c.capacity, c.sold
FROM ticket_categories c JOIN events e ON e.id = c.event_id";

pub(super) fn currency_of(code: &str) -> Result<Currency, sqlx::Error> {
    Ok(Currency::stored(code)?)
}

pub(super) fn category_from_row(r: &AnyRow) -> Result<(String, Category), sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
    let capacity: i64 = r.try_get("capacity")?;
    let sold: i64 = r.try_get("sold")?;
    Ok((
        r.try_get("event_id")?,
        Category {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            price: format_minor(r.try_get("price")?, cur),
            currency: cur.code().to_owned(),
            capacity,
            available: (capacity - sold).max(0),
        },
    ))
}

pub(super) fn event_from_row(
    r: &AnyRow,
    categories: Vec<(Category, i64)>,
    now: i64,
) -> Result<Event, sqlx::Error> {
    let kickoff: i64 = r.try_get("kickoff_at")?;
    let starts: i64 = r.try_get("sale_starts_at")?;
    let ends: i64 = r.try_get("sale_ends_at")?;
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
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
    let away_club: Option<String> = r.try_get("away_club_id")?;
    Ok(Event {
        id: r.try_get("id")?,
        home_club: r.try_get("home_club_id")?,
        away_club,
        home_team: r.try_get("home_name")?,
        away_team: r.try_get("away_team")?,
        competition: r.try_get("competition")?,
        venue: r.try_get("venue")?,
        kickoff: rfc3339(kickoff),
        date: rfc3339(kickoff),
        sale_starts_at: rfc3339(starts),
        sale_ends_at: rfc3339(ends),
        status: status.to_owned(),
        per_fan_limit: r.try_get("per_fan_limit")?,
        price_from,
        currency: cur.code().to_owned(),
        seats_available,
        categories: categories.into_iter().map(|(c, _)| c).collect(),
    })
}

pub(super) async fn get_event(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> Result<Event, TicketError> {
    let row = sqlx::query(AssertSqlSafe(format!("{EVENT_SQL} WHERE e.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(TicketError::NotFound("event"))?;
    let cats = sqlx::query(AssertSqlSafe(format!(
        "{CATEGORY_SQL} WHERE c.event_id = $1 ORDER BY c.price, c.name"
    )))
    .bind(id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| {
        let price: i64 = r.try_get("price")?;
        Ok((category_from_row(r)?.1, price))
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(event_from_row(&row, cats, now_ms())?)
}

pub(super) const TICKET_SQL: &str = "
SELECT t.id, t.event_id, t.category_id, t.owner_id, t.buyer_id, t.holder_name, t.serial, t.status, t.version,
       t.inside, t.price, t.currency, t.commission_bps, t.first_used_at, t.first_used_gate, t.created_at,
       c.name AS category_name, e.away_team, e.competition, e.venue, e.kickoff_at, e.home_club_id,
       h.name AS home_name
FROM tickets t
JOIN ticket_categories c ON c.id = t.category_id
JOIN events e ON e.id = t.event_id
JOIN clubs h ON h.id = e.home_club_id";

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
}

pub(super) fn ticket_from_row(
    r: &AnyRow,
    signer: &TicketSigner,
    with_qr: bool,
) -> Result<TicketRow, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
    let id: String = r.try_get("id")?;
    let event_id: String = r.try_get("event_id")?;
    let category_id: String = r.try_get("category_id")?;
    let serial: i64 = r.try_get("serial")?;
    let version: i64 = r.try_get("version")?;
    let status = TicketStatus::stored(&r.try_get::<String, _>("status")?)?;
    let kickoff_at: i64 = r.try_get("kickoff_at")?;
    let price_minor: i64 = r.try_get("price")?;
    let first_used_at: Option<i64> = r.try_get("first_used_at")?;
    let qr_code = (with_qr && matches!(status, TicketStatus::Valid | TicketStatus::Used))
        .then(|| token_for(signer, &id, &event_id, &category_id, serial, version))
        .flatten();
    Ok(TicketRow {
        view: Ticket {
            id: id.clone(),
            event_id: event_id.clone(),
            category_id,
            category: r.try_get("category_name")?,
            holder_name: r.try_get("holder_name")?,
            serial,
            status,
            version,
            price: format_minor(price_minor, cur),
            currency: cur.code().to_owned(),
            event: TicketEvent {
                id: event_id,
                home_team: r.try_get("home_name")?,
                away_team: r.try_get("away_team")?,
                competition: r.try_get("competition")?,
                venue: r.try_get("venue")?,
                kickoff: rfc3339(kickoff_at),
            },
            qr_code,
            purchased_at: rfc3339(r.try_get("created_at")?),
            used_at: first_used_at.map(rfc3339),
        },
        owner_id: r.try_get("owner_id")?,
        buyer_id: r.try_get("buyer_id")?,
        home_club_id: r.try_get("home_club_id")?,
        kickoff_at,
        commission_bps: r.try_get("commission_bps")?,
        price_minor,
        first_used_at,
        first_used_gate: r.try_get("first_used_gate")?,
    })
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
    let row = sqlx::query(AssertSqlSafe(format!("{TICKET_SQL} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| ticket_from_row(&r, signer, with_qr))
        .transpose()?)
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
    let last = sqlx::query(
        "SELECT seq, hash FROM ticket_provenance WHERE ticket_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (seq, prev_hash) = match last {
        Some(r) => (
            r.try_get::<i64, _>("seq")? + 1,
            r.try_get::<String, _>("hash")?,
        ),
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
