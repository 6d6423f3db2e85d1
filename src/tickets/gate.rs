//! The gate: live and uploaded scans decided atomically, the offline gate
//! kit and the public keys that verify tickets.

use sqlx::{AnyConnection, Row};

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::{Caller, Forbidden};
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::signing::{TicketClaims, TokenError};
use crate::tickets::store::*;

impl Tickets {
    /// Staff of the event's home club, or an admin.
    async fn require_gate_staff(&self, user: &Caller, event_id: &str) -> Result<(), TicketError> {
        let row = sqlx::query("SELECT home_club_id FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(TicketError::NotFound("event"))?;
        Ok(user.require_staff_of(&row.try_get::<String, _>("home_club_id")?)?)
    }

    /// Validates the caller against the event the scan is for (the given one, or
    /// the one the token names).
    pub async fn authorize_scan(&self, user: &Caller, scan: &Scan<'_>) -> Result<(), TicketError> {
        if user.role == crate::auth::token::Role::Fan {
            return Err(Forbidden::new("scanning tickets needs staff of the home club").into());
        }
        let event = match scan.event_id {
            Some(e) => Some(e.to_owned()),
            None => self
                .signer
                .verify_ticket(scan.qr_code)
                .ok()
                .map(|c| c.event_id.to_string()),
        };
        match event {
            Some(e) => match self.require_gate_staff(user, &e).await {
                // A token for an event that does not exist is simply invalid.
                Err(TicketError::NotFound(_)) if scan.event_id.is_none() => Ok(()),
                other => other,
            },
            None => Ok(()),
        }
    }

    /// One scan, decided atomically: two concurrent scans of one ticket give
    /// exactly one `ok`, because only one conditional update can match.
    pub async fn checkin(
        &self,
        staff_id: &str,
        scan: Scan<'_>,
    ) -> Result<CheckinResult, TicketError> {
        let now = now_ms();
        let at = scan.scanned_at.unwrap_or(now);
        let batch = scan.scanned_at.is_some();
        let claims = self.signer.verify_ticket(scan.qr_code);
        let record_event = scan
            .event_id
            .map(str::to_owned)
            .or_else(|| claims.as_ref().ok().map(|c| c.event_id.to_string()))
            .unwrap_or_default();

        let mut tx = self.db.begin_write().await?;
        if let Some(nonce) = scan.nonce
            && let Some(previous) = stored_answer(tx.conn(), &record_event, nonce).await?
        {
            return Ok(previous);
        }

        let mut res = self.decide(tx.conn(), &scan, &claims, at, batch).await?;
        let ticket_id = res.ticket.as_ref().map(|t| t.id.clone());
        let response =
            serde_json::to_string(&res).map_err(|e| TicketError::Internal(e.to_string()))?;
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
            Err(e) if CHECKIN_NONCE.violated_by(&e) => {
                // The same nonce won a race with us: its answer is the answer.
                drop(tx);
                let mut conn = self.db.reader().acquire().await?;
                if let Some(nonce) = scan.nonce
                    && let Some(previous) = stored_answer(&mut conn, &record_event, nonce).await?
                {
                    return Ok(previous);
                }
                return Err(TicketError::ScanInFlight);
            }
            Err(e) => return Err(e.into()),
        }
        res.replayed = false;
        Ok(res)
    }

    async fn decide(
        &self,
        conn: &mut AnyConnection,
        scan: &Scan<'_>,
        claims: &Result<TicketClaims, TokenError>,
        at: i64,
        batch: bool,
    ) -> Result<CheckinResult, TicketError> {
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
        let Some(t) = load_ticket(&mut *conn, &self.signer, &id, false).await? else {
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
        match t.view.status {
            TicketStatus::Refunded => {
                return Ok(with(res, "refunded", "this ticket was refunded".into()));
            }
            TicketStatus::Revoked => {
                return Ok(with(res, "revoked", "this ticket was revoked".into()));
            }
            TicketStatus::Valid | TicketStatus::Used => {}
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
        let current = load_ticket(&mut *conn, &self.signer, &id, false).await?;
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
        &self,
        user: &Caller,
        event_id: &str,
        since: Option<i64>,
    ) -> Result<GateKit, TicketError> {
        self.require_gate_staff(user, event_id).await?;
        // Taken before reading, and a little early: a change committed while we
        // read is sent again next time rather than missed.
        let next_since = now_ms() - 2_000;
        let rows = sqlx::query(
            "SELECT id, status, version, inside, first_used_at, first_used_gate FROM tickets
         WHERE event_id = $1 AND updated_at > $2 ORDER BY id",
        )
        .bind(event_id)
        .bind(since.unwrap_or(-1))
        .fetch_all(self.db.reader())
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
            keys: self.keys(),
            revoked,
            used,
            next_since,
            full: since.is_none(),
        })
    }

    pub fn keys(&self) -> Vec<PublicKey> {
        vec![PublicKey {
            kid: self.signer.kid_text(),
            alg: "EdDSA".into(),
            public_key: self.signer.public_key_b64(),
        }]
    }
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

async fn stored_answer(
    conn: &mut AnyConnection,
    event_id: &str,
    nonce: &str,
) -> Result<Option<CheckinResult>, TicketError> {
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
