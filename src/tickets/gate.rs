//! The gate: live and uploaded scans decided atomically, the offline gate
//! kit and the public keys that verify tickets.

use sqlx::AnyConnection;

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::{Caller, Forbidden};
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::rules::{Admission, TicketFacts, admission};
use crate::tickets::signing::{TicketClaims, TokenError};
use crate::tickets::store::gate::{self as gate_store, Checkin};
use crate::tickets::store::*;

/// How far an offline device's clock may be from the server's: an uploaded
/// scan dated further ahead, or further before its ticket was bought, counts
/// at the upload's time.
pub const DEVICE_CLOCK_SKEW_MS: i64 = 5 * 60_000;

impl Tickets {
    /// Staff of the event's home club, or an admin.
    async fn require_gate_staff(&self, user: &Caller, event_id: &str) -> Result<(), TicketError> {
        let club = gate_store::home_club_of(self.db.reader(), event_id)
            .await?
            .ok_or(TicketError::NotFound("event"))?;
        Ok(user.require_staff_of(&club)?)
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

        let this = ThisScan {
            fingerprint: scan_fingerprint(staff_id, &scan),
            staff_id,
            kind: if scan.exit { "exit" } else { "entry" },
            ticket_id: claims.as_ref().ok().map(|c| c.ticket_id.to_string()),
            live: !batch,
            now,
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(nonce) = scan.nonce
            && let Some(previous) = stored_answer(tx.conn(), &record_event, nonce, &this).await?
        {
            return previous;
        }

        // The time recorded: the device's, unless decide finds it untrustworthy.
        let mut at = at;
        let mut res = self
            .decide(tx.conn(), &scan, &claims, &mut at, batch)
            .await?;
        let ticket_id = res.ticket.as_ref().map(|t| t.id.clone());
        let response =
            serde_json::to_string(&res).map_err(|e| TicketError::Internal(e.to_string()))?;
        let inserted = gate_store::record_checkin(
            tx.conn(),
            Checkin {
                id: &new_id(),
                ticket_id: ticket_id.as_deref(),
                event_id: &record_event,
                staff_id,
                kind: &res.kind,
                gate: scan.gate,
                nonce: scan.nonce,
                status: &res.status,
                reason: &res.reason,
                response: &response,
                source: if batch { "batch" } else { "online" },
                scan_hash: &this.fingerprint,
                scanned_at: at,
                now,
            },
        )
        .await;
        match inserted {
            Ok(_) => tx.commit().await?,
            Err(e) if CHECKIN_NONCE.violated_by(&e) => {
                // The same nonce won a race with us: its answer is the answer.
                drop(tx);
                let mut conn = self.db.reader().acquire().await?;
                if let Some(nonce) = scan.nonce
                    && let Some(previous) =
                        stored_answer(&mut conn, &record_event, nonce, &this).await?
                {
                    return previous;
                }
                return Err(TicketError::ScanInFlight);
            }
            Err(e) => return Err(e.into()),
        }
        res.replayed = false;
        Ok(res)
    }

    /// An uploaded offline scan: as [`Tickets::checkin`], except that a
    /// scan whose nonce already named another scan is still decided and
    /// recorded (without the nonce): it happened, whatever its nonce.
    pub async fn upload_scan(
        &self,
        staff_id: &str,
        scan: Scan<'_>,
    ) -> Result<CheckinResult, TicketError> {
        match self.checkin(staff_id, scan).await {
            // The device already let the holder in (or out): the scan is
            // decided and recorded all the same, without the nonce, so the
            // ticket cannot be used again elsewhere.
            Err(TicketError::NonceReused) => {
                let mut r = self
                    .checkin(
                        staff_id,
                        Scan {
                            nonce: None,
                            ..scan
                        },
                    )
                    .await?;
                r.nonce = scan.nonce.map(str::to_owned);
                r.reason = format!(
                    "{}{}nonce already used for another scan: recorded without it",
                    r.reason,
                    if r.reason.is_empty() { "" } else { "; " }
                );
                Ok(r)
            }
            other => other,
        }
    }

    async fn decide(
        &self,
        conn: &mut AnyConnection,
        scan: &Scan<'_>,
        claims: &Result<TicketClaims, TokenError>,
        at: &mut i64,
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
        let facts = TicketFacts {
            event_id: &t.view.event_id,
            category_id: &t.view.category_id,
            serial: t.view.serial,
            version: t.view.version,
            status: t.view.status,
        };
        let verdict = admission(claims, &facts);
        if verdict == Admission::Forged {
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
        if let Admission::Refused { status, reason } = verdict {
            return Ok(with(res, status, reason.into()));
        }
        // A device's clock may be a little off, not by more. A scan dated
        // before its ticket existed, or ahead of the server, still happened
        // (the device let the holder in) but its time cannot be trusted: it
        // counts at the upload's time, so it never wins "earliest scan".
        let now = now_ms();
        let clock_off = batch
            && (*at < t.created_at - DEVICE_CLOCK_SKEW_MS || *at > now + DEVICE_CLOCK_SKEW_MS);
        if clock_off {
            *at = now;
        }
        let at = *at;
        let version = t.view.version;
        if exit {
            // An exit whose time cannot be placed against the entries keeps
            // the ticket inside: letting it in again could admit a copy.
            let stepped_out =
                !clock_off && gate_store::step_out(&mut *conn, &id, version, at, now_ms()).await?;
            let reason = if stepped_out {
                "exit recorded; re-entry allowed"
            } else if clock_off {
                "exit recorded; the device's clock was off, so the ticket stays inside"
            } else {
                "exit recorded (was not inside, or entered again since)"
            };
            return Ok(with(res, "ok", reason.into()));
        }
        let entered =
            gate_store::step_in(&mut *conn, &id, version, at, scan.gate, now_ms()).await?;
        if entered {
            let reason = if t.first_used_at.is_some() {
                "re-entry after exit"
            } else {
                "welcome"
            };
            let reason = if clock_off {
                format!("{reason}; the device's clock was off: counted at the upload's time")
            } else {
                reason.into()
            };
            return Ok(with(res, "ok", reason));
        }
        // Already inside. An uploaded offline scan that happened before the
        // recorded first scan becomes the first one: the earliest scan wins.
        if batch
            && let Some(first) = t.first_used_at
            && at < first
        {
            let moved =
                gate_store::earlier_first_scan(&mut *conn, &id, at, scan.gate, now_ms()).await?;
            if moved {
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
        let rows =
            gate_store::changed_since(self.db.reader(), event_id, since.unwrap_or(-1)).await?;
        let mut revoked = Vec::new();
        let mut used = Vec::new();
        for r in rows {
            let (id, version) = (r.id, r.version);
            let status = TicketStatus::stored(&r.status)?;
            match status {
                TicketStatus::Refunded | TicketStatus::Revoked => revoked.push(RevokedEntry {
                    ticket_id: id.clone(),
                    valid_version: None,
                    reason: status.to_string(),
                }),
                _ if version > 1 => revoked.push(RevokedEntry {
                    ticket_id: id.clone(),
                    valid_version: Some(version),
                    reason: "transferred".into(),
                }),
                _ => {}
            }
            if let Some(at) = r.first_used_at {
                used.push(UsedEntry {
                    ticket_id: id,
                    used_at: rfc3339(at),
                    gate: r.first_used_gate,
                    inside: r.inside != 0,
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

#[derive(Clone, Copy)]
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

/// The scan being decided, as a nonce's earlier scan is compared with it.
struct ThisScan<'a> {
    fingerprint: String,
    staff_id: &'a str,
    kind: &'static str,
    ticket_id: Option<String>,
    live: bool,
    now: i64,
}

/// A live scan's nonce replays its answer for this long: a device retries
/// within seconds, and a nonce used again later is a new scan.
const LIVE_REPLAY_MS: i64 = 10 * 60_000;

/// What makes two requests the same scan: who scanned which code, in or
/// out, and for an upload the device's time of the scan (so a re-upload
/// replays, and a nonce reused for a later scan of the same code does not).
fn scan_fingerprint(staff_id: &str, scan: &Scan<'_>) -> String {
    use sha2::{Digest, Sha256};
    let when = scan
        .scanned_at
        .map_or_else(|| "live".to_owned(), |at| at.to_string());
    let mut h = Sha256::new();
    for part in [
        staff_id,
        if scan.exit { "exit" } else { "entry" },
        scan.qr_code,
        &when,
    ] {
        // Lengths first, so no two different scans hash the same bytes.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The answer given to the scan with this nonce, when it was this scan; a
/// refusal when the nonce named another one.
async fn stored_answer(
    conn: &mut AnyConnection,
    event_id: &str,
    nonce: &str,
    this: &ThisScan<'_>,
) -> Result<Option<Result<CheckinResult, TicketError>>, TicketError> {
    let Some(row) = gate_store::scan_with_nonce(conn, event_id, nonce).await? else {
        return Ok(None);
    };
    let same = match &row.scan_hash {
        Some(hash) => *hash == this.fingerprint,
        // Recorded before scans had fingerprints (or by an instance not yet
        // upgraded): the same scanner, kind and ticket.
        None => {
            row.staff_id == this.staff_id
                && row.kind == this.kind
                && row.ticket_id == this.ticket_id
        }
    };
    let stale = this.live && this.now - row.created_at > LIVE_REPLAY_MS;
    if !same || stale {
        return Ok(Some(Err(TicketError::NonceReused)));
    }
    Ok(serde_json::from_str::<CheckinResult>(&row.response)
        .ok()
        .map(|mut r| {
            r.replayed = true;
            Ok(r)
        }))
}
