use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};
use crate::wallet::money::AmountInput;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Slug, such as `europe-starter`.
    pub id: String,
    pub name: String,
    pub region: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// Null when unlimited.
    pub data_mb: Option<i64>,
    pub unlimited: bool,
    /// Human text (v1.0): `5 GB`, `Unlimited`.
    pub data: String,
    pub validity_days: i64,
    /// Human text (v1.0): `7 days`.
    pub validity: String,
    /// `first_use` or `purchase`: when the validity starts counting.
    pub validity_starts: String,
    pub price: String,
    pub currency: String,
    pub features: Vec<String>,
    pub popular: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<Plan>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanResponse {
    pub plan: Plan,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Plans covering this ISO 3166 country (`FR`).
    #[param(pattern = "^[A-Za-z]{2}$")]
    pub country: Option<String>,
    /// `europe`, `africa`, `global`, ...
    #[param(min_length = 1, max_length = 40)]
    pub region: Option<String>,
}

impl Validate for PlanQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        if let Some(cc) = &self.country
            && !(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            c.push(
                "country",
                "invalid_format",
                "an ISO 3166-1 alpha-2 code such as FR",
            );
        }
        c.optional_text("region", self.region.as_deref(), 1, 40);
        c.finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub id: String,
    pub name: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Esim {
    pub id: String,
    pub plan: PlanSummary,
    pub status: EsimStatus,
    pub iccid: Option<String>,
    /// `LPA:1$<SM-DP+ address>$<matching ID>`, what a phone scans.
    pub activation_code: Option<String>,
    pub smdp_address: Option<String>,
    pub matching_id: Option<String>,
    pub unlimited: bool,
    pub data_total_mb: Option<i64>,
    pub data_used_mb: i64,
    pub data_remaining_mb: Option<i64>,
    pub validity_days: i64,
    pub first_used_at: Option<String>,
    /// Null until the validity starts (first use, for most plans).
    pub expires_at: Option<String>,
    pub price: String,
    pub currency: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EsimResponse {
    pub esim: Esim,
}

#[derive(Serialize, ToSchema)]
pub struct EsimList {
    pub esims: Vec<Esim>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EsimPurchaseResponse)]
pub struct PurchaseResponse {
    pub esim: Esim,
    pub new_balance: String,
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivateRequest {
    #[schema(example = "europe-starter")]
    #[schema(min_length = 1, max_length = 64)]
    pub plan_id: String,
}

impl Validate for ActivateRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("planId", &self.plan_id, 1, 64);
        c.finish()
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivationCodeResponse {
    pub esim_id: String,
    pub iccid: String,
    pub activation_code: String,
    pub smdp_address: String,
    pub matching_id: String,
}

/// Supplier webhook body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageEvent {
    pub event_id: String,
    pub iccid: String,
    /// Total used so far (usage only ever grows).
    pub used_mb: Option<i64>,
    /// RFC 3339 time of first attach to a network.
    pub first_used_at: Option<String>,
    /// `active`, `depleted` or `expired`, when the supplier says so.
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = EsimWebhookAck)]
pub struct WebhookAck {
    pub received: bool,
    pub duplicate: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPlan {
    /// A slug: lower-case letters, digits and dashes.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub id: String,
    #[schema(min_length = 1, max_length = 80)]
    pub name: String,
    #[schema(min_length = 1, max_length = 40)]
    pub region: String,
    /// ISO 3166-1 alpha-2 codes (upper case).
    #[schema(min_items = 1, max_items = 250)]
    pub countries: Vec<String>,
    /// Omit or null for unlimited.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub data_mb: Option<i64>,
    #[schema(minimum = 1, maximum = 3650)]
    pub validity_days: i64,
    /// `first_use` (default) or `purchase`.
    #[schema(pattern = "^(first_use|purchase)$")]
    pub validity_starts: Option<String>,
    #[schema(value_type = String, example = "9.99")]
    pub price: AmountInput,
    /// ISO 4217; default EUR.
    pub currency: Option<String>,
    pub features: Option<Vec<String>>,
    pub popular: Option<bool>,
}

impl Validate for NewPlan {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        if !(1..=64).contains(&self.id.len())
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            c.push(
                "id",
                "invalid_format",
                "a slug of lowercase letters, digits and dashes",
            );
        }
        c.text("name", &self.name, 1, 80);
        c.text("region", &self.region, 1, 40);
        if self.countries.is_empty() || self.countries.len() > 250 {
            c.push("countries", "out_of_range", "between 1 and 250 countries");
        }
        if self
            .countries
            .iter()
            .any(|cc| !(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase())))
        {
            c.push(
                "countries",
                "invalid_format",
                "ISO 3166-1 alpha-2 codes such as FR",
            );
        }
        if let Some(mb) = self.data_mb {
            c.range("dataMb", mb, 1, 10_000_000);
        }
        c.range("validityDays", self.validity_days, 1, 3650);
        if let Some(s) = &self.validity_starts
            && s != "first_use"
            && s != "purchase"
        {
            c.push("validityStarts", "invalid_value", "first_use or purchase");
        }
        for f in self.features.iter().flatten() {
            c.text("features", f, 1, 40);
        }
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlan {
    #[schema(value_type = Option<String>)]
    pub price: Option<AmountInput>,
    pub active: Option<bool>,
    pub popular: Option<bool>,
}

impl Validate for UpdatePlan {}

crate::status_enum!(
    /// An eSIM's life.
    EsimStatus {
        /// Paid; the supplier is preparing the profile.
        Provisioning = "provisioning",
        /// The profile can be installed.
        Ready = "ready",
        /// In use on the network.
        Active = "active",
        /// All its data used (a top-up revives it).
        Depleted = "depleted",
        Expired = "expired",
        /// The supplier failed; the fan was refunded.
        Failed = "failed",
    }
);

impl EsimStatus {
    /// Whether a phone can still use (or install) it.
    pub fn usable(self) -> bool {
        matches!(self, EsimStatus::Ready | EsimStatus::Active)
    }
}

crate::status_enum!(
    /// A top-up's way through the supplier.
    TopupStatus {
        /// Paid; the supplier has not confirmed yet.
        Pending = "pending",
        Applied = "applied",
        /// The supplier failed; the fan was refunded.
        Failed = "failed",
    }
);
