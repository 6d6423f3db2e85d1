//! Ticketing rules: events, purchase without overselling, signed tickets, the
//! gate, transfers, refunds and the ownership chain.

use axum::http::StatusCode;
use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult, constraint_violation};
use crate::http::extract::AuthUser;
use crate::http::idempotency::{Answer, IdempotencyKey};
use crate::http::validate::normalize_email;
use crate::notifications;
use crate::tickets::model::*;
use crate::tickets::signing::{ChainEntry, GENESIS, TicketClaims, TicketSigner, TokenError};
use crate::wallet::ledger::{self, AccountKind, Operation};
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Sale};
use crate::wallet::service::{amount_error, ledger_error};

const EVENT_SQL: &str = "
SELECT e.id, e.home_club_id, e.away_club_id, e.away_team, e.competition, e.venue, e.kickoff_at,
       e.sale_starts_at, e.sale_ends_at, e.per_fan_limit, h.name AS home_name, h.currency AS currency
FROM events e JOIN clubs h ON h.id = e.home_club_id";

const CATEGORY_SQL: &str = "
SELECT c.id, c.event_id, c.name, c.price, c.currency, c.capacity, c.sold
FROM ticket_categories c JOIN events e ON e.id = c.event_id";

fn currency_of(code: &str) -> Currency {
    Currency::parse(code).unwrap_or(Currency::Eur)
}

fn category_from_row(r: &AnyRow) -> Result<(String, Category), sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
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

fn event_from_row(
    r: &AnyRow,
    categories: Vec<(Category, i64)>,
    now: i64,
) -> Result<Event, sqlx::Error> {
    let kickoff: i64 = r.try_get("kickoff_at")?;
    let starts: i64 = r.try_get("sale_starts_at")?;
    let ends: i64 = r.try_get("sale_ends_at")?;
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
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

/// Upcoming events (and those that kicked off in the last 3 hours).
pub async fn list_events(state: &AppState, club: Option<&str>) -> ApiResult<Vec<Event>> {
    let now = now_ms();
    let filter =
        "WHERE ($1 = '' OR e.home_club_id = $1 OR e.away_club_id = $1) AND e.kickoff_at >= $2";
    let club = club.unwrap_or("");
    let since = now - 3 * 3_600_000;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{EVENT_SQL} {filter} ORDER BY e.kickoff_at, e.id"
    )))
    .bind(club)
    .bind(since)
    .fetch_all(state.db.reader())
    .await?;
    let cats = sqlx::query(AssertSqlSafe(format!(
        "{CATEGORY_SQL} {filter} ORDER BY c.price, c.name"
    )))
    .bind(club)
    .bind(since)
    .fetch_all(state.db.reader())
    .await?;
    let mut by_event: std::collections::HashMap<String, Vec<(Category, i64)>> = Default::default();
    for r in &cats {
        let price: i64 = r.try_get("price")?;
        let (event, cat) = category_from_row(r)?;
        by_event.entry(event).or_default().push((cat, price));
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            Ok(event_from_row(
                r,
                by_event.remove(&id).unwrap_or_default(),
                now,
            )?)
        })
        .collect()
}

pub async fn get_event(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> ApiResult<Event> {
    let row = sqlx::query(AssertSqlSafe(format!("{EVENT_SQL} WHERE e.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
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

const TICKET_SQL: &str = "
SELECT t.id, t.event_id, t.category_id, t.owner_id, t.buyer_id, t.holder_name, t.serial, t.status, t.version,
       t.inside, t.price, t.currency, t.commission_bps, t.first_used_at, t.first_used_gate, t.created_at,
       c.name AS category_name, e.away_team, e.competition, e.venue, e.kickoff_at, e.home_club_id,
       h.name AS home_name
FROM tickets t
JOIN ticket_categories c ON c.id = t.category_id
JOIN events e ON e.id = t.event_id
JOIN clubs h ON h.id = e.home_club_id";

struct TicketRow {
    view: Ticket,
    owner_id: String,
    buyer_id: String,
    home_club_id: String,
    kickoff_at: i64,
    commission_bps: i64,
    price_minor: i64,
    first_used_at: Option<i64>,
    first_used_gate: Option<String>,
}

fn ticket_from_row(
    r: &AnyRow,
    signer: &TicketSigner,
    with_qr: bool,
) -> Result<TicketRow, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
    let id: String = r.try_get("id")?;
    let event_id: String = r.try_get("event_id")?;
    let category_id: String = r.try_get("category_id")?;
    let serial: i64 = r.try_get("serial")?;
    let version: i64 = r.try_get("version")?;
    let status: String = r.try_get("status")?;
    let kickoff_at: i64 = r.try_get("kickoff_at")?;
    let price_minor: i64 = r.try_get("price")?;
    let first_used_at: Option<i64> = r.try_get("first_used_at")?;
    let qr_code = (with_qr && (status == "valid" || status == "used"))
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

fn token_for(
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

async fn load_ticket(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    signer: &TicketSigner,
    id: &str,
    with_qr: bool,
) -> ApiResult<Option<TicketRow>> {
    let row = sqlx::query(AssertSqlSafe(format!("{TICKET_SQL} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| ticket_from_row(&r, signer, with_qr))
        .transpose()?)
}

/// A ticket its owner (or an admin) may see; anyone else gets 404.
async fn own_ticket(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<TicketRow> {
    match load_ticket(state.db.reader(), &state.signer, id, true).await? {
        Some(t) if t.owner_id == user.id || user.is_admin() => Ok(t),
        _ => Err(ApiError::not_found("ticket")),
    }
}

pub async fn my_tickets(state: &AppState, user_id: &str) -> ApiResult<Vec<Ticket>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{TICKET_SQL} WHERE t.owner_id = $1 ORDER BY e.kickoff_at, t.serial"
    )))
    .bind(user_id)
    .fetch_all(state.db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok(ticket_from_row(r, &state.signer, true)?.view))
        .collect()
}

pub async fn ticket(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Ticket> {
    Ok(own_ticket(state, user, id).await?.view)
}

pub async fn qr(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<QrResponse> {
    let t = own_ticket(state, user, id).await?;
    let qr_code = t.view.qr_code.ok_or_else(|| {
        ApiError::conflict(
            "ticket_not_valid",
            format!("this ticket is {}", t.view.status),
        )
    })?;
    Ok(QrResponse {
        qr_code,
        ticket_id: t.view.id,
        event_id: t.view.event_id,
        version: t.view.version,
    })
}

/// Appends the next link of a ticket's ownership chain (inside the caller's
/// transaction, after the ticket row was updated, so its lock orders writers).
struct Link<'a> {
    ticket_id: &'a str,
    kind: &'a str,
    version: i64,
    from: Option<&'a str>,
    to: Option<&'a str>,
    at: i64,
}

async fn append_provenance(
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

pub struct PurchaseInput {
    pub event_id: String,
    pub category: String,
    pub quantity: i64,
    pub price: Option<crate::wallet::money::AmountInput>,
    pub holder_name: Option<String>,
}

pub async fn purchase(
    state: &AppState,
    user_id: &str,
    input: PurchaseInput,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let now = now_ms();
    let q = input.quantity;
    let holder = match input.holder_name {
        Some(h) => h.trim().to_owned(),
        None => sqlx::query("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(state.db.reader())
            .await?
            .try_get("name")?,
    };
    let mut tx = state.db.begin_write().await?;
    let event = sqlx::query(
        "SELECT e.id, e.home_club_id, e.kickoff_at, e.sale_starts_at, e.sale_ends_at, e.per_fan_limit
         FROM events e WHERE e.id = $1",
    )
    .bind(&input.event_id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("event"))?;
    let home_club: String = event.try_get("home_club_id")?;
    let kickoff: i64 = event.try_get("kickoff_at")?;
    let starts: i64 = event.try_get("sale_starts_at")?;
    let ends: i64 = event.try_get("sale_ends_at")?;
    let limit: i64 = event.try_get("per_fan_limit")?;
    let category = sqlx::query(
        "SELECT id, name, price, currency FROM ticket_categories
         WHERE event_id = $1 AND (id = $2 OR LOWER(name) = LOWER($2))",
    )
    .bind(&input.event_id)
    .bind(input.category.trim())
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("ticket category"))?;
    let category_id: String = category.try_get("id")?;
    let price: i64 = category.try_get("price")?;
    let currency = currency_of(&category.try_get::<String, _>("currency")?);

    if now < starts {
        return Err(ApiError::conflict(
            "sale_not_open",
            format!("ticket sales open at {}", rfc3339(starts)),
        ));
    }
    if now >= ends || now >= kickoff {
        return Err(ApiError::conflict(
            "sale_closed",
            "ticket sales for this match are closed",
        ));
    }
    if let Some(guard) = &input.price {
        let sent = guard
            .parse(currency)
            .map_err(|e| amount_error("price", e))?;
        if sent != price {
            return Err(ApiError::conflict(
                "price_changed",
                format!(
                    "the price is now {} {}",
                    format_minor(price, currency),
                    currency.code()
                ),
            )
            .with("currentPrice", format_minor(price, currency))
            .with("currency", currency.code()));
        }
    }
    if q > limit {
        return Err(ApiError::field(
            "quantity",
            "over_limit",
            format!("at most {limit} tickets per fan for this match"),
        ));
    }

    // Per-fan limit and seats: each a conditional update, so no amount of
    // concurrency can pass either bound.
    sqlx::query(
        "INSERT INTO event_fan_purchases (event_id, user_id, bought) VALUES ($1, $2, 0)
         ON CONFLICT (event_id, user_id) DO NOTHING",
    )
    .bind(&input.event_id)
    .bind(user_id)
    .execute(tx.conn())
    .await?;
    let within_limit = sqlx::query(
        "UPDATE event_fan_purchases SET bought = bought + $3
         WHERE event_id = $1 AND user_id = $2 AND bought + $3 <= $4",
    )
    .bind(&input.event_id)
    .bind(user_id)
    .bind(q)
    .bind(limit)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if within_limit == 0 {
        return Err(ApiError::conflict(
            "ticket_limit_reached",
            format!("at most {limit} tickets per fan for this match"),
        ));
    }
    let seats = sqlx::query(
        "UPDATE ticket_categories SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= capacity",
    )
    .bind(&category_id)
    .bind(q)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if seats == 0 {
        return Err(ApiError::conflict(
            "sold_out",
            "not enough seats left in this category",
        ));
    }
    let issued: i64 = sqlx::query(
        "UPDATE events SET tickets_issued = tickets_issued + $2, updated_at = $3 WHERE id = $1
         RETURNING tickets_issued",
    )
    .bind(&input.event_id)
    .bind(q)
    .bind(now)
    .fetch_one(tx.conn())
    .await?
    .try_get("tickets_issued")?;

    let ticket_ids: Vec<String> = (0..q).map(|_| new_id()).collect();
    let bps = state.config.commission_bps;
    let mut postings = sales::sale_postings(
        tx.conn(),
        &Sale {
            buyer_user_id: user_id,
            club_id: &home_club,
            amount: price * q,
            currency,
            commission_bps: bps,
            reference: ("event", input.event_id.clone()),
        },
        "ticket",
    )
    .await?;
    for p in &mut postings {
        p.metadata = Some(serde_json::json!({"tickets": ticket_ids, "category": category_id}));
    }
    let buyer_account = postings[0].debit.clone();
    let posted = ledger::post(
        tx.conn(),
        Operation {
            kind: "ticket_purchase",
            user_id: Some(user_id),
            idempotency_key: key.map(|k| k.0.as_str()),
        },
        postings,
    )
    .await
    .map_err(|e| ledger_error(e, currency))?;

    for (i, id) in ticket_ids.iter().enumerate() {
        let serial = issued - q + 1 + i as i64;
        sqlx::query(
            "INSERT INTO tickets (id, event_id, category_id, buyer_id, owner_id, holder_name, serial, status, version,
                                  inside, price, currency, commission_bps, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4, $5, $6, 'valid', 1, 0, $7, $8, $9, $10, $10)",
        )
        .bind(id)
        .bind(&input.event_id)
        .bind(&category_id)
        .bind(user_id)
        .bind(&holder)
        .bind(serial)
        .bind(price)
        .bind(currency.code())
        .bind(bps)
        .bind(now)
        .execute(tx.conn())
        .await?;
        append_provenance(
            tx.conn(),
            &state.signer,
            Link {
                ticket_id: id,
                kind: "issued",
                version: 1,
                from: None,
                to: Some(user_id),
                at: now,
            },
        )
        .await?;
    }
    // The answer is read and stored inside the transaction: tickets, money
    // and the Idempotency-Key's answer commit together.
    let mut tickets = Vec::with_capacity(ticket_ids.len());
    for id in &ticket_ids {
        if let Some(t) = load_ticket(tx.conn(), &state.signer, id, true).await? {
            tickets.push(t.view);
        }
    }
    let first = tickets
        .first()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("purchased tickets vanished")))?;
    let resp = PurchaseResponse {
        ticket: first,
        tickets,
        new_balance: format_minor(posted.balances[&buyer_account], currency),
        currency: currency.code().to_owned(),
    };
    let answer = Answer::store(tx.conn(), user_id, key, StatusCode::CREATED, &resp).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Staff of the event's home club, or an admin.
async fn require_gate_staff(state: &AppState, user: &AuthUser, event_id: &str) -> ApiResult<()> {
    let row = sqlx::query("SELECT home_club_id FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(state.db.reader())
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    user.require_staff_of(&row.try_get::<String, _>("home_club_id")?)
}

pub struct Scan<'a> {
    pub qr_code: &'a str,
    pub event_id: Option<&'a str>,
    pub gate: Option<&'a str>,
    pub exit: bool,
    pub nonce: Option<&'a str>,
    /// Device time for uploaded scans; None for a live scan (now).
    pub scanned_at: Option<i64>,
}

fn result(
    status: &str,
    reason: impl Into<String>,
    exit: bool,
    nonce: Option<&str>,
) -> CheckinResult {
    CheckinResult {
        status: status.to_owned(),
        reason: reason.into(),
        kind: if exit { "exit" } else { "entry" }.to_owned(),
        ticket: None,
        first_scan: None,
        nonce: nonce.map(str::to_owned),
        replayed: false,
    }
}

/// Validates the caller against the event the scan is for (the given one, or
/// the one the token names).
pub async fn authorize_scan(state: &AppState, user: &AuthUser, scan: &Scan<'_>) -> ApiResult<()> {
    if user.role == crate::auth::token::Role::Fan {
        return Err(ApiError::forbidden(
            "scanning tickets needs staff of the home club",
        ));
    }
    let event = match scan.event_id {
        Some(e) => Some(e.to_owned()),
        None => state
            .signer
            .verify_ticket(scan.qr_code)
            .ok()
            .map(|c| c.event_id.to_string()),
    };
    match event {
        Some(e) => match require_gate_staff(state, user, &e).await {
            // A token for an event that does not exist is simply invalid.
            Err(ApiError::Client {
                code: "not_found", ..
            }) if scan.event_id.is_none() => Ok(()),
            other => other,
        },
        None => Ok(()),
    }
}

/// One scan, decided atomically: two concurrent scans of one ticket give
/// exactly one `ok`, because only one conditional update can match.
pub async fn checkin(state: &AppState, staff_id: &str, scan: Scan<'_>) -> ApiResult<CheckinResult> {
    let now = now_ms();
    let at = scan.scanned_at.unwrap_or(now);
    let batch = scan.scanned_at.is_some();
    let claims = state.signer.verify_ticket(scan.qr_code);
    let record_event = scan
        .event_id
        .map(str::to_owned)
        .or_else(|| claims.as_ref().ok().map(|c| c.event_id.to_string()))
        .unwrap_or_default();

    let mut tx = state.db.begin_write().await?;
    if let Some(nonce) = scan.nonce
        && let Some(previous) = stored_answer(tx.conn(), &record_event, nonce).await?
    {
        return Ok(previous);
    }

    let mut res = decide(state, tx.conn(), &scan, &claims, at, batch).await?;
    let ticket_id = res.ticket.as_ref().map(|t| t.id.clone());
    let response = serde_json::to_string(&res).map_err(|e| ApiError::Internal(e.into()))?;
    let inserted = sqlx::query(
        "INSERT INTO ticket_checkins (id, ticket_id, event_id, staff_id, kind, gate, nonce, status, reason, response, source, scanned_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(new_id())
    .bind(ticket_id)
    .bind(&record_event)
    .bind(staff_id)
    .bind(&res.kind)
    .bind(scan.gate)
    .bind(scan.nonce)
    .bind(&res.status)
    .bind(&res.reason)
    .bind(&response)
    .bind(if batch { "batch" } else { "online" })
    .bind(at)
    .bind(now)
    .execute(tx.conn())
    .await;
    match inserted {
        Ok(_) => tx.commit().await?,
        Err(e) if constraint_violation(&e).is_some_and(|c| c.contains("nonce")) => {
            // The same nonce won a race with us: its answer is the answer.
            drop(tx);
            let mut conn = state.db.reader().acquire().await?;
            if let Some(nonce) = scan.nonce
                && let Some(previous) = stored_answer(&mut conn, &record_event, nonce).await?
            {
                return Ok(previous);
            }
            return Err(ApiError::conflict(
                "scan_in_flight",
                "this scan is being processed",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    res.replayed = false;
    Ok(res)
}

async fn stored_answer(
    conn: &mut AnyConnection,
    event_id: &str,
    nonce: &str,
) -> ApiResult<Option<CheckinResult>> {
    let row =
        sqlx::query("SELECT response FROM ticket_checkins WHERE event_id = $1 AND nonce = $2")
            .bind(event_id)
            .bind(nonce)
            .fetch_optional(conn)
            .await?;
    Ok(row
        .map(|r| r.try_get::<String, _>("response"))
        .transpose()?
        .and_then(|s| serde_json::from_str::<CheckinResult>(&s).ok())
        .map(|mut r| {
            r.replayed = true;
            r
        }))
}

async fn decide(
    state: &AppState,
    conn: &mut AnyConnection,
    scan: &Scan<'_>,
    claims: &Result<TicketClaims, TokenError>,
    at: i64,
    batch: bool,
) -> ApiResult<CheckinResult> {
    let exit = scan.exit;
    let nonce = scan.nonce;
    let claims = match claims {
        Ok(c) => c,
        Err(e) => {
            return Ok(result(
                "invalid",
                format!("not a valid ticket: {e}"),
                exit,
                nonce,
            ));
        }
    };
    if let Some(event) = scan.event_id
        && event != claims.event_id.to_string()
    {
        return Ok(result(
            "wrong_event",
            "this ticket is for another match",
            exit,
            nonce,
        ));
    }
    let id = claims.ticket_id.to_string();
    let Some(t) = load_ticket(&mut *conn, &state.signer, &id, false).await? else {
        return Ok(result("invalid", "unknown ticket", exit, nonce));
    };
    if t.view.event_id != claims.event_id.to_string()
        || t.view.category_id != claims.category_id.to_string()
        || t.view.serial != i64::from(claims.serial)
    {
        return Ok(result(
            "invalid",
            "the ticket does not match its signature",
            exit,
            nonce,
        ));
    }
    let mut res = result("ok", "", exit, nonce);
    res.ticket = Some(CheckinTicket {
        id: id.clone(),
        serial: t.view.serial,
        category: t.view.category.clone(),
        holder_name: t.view.holder_name.clone(),
    });
    let with = |mut r: CheckinResult, status: &str, reason: String| {
        r.status = status.to_owned();
        r.reason = reason;
        r
    };
    if i64::from(claims.version) != t.view.version {
        return Ok(with(
            res,
            "revoked",
            "this QR code was replaced (ticket transferred)".into(),
        ));
    }
    match t.view.status.as_str() {
        "refunded" => return Ok(with(res, "refunded", "this ticket was refunded".into())),
        "revoked" => return Ok(with(res, "revoked", "this ticket was revoked".into())),
        _ => {}
    }
    let version = t.view.version;
    if exit {
        let n = sqlx::query(
            "UPDATE tickets SET inside = 0, updated_at = $3 WHERE id = $1 AND version = $2 AND status = 'used' AND inside = 1",
        )
        .bind(&id)
        .bind(version)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        let reason = if n == 1 {
            "exit recorded; re-entry allowed"
        } else {
            "exit recorded (was not inside)"
        };
        return Ok(with(res, "ok", reason.into()));
    }
    let entered = sqlx::query(
        "UPDATE tickets SET status = 'used', inside = 1,
                first_used_at = COALESCE(first_used_at, $3), first_used_gate = COALESCE(first_used_gate, $4),
                updated_at = $5
         WHERE id = $1 AND version = $2 AND status IN ('valid', 'used') AND inside = 0",
    )
    .bind(&id)
    .bind(version)
    .bind(at)
    .bind(scan.gate)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if entered == 1 {
        let reason = if t.first_used_at.is_some() {
            "re-entry after exit"
        } else {
            "welcome"
        };
        return Ok(with(res, "ok", reason.into()));
    }
    // Already inside. An uploaded offline scan that happened before the
    // recorded first scan becomes the first one: the earliest scan wins.
    if batch
        && let Some(first) = t.first_used_at
        && at < first
    {
        let moved = sqlx::query(
            "UPDATE tickets SET first_used_at = $2, first_used_gate = $3, updated_at = $4
             WHERE id = $1 AND first_used_at > $2",
        )
        .bind(&id)
        .bind(at)
        .bind(scan.gate)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if moved == 1 {
            return Ok(with(
                res,
                "ok",
                format!(
                    "earliest scan; the scan at {} is now the duplicate",
                    rfc3339(first)
                ),
            ));
        }
    }
    let current = load_ticket(&mut *conn, &state.signer, &id, false).await?;
    let (first_at, first_gate) = match current {
        Some(c) => (
            c.first_used_at.or(t.first_used_at),
            c.first_used_gate.or(t.first_used_gate),
        ),
        None => (t.first_used_at, t.first_used_gate),
    };
    let mut r = with(
        res,
        "already_redeemed",
        format!(
            "already scanned in at {}",
            first_at
                .map(rfc3339)
                .unwrap_or_else(|| "an earlier time".into())
        ),
    );
    r.first_scan = first_at.map(|at| FirstScan {
        at: rfc3339(at),
        gate: first_gate,
    });
    Ok(r)
}

pub async fn gate_kit(
    state: &AppState,
    user: &AuthUser,
    event_id: &str,
    since: Option<i64>,
) -> ApiResult<GateKit> {
    require_gate_staff(state, user, event_id).await?;
    // Taken before reading, and a little early: a change committed while we
    // read is sent again next time rather than missed.
    let next_since = now_ms() - 2_000;
    let rows = sqlx::query(
        "SELECT id, status, version, inside, first_used_at, first_used_gate FROM tickets
         WHERE event_id = $1 AND updated_at > $2 ORDER BY id",
    )
    .bind(event_id)
    .bind(since.unwrap_or(-1))
    .fetch_all(state.db.reader())
    .await?;
    let mut revoked = Vec::new();
    let mut used = Vec::new();
    for r in &rows {
        let id: String = r.try_get("id")?;
        let status: String = r.try_get("status")?;
        let version: i64 = r.try_get("version")?;
        match status.as_str() {
            "refunded" | "revoked" => revoked.push(RevokedEntry {
                ticket_id: id.clone(),
                valid_version: None,
                reason: status.clone(),
            }),
            _ if version > 1 => revoked.push(RevokedEntry {
                ticket_id: id.clone(),
                valid_version: Some(version),
                reason: "transferred".into(),
            }),
            _ => {}
        }
        if let Some(at) = r.try_get::<Option<i64>, _>("first_used_at")? {
            used.push(UsedEntry {
                ticket_id: id,
                used_at: rfc3339(at),
                gate: r.try_get("first_used_gate")?,
                inside: r.try_get::<i64, _>("inside")? != 0,
            });
        }
    }
    Ok(GateKit {
        event_id: event_id.to_owned(),
        keys: keys(state),
        revoked,
        used,
        next_since,
        full: since.is_none(),
    })
}

pub fn keys(state: &AppState) -> Vec<PublicKey> {
    vec![PublicKey {
        kid: state.signer.kid_text(),
        alg: "EdDSA".into(),
        public_key: state.signer.public_key_b64(),
    }]
}

pub async fn transfer(
    state: &AppState,
    user: &AuthUser,
    ticket_id: &str,
    recipient_id: Option<&str>,
    recipient_email: Option<&str>,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let t = own_ticket(state, user, ticket_id).await?;
    if t.owner_id != user.id {
        return Err(ApiError::not_found("ticket"));
    }
    let recipient = match (recipient_id, recipient_email) {
        (Some(id), _) => {
            sqlx::query("SELECT id, name FROM users WHERE id = $1")
                .bind(id.trim())
                .fetch_optional(state.db.reader())
                .await?
        }
        (None, Some(e)) => match normalize_email(e) {
            Some(e) => {
                sqlx::query("SELECT id, name FROM users WHERE email = $1")
                    .bind(e)
                    .fetch_optional(state.db.reader())
                    .await?
            }
            None => None,
        },
        (None, None) => None,
    }
    .ok_or_else(|| ApiError::not_found("recipient"))?;
    let to: String = recipient.try_get("id")?;
    let to_name: String = recipient.try_get("name")?;
    if to == user.id {
        return Err(ApiError::field(
            "recipientId",
            "self_transfer",
            "this ticket is already yours",
        ));
    }
    let now = now_ms();
    if now >= t.kickoff_at {
        return Err(ApiError::conflict(
            "not_transferable",
            "the match has started",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE tickets SET owner_id = $3, holder_name = $4, version = version + 1, updated_at = $5
         WHERE id = $1 AND owner_id = $2 AND status = 'valid'
         RETURNING version",
    )
    .bind(ticket_id)
    .bind(&user.id)
    .bind(&to)
    .bind(&to_name)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "not_transferable",
            format!("a {} ticket cannot be transferred", t.view.status),
        )
    })?;
    let version: i64 = row.try_get("version")?;
    append_provenance(
        tx.conn(),
        &state.signer,
        Link {
            ticket_id,
            kind: "transferred",
            version,
            from: Some(&user.id),
            to: Some(&to),
            at: now,
        },
    )
    .await?;
    let note = notifications::notify(
        tx.conn(),
        &to,
        "ticket.received",
        "Ticket received",
        &format!(
            "You received a ticket for {} vs {}",
            t.view.event.home_team, t.view.event.away_team
        ),
        Some(serde_json::json!({"ticketId": ticket_id})),
    )
    .await?;
    let after = load_ticket(tx.conn(), &state.signer, ticket_id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let answer = Answer::store(
        tx.conn(),
        &user.id,
        key,
        StatusCode::OK,
        &TicketResponse { ticket: after.view },
    )
    .await?;
    tx.commit().await?;
    notifications::publish(state, &to, &note);
    Ok(answer)
}

pub async fn refund(
    state: &AppState,
    user: &AuthUser,
    ticket_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let idempotency_key = key.map(|k| k.0.as_str());
    let t = own_ticket(state, user, ticket_id).await?;
    if t.owner_id != user.id {
        return Err(ApiError::not_found("ticket"));
    }
    if t.buyer_id != user.id {
        return Err(ApiError::conflict(
            "not_refundable",
            "a ticket received from another fan cannot be refunded",
        ));
    }
    let now = now_ms();
    let cutoff = t.kickoff_at - state.config.ticket_refund_cutoff_hours * 3_600_000;
    if now >= cutoff {
        return Err(ApiError::conflict(
            "refund_window_closed",
            format!("refunds closed at {}", rfc3339(cutoff)),
        ));
    }
    let currency = currency_of(&t.view.currency);
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE tickets SET status = 'refunded', inside = 0, updated_at = $3
         WHERE id = $1 AND owner_id = $2 AND buyer_id = $2 AND status = 'valid'
         RETURNING event_id, category_id, version",
    )
    .bind(ticket_id)
    .bind(&user.id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "not_refundable",
            format!("a {} ticket cannot be refunded", t.view.status),
        )
    })?;
    let event_id: String = row.try_get("event_id")?;
    let category_id: String = row.try_get("category_id")?;
    let version: i64 = row.try_get("version")?;
    // The seat and the fan's allowance come back.
    sqlx::query(
        "UPDATE event_fan_purchases SET bought = bought - 1 WHERE event_id = $1 AND user_id = $2 AND bought >= 1",
    )
    .bind(&event_id)
    .bind(&user.id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE ticket_categories SET sold = sold - 1 WHERE id = $1 AND sold >= 1")
        .bind(&category_id)
        .execute(tx.conn())
        .await?;
    let postings = sales::refund_postings(
        tx.conn(),
        &Sale {
            buyer_user_id: &user.id,
            club_id: &t.home_club_id,
            amount: t.price_minor,
            currency,
            commission_bps: t.commission_bps,
            reference: ("ticket", ticket_id.to_owned()),
        },
    )
    .await?;
    let buyer_account =
        ledger::account_id(tx.conn(), AccountKind::User, &user.id, currency).await?;
    let posted = ledger::post(
        tx.conn(),
        Operation {
            kind: "ticket_refund",
            user_id: Some(&user.id),
            idempotency_key,
        },
        postings,
    )
    .await
    .map_err(|e| ledger_error(e, currency))?;
    append_provenance(
        tx.conn(),
        &state.signer,
        Link {
            ticket_id,
            kind: "refunded",
            version,
            from: Some(&user.id),
            to: None,
            at: now,
        },
    )
    .await?;
    let after = load_ticket(tx.conn(), &state.signer, ticket_id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let resp = RefundResponse {
        ticket: after.view,
        refunded: format_minor(t.price_minor, currency),
        new_balance: format_minor(posted.balances[&buyer_account], currency),
        currency: currency.code().to_owned(),
    };
    let answer = Answer::store(tx.conn(), &user.id, key, StatusCode::OK, &resp).await?;
    tx.commit().await?;
    Ok(answer)
}

pub async fn metadata(state: &AppState, ticket_id: &str) -> ApiResult<NftMetadata> {
    let t = load_ticket(state.db.reader(), &state.signer, ticket_id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?
        .view;
    let title = format!("{} vs {}", t.event.home_team, t.event.away_team);
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="300"><rect width="600" height="300" rx="24" fill="#0b1f3a"/><text x="40" y="90" font-family="sans-serif" font-size="34" fill="#fff">{}</text><text x="40" y="150" font-family="sans-serif" font-size="22" fill="#9fc3ff">{} · {}</text><text x="40" y="230" font-family="sans-serif" font-size="28" fill="#ffd24d">{} #{}</text></svg>"##,
        xml_escape(&title),
        xml_escape(&t.event.competition),
        xml_escape(&t.event.kickoff[..10.min(t.event.kickoff.len())]),
        xml_escape(&t.category),
        t.serial
    );
    use base64::Engine;
    let image = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    let attr = |k: &str, v: serde_json::Value| Attribute {
        trait_type: k.to_owned(),
        value: v,
    };
    Ok(NftMetadata {
        name: format!("{title} — {} #{}", t.category, t.serial),
        description: format!(
            "Match ticket for {title} ({}), {} at {}. Signed by PaieCashFan; verify with GET /api/keys.",
            t.event.competition, t.event.kickoff, t.event.venue
        ),
        image,
        external_url: format!("/api/tickets/{}/metadata", t.id),
        attributes: vec![
            attr("match", title.clone().into()),
            attr("competition", t.event.competition.clone().into()),
            attr("kickoff", t.event.kickoff.clone().into()),
            attr("venue", t.event.venue.clone().into()),
            attr("category", t.category.clone().into()),
            attr("serial", t.serial.into()),
        ],
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn provenance(
    state: &AppState,
    user: &AuthUser,
    ticket_id: &str,
) -> ApiResult<Provenance> {
    let t = load_ticket(state.db.reader(), &state.signer, ticket_id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let involved = sqlx::query(
        "SELECT 1 FROM ticket_provenance WHERE ticket_id = $1 AND (from_user = $2 OR to_user = $2) LIMIT 1",
    )
    .bind(ticket_id)
    .bind(&user.id)
    .fetch_optional(state.db.reader())
    .await?
    .is_some();
    let staff = user.require_staff_of(&t.home_club_id).is_ok();
    if !(involved || staff) {
        return Err(ApiError::not_found("ticket"));
    }
    let rows = sqlx::query(
        "SELECT seq, kind, version, from_user, to_user, at, prev_hash, hash, signature
         FROM ticket_provenance WHERE ticket_id = $1 ORDER BY seq",
    )
    .bind(ticket_id)
    .fetch_all(state.db.reader())
    .await?;
    let entries = rows
        .iter()
        .map(|r| {
            let at: i64 = r.try_get("at")?;
            Ok(ProvenanceEntry {
                seq: r.try_get("seq")?,
                kind: r.try_get("kind")?,
                version: r.try_get("version")?,
                from: r.try_get("from_user")?,
                to: r.try_get("to_user")?,
                at_ms: at,
                at: rfc3339(at),
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
                signature: r.try_get("signature")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?
        .into_iter()
        // A fan sees the links they were part of, not who held the ticket
        // before or after them; each link still verifies on its own hash
        // and signature. Staff of the club and admins see the whole chain.
        .filter(|e: &ProvenanceEntry| {
            staff || e.from.as_deref() == Some(&user.id) || e.to.as_deref() == Some(&user.id)
        })
        .collect();
    Ok(Provenance {
        ticket_id: ticket_id.to_owned(),
        kid: state.signer.kid_text(),
        public_key: state.signer.public_key_b64(),
        entries,
    })
}
