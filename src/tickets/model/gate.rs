//! What the gate sends and receives: scans, their answers, the offline kit.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckinRequest {
    #[schema(min_length = 1, max_length = 1024)]
    pub qr_code: String,
    #[schema(min_length = 1, max_length = 64)]
    pub event_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub gate: Option<String>,
    /// `entry` (default) or `exit`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(entry|exit)$")]
    pub kind: Option<String>,
    /// Scanner-chosen id of this scan: a retry with the same nonce gets the
    /// first answer again instead of `already_redeemed`.
    #[schema(min_length = 1, max_length = 128)]
    pub nonce: Option<String>,
}

fn check_scan(
    c: &mut Checks,
    qr: &str,
    gate: Option<&str>,
    kind: Option<&str>,
    nonce: Option<&str>,
) {
    c.text("qrCode", qr, 1, 1024);
    c.optional_text("gate", gate, 1, 64);
    c.optional_text("nonce", nonce, 1, 128);
    if let Some(k) = kind
        && k != "entry"
        && k != "exit"
    {
        c.push("type", "invalid_value", "must be entry or exit");
    }
}

impl Validate for CheckinRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        check_scan(
            &mut c,
            &self.qr_code,
            self.gate.as_deref(),
            self.kind.as_deref(),
            self.nonce.as_deref(),
        );
        c.optional_text("eventId", self.event_id.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirstScan {
    pub at: String,
    pub gate: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinTicket {
    pub id: String,
    pub serial: i64,
    pub category: String,
    pub holder_name: String,
}

/// The answer to a scan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinResult {
    /// `ok`, `already_redeemed`, `invalid`, `wrong_event`, `revoked`,
    /// `refunded`.
    pub status: String,
    pub reason: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ticket: Option<CheckinTicket>,
    /// When and where the ticket was first scanned in (on `already_redeemed`).
    pub first_scan: Option<FirstScan>,
    pub nonce: Option<String>,
    /// True when the nonce was seen before and this is the first answer again.
    pub replayed: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchScan {
    #[schema(min_length = 1, max_length = 1024)]
    pub qr_code: String,
    /// When the device scanned it (RFC 3339).
    #[schema(format = DateTime)]
    pub scanned_at: String,
    #[serde(rename = "type")]
    #[schema(pattern = "^(entry|exit)$")]
    pub kind: Option<String>,
    /// Required for uploads, so a re-upload is recognised.
    #[schema(min_length = 1, max_length = 128)]
    pub nonce: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub event_id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub gate: Option<String>,
    /// 1 to 500 scans (and the body under 64 KiB).
    #[schema(min_items = 1)]
    pub scans: Vec<BatchScan>,
}

impl Validate for BatchRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("eventId", &self.event_id, 1, 64);
        c.optional_text("gate", self.gate.as_deref(), 1, 64);
        if self.scans.is_empty() || self.scans.len() > 500 {
            c.push(
                "scans",
                "out_of_range",
                "between 1 and 500 scans per upload",
            );
        }
        for (i, s) in self.scans.iter().enumerate() {
            let mut one = Checks::new();
            check_scan(
                &mut one,
                &s.qr_code,
                None,
                s.kind.as_deref(),
                Some(&s.nonce),
            );
            if time::OffsetDateTime::parse(
                &s.scanned_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_err()
            {
                one.push("scannedAt", "invalid_format", "must be an RFC 3339 time");
            }
            if let Err(ApiError::Client {
                errors: Some(errs), ..
            }) = one.finish()
            {
                for e in errs {
                    c.push(&format!("scans[{i}].{}", e.field), &e.code, e.message);
                }
            }
        }
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// One result per uploaded scan, earliest first.
    pub results: Vec<CheckinResult>,
    pub accepted: i64,
    /// Scans that lost to an earlier scan of the same ticket.
    pub duplicates: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GateKitQuery {
    /// `nextSince` of the previous sync (milliseconds); omit for a full kit.
    #[param(minimum = 0, maximum = 4_611_686_018_427_387_903_i64)]
    pub since: Option<i64>,
}

impl Validate for GateKitQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        if let Some(s) = self.since {
            c.range("since", s, 0, i64::MAX / 2);
        }
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    pub kid: String,
    /// `EdDSA` (Ed25519).
    pub alg: String,
    /// Raw 32-byte public key, base64url.
    pub public_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeysResponse {
    pub keys: Vec<PublicKey>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedEntry {
    pub ticket_id: String,
    /// The only version still valid; null when no version is (refunded).
    pub valid_version: Option<i64>,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsedEntry {
    pub ticket_id: String,
    pub used_at: String,
    pub gate: Option<String>,
    pub inside: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateKit {
    pub event_id: String,
    pub keys: Vec<PublicKey>,
    pub revoked: Vec<RevokedEntry>,
    pub used: Vec<UsedEntry>,
    /// Pass as `since` next time.
    pub next_since: i64,
    /// True when this is a full kit (no `since`).
    pub full: bool,
}
