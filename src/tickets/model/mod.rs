use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};
use crate::wallet::money::AmountInput;

mod gate;
pub use gate::*;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[schema(example = "35.00")]
    pub price: String,
    pub currency: String,
    pub capacity: i64,
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    /// Home club id (the seller).
    pub home_club: String,
    /// Away club id when the opponent is a club on the platform.
    pub away_club: Option<String>,
    pub home_team: String,
    pub away_team: String,
    pub competition: String,
    pub venue: String,
    pub kickoff: String,
    /// Same as `kickoff` (v1.0 name).
    pub date: String,
    pub sale_starts_at: String,
    pub sale_ends_at: String,
    /// `upcoming` (sale not open), `on_sale`, `sale_closed`, `sold_out`.
    pub status: String,
    pub per_fan_limit: i64,
    /// Cheapest category price, null without categories.
    pub price_from: Option<String>,
    pub currency: String,
    pub seats_available: i64,
    pub categories: Vec<Category>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<Event>,
}

#[derive(Serialize, ToSchema)]
pub struct EventResponse {
    pub event: Event,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events where this club plays (home or away).
    #[param(min_length = 1, max_length = 64)]
    pub club: Option<String>,
}

impl Validate for EventQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.optional_text("club", self.club.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketEvent {
    pub id: String,
    pub home_team: String,
    pub away_team: String,
    pub competition: String,
    pub venue: String,
    pub kickoff: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    pub event_id: String,
    pub category_id: String,
    pub category: String,
    pub holder_name: String,
    /// Seat serial number within the event.
    pub serial: i64,
    pub status: TicketStatus,
    /// Bumped by every transfer; QR codes of older versions are revoked.
    pub version: i64,
    pub price: String,
    pub currency: String,
    pub event: TicketEvent,
    /// The signed QR token (owner only).
    pub qr_code: Option<String>,
    pub purchased_at: String,
    pub used_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketResponse {
    pub ticket: Ticket,
}

#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurchaseRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub event_id: String,
    /// Category id or name; without it, the event's `standard` seats
    /// (422 naming `category` when it has none).
    #[schema(min_length = 1, max_length = 100)]
    pub category: Option<String>,
    /// 1 to the event's per-fan limit; default 1.
    #[schema(minimum = 1, maximum = 20)]
    pub quantity: Option<i64>,
    /// v1.0 price guard (unit price): if it differs from the server's, 409 `price_changed`.
    #[schema(value_type = Option<String>, example = "35.00")]
    pub price: Option<AmountInput>,
    /// Name printed on the ticket; defaults to the buyer's name.
    #[schema(min_length = 1, max_length = 100)]
    pub holder_name: Option<String>,
}

impl Validate for PurchaseRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("eventId", &self.event_id, 1, 64);
        c.optional_text("category", self.category.as_deref(), 1, 100);
        if let Some(q) = self.quantity {
            c.range("quantity", q, 1, 20);
        }
        c.optional_text("holderName", self.holder_name.as_deref(), 1, 100);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TicketPurchaseResponse)]
pub struct PurchaseResponse {
    /// The first ticket (v1.0).
    pub ticket: Ticket,
    /// Every ticket bought.
    pub tickets: Vec<Ticket>,
    pub new_balance: String,
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrResponse {
    /// The signed token a scanner reads.
    pub qr_code: String,
    pub ticket_id: String,
    pub event_id: String,
    pub version: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `json` (default), `svg` or `png`.
    #[param(pattern = "^(json|svg|png)$")]
    pub format: Option<String>,
}

impl Validate for QrQuery {
    fn validate(&self) -> Result<(), ApiError> {
        match self.format.as_deref() {
            None | Some("json" | "svg" | "png") => Ok(()),
            Some(_) => Err(ApiError::field(
                "format",
                "invalid_value",
                "must be json, svg or png",
            )),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// The new holder's user id (or give `recipientEmail`, not both).
    #[schema(min_length = 1, max_length = 64)]
    pub recipient_id: Option<String>,
    #[schema(min_length = 3, max_length = 254)]
    pub recipient_email: Option<String>,
}

impl Validate for TransferRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.recipient(
            self.recipient_id.as_deref(),
            self.recipient_email.as_deref(),
        );
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    pub ticket: Ticket,
    pub refunded: String,
    pub new_balance: String,
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
pub struct Attribute {
    pub trait_type: String,
    pub value: serde_json::Value,
}

/// EIP-721 metadata JSON.
#[derive(Serialize, ToSchema)]
pub struct NftMetadata {
    pub name: String,
    pub description: String,
    pub image: String,
    pub external_url: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceEntry {
    pub seq: i64,
    /// `issued`, `transferred`, `refunded`.
    pub kind: String,
    pub version: i64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Milliseconds since the epoch, as hashed.
    pub at_ms: i64,
    pub at: String,
    pub prev_hash: String,
    /// SHA-256 (hex) of `seq|kind|ticketId|version|from|to|atMs|prevHash`.
    pub hash: String,
    /// Ed25519 signature (base64url) of the ASCII `hash`, by key `kid`.
    pub signature: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub ticket_id: String,
    pub kid: String,
    pub public_key: String,
    pub entries: Vec<ProvenanceEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCategory {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(value_type = String, example = "35.00")]
    pub price: AmountInput,
    #[schema(minimum = 1, maximum = 200_000)]
    pub capacity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    #[schema(min_length = 1, max_length = 64)]
    pub home_club: String,
    #[schema(min_length = 1, max_length = 64)]
    pub away_club: Option<String>,
    /// Opponent's name when it is not a club on the platform.
    #[schema(min_length = 1, max_length = 100)]
    pub away_team: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub competition: String,
    #[schema(min_length = 1, max_length = 200)]
    pub venue: String,
    /// RFC 3339.
    pub kickoff: String,
    /// RFC 3339; default now.
    pub sale_starts_at: Option<String>,
    /// RFC 3339; default kickoff.
    pub sale_ends_at: Option<String>,
    #[schema(minimum = 1, maximum = 20)]
    pub per_fan_limit: Option<i64>,
    #[schema(min_items = 1, max_items = 20)]
    pub categories: Vec<NewCategory>,
}

fn check_category(c: &mut Checks, prefix: &str, cat: &NewCategory) {
    c.text(&format!("{prefix}name"), &cat.name, 1, 100);
    c.range(&format!("{prefix}capacity"), cat.capacity, 1, 200_000);
}

pub fn parse_time(field: &str, v: &str) -> Result<i64, crate::domain::Invalid> {
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            crate::domain::Invalid::field(field, "invalid_format", "must be an RFC 3339 time")
        })
}

impl Validate for NewEvent {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("homeClub", &self.home_club, 1, 64);
        c.optional_text("awayClub", self.away_club.as_deref(), 1, 64);
        c.optional_text("awayTeam", self.away_team.as_deref(), 1, 100);
        if self.away_club.is_none() && self.away_team.is_none() {
            c.push("awayTeam", "required", "give awayClub or awayTeam");
        }
        c.text("competition", &self.competition, 1, 100);
        c.text("venue", &self.venue, 1, 200);
        for (field, v) in [
            ("kickoff", Some(&self.kickoff)),
            ("saleStartsAt", self.sale_starts_at.as_ref()),
            ("saleEndsAt", self.sale_ends_at.as_ref()),
        ] {
            if let Some(v) = v
                && parse_time(field, v).is_err()
            {
                c.push(field, "invalid_format", "must be an RFC 3339 time");
            }
        }
        if let Some(l) = self.per_fan_limit {
            c.range("perFanLimit", l, 1, 20);
        }
        if self.categories.is_empty() || self.categories.len() > 20 {
            c.push("categories", "out_of_range", "between 1 and 20 categories");
        }
        for (i, cat) in self.categories.iter().enumerate() {
            check_category(&mut c, &format!("categories[{i}]."), cat);
        }
        c.finish()
    }
}

impl Validate for NewCategory {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        check_category(&mut c, "", self);
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEvent {
    #[schema(min_length = 1, max_length = 100)]
    pub competition: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub venue: Option<String>,
    pub kickoff: Option<String>,
    pub sale_starts_at: Option<String>,
    pub sale_ends_at: Option<String>,
    #[schema(minimum = 1, maximum = 20)]
    pub per_fan_limit: Option<i64>,
}

impl Validate for UpdateEvent {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.optional_text("competition", self.competition.as_deref(), 1, 100);
        c.optional_text("venue", self.venue.as_deref(), 1, 200);
        for (field, v) in [
            ("kickoff", self.kickoff.as_ref()),
            ("saleStartsAt", self.sale_starts_at.as_ref()),
            ("saleEndsAt", self.sale_ends_at.as_ref()),
        ] {
            if let Some(v) = v
                && parse_time(field, v).is_err()
            {
                c.push(field, "invalid_format", "must be an RFC 3339 time");
            }
        }
        if let Some(l) = self.per_fan_limit {
            c.range("perFanLimit", l, 1, 20);
        }
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCategory {
    #[schema(value_type = Option<String>)]
    pub price: Option<AmountInput>,
    #[schema(minimum = 0, maximum = 200_000)]
    pub capacity: Option<i64>,
}

impl Validate for UpdateCategory {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        if let Some(cap) = self.capacity {
            c.range("capacity", cap, 0, 200_000);
        }
        c.finish()
    }
}

crate::status_enum!(
    /// Where a ticket stands.
    TicketStatus {
        /// Can enter (its QR code is shown).
        Valid = "valid",
        /// Scanned in at least once; re-entry follows the gate's rules.
        Used = "used",
        /// Paid back; the seat is free again.
        Refunded = "refunded",
        /// Replaced by a newer version (a transfer).
        Revoked = "revoked",
    }
);
