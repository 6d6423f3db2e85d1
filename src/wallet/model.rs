use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};
use crate::wallet::money::{AmountInput, Currency};

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceEntry {
    #[schema(example = "EUR")]
    pub currency: String,
    #[schema(example = "125.50")]
    pub balance: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceResponse {
    /// Balance of the primary account (the favourite club's currency).
    #[schema(example = "125.50")]
    pub balance: String,
    pub currency: String,
    /// Every currency held.
    pub balances: Vec<BalanceEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counterparty {
    /// `user`, `club`, `provider`, `platform`, `esim_supplier`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// One transfer as the signed-in user sees it: their side of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub id: String,
    /// `deposit`, `transfer`, `purchase`, `refund`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `in` (credited to you) or `out` (debited from you).
    pub direction: String,
    #[schema(example = "25.00")]
    pub amount: String,
    pub currency: String,
    /// Your balance right after this transfer.
    pub balance_after: String,
    pub counterparty: Counterparty,
    pub description: String,
    pub note: Option<String>,
    pub reference: Option<Reference>,
    /// Always `completed`: pending deposits are payments, not transfers.
    pub status: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionList {
    pub transactions: Vec<Transaction>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
    /// How many transactions the whole history holds.
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionResponse {
    pub transaction: Transaction,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// v1.0 paging; ignored when `cursor` is given.
    pub offset: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl Validate for ListQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.page(self.limit, self.offset, self.cursor.as_deref());
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendRequest {
    /// The recipient's user id (or give `recipientEmail`, not both).
    #[schema(min_length = 1, max_length = 64)]
    pub recipient_id: Option<String>,
    #[schema(min_length = 3, max_length = 254)]
    pub recipient_email: Option<String>,
    /// Decimal string (or JSON number) with at most the currency's digits.
    #[schema(value_type = String, example = "10.00")]
    pub amount: AmountInput,
    /// ISO 4217; defaults to your primary currency.
    #[schema(value_type = Option<String>, example = "EUR")]
    pub currency: Option<Currency>,
    #[schema(max_length = 140)]
    pub note: Option<String>,
}

impl Validate for SendRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.recipient(
            self.recipient_id.as_deref(),
            self.recipient_email.as_deref(),
        );
        c.optional_text("note", self.note.as_deref(), 0, 140);
        c.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// The sender's side of the transfer.
    pub transaction: Transaction,
    pub new_balance: String,
    pub currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    #[schema(value_type = String, example = "50.00")]
    pub amount: AmountInput,
    /// `card` (or `stripe`), `sandbox` where enabled, ...
    #[schema(example = "card")]
    #[schema(min_length = 1, max_length = 32)]
    pub method: String,
    #[schema(value_type = Option<String>, example = "EUR")]
    pub currency: Option<Currency>,
}

impl Validate for DepositRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.text("method", &self.method, 1, 32);
        c.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentIntent {
    pub id: String,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub provider: String,
    pub method: String,
    pub amount: String,
    pub currency: String,
    pub status: PaymentStatus,
    /// Why the last attempt failed, or why the payment ended (`canceled`,
    /// `expired`, a card decline code).
    pub failure_reason: Option<String>,
    pub payment_intent: Option<PaymentIntent>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepositResponse {
    pub status: DepositStatus,
    pub payment: Payment,
    pub transaction: Option<Transaction>,
    /// Balance after the deposit (the current balance while pending).
    pub new_balance: String,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAck {
    pub received: bool,
    pub duplicate: bool,
    /// The event could not be applied; it waits in the admins' dead-letter list.
    pub dead_lettered: bool,
}

/// A provider event that could not be applied.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    /// `unknown_payment`, `amount_mismatch`.
    pub reason: String,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponse {
    pub payment: Payment,
}

crate::status_enum!(
    /// A card deposit as its provider last reported it.
    PaymentStatus {
        /// Not paid yet; a declined attempt keeps it pending (the fan may
        /// retry on the same intent).
        Pending = "pending",
        Succeeded = "succeeded",
        /// Canceled at the provider, or expired here.
        Failed = "failed",
    }
);

crate::status_enum!(
    /// What a deposit request achieved.
    DepositStatus {
        /// The money is in the wallet.
        Completed = "completed",
        /// Waiting for the provider.
        Pending = "pending",
    }
);
