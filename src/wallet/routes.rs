use axum::body::Bytes;
use axum::extract::{FromRef, Path, State};
use axum::http::HeaderMap;
use axum::middleware::from_fn;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, RequestAuth};
use crate::http::idempotency::{self, Answer, IdempotencyKey};
use crate::replay::Replay;
use crate::wallet::Wallet;
use crate::wallet::events::EventOutcome;
use crate::wallet::model::*;
use crate::wallet::payments::DepositInput;
use crate::wallet::provider::verify_stripe_signature;
use crate::wallet::transfers::SendInput;
use crate::wallet::verify::{VerifyReport, verify};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Wallet: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    // A transfer is one transaction that stores its own answer; a deposit
    // calls out to a provider between transactions, so its key is reserved.
    let transfers = OpenApiRouter::new()
        .routes(routes!(send))
        .route_layer(from_fn(idempotency::committed_layer));
    let deposits = OpenApiRouter::new()
        .routes(routes!(deposit))
        .route_layer(from_fn(idempotency::layer));
    OpenApiRouter::new()
        .routes(routes!(balance))
        .routes(routes!(transactions))
        .routes(routes!(transaction))
        .routes(routes!(payment))
        .merge(transfers)
        .merge(deposits)
}

pub fn payments_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Wallet: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(stripe_webhook))
}

pub fn admin_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Wallet: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(ledger_verify))
        .routes(routes!(dead_letters))
        .routes(routes!(replay_dead_letter))
}

/// My balance: the primary account and every currency held.
#[utoipa::path(get, path = "/balance", tag = "wallet",
    security(("bearerAuth" = [])),
    responses((status = 200, body = BalanceResponse)))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn balance(State(wallet): State<Wallet>, user: AuthUser) -> ApiResult<Json<BalanceResponse>> {
    Ok(Json(wallet.balances(&user.id).await?))
}

/// My side of every transfer, newest first.
#[utoipa::path(get, path = "/transactions", tag = "wallet",
    security(("bearerAuth" = [])), params(ListQuery),
    responses((status = 200, body = TransactionList)))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn transactions(
    State(wallet): State<Wallet>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<TransactionList>> {
    Ok(Json(wallet.history(&user.id, &q).await?))
}

/// One of my transactions.
#[utoipa::path(get, path = "/transactions/{id}", tag = "wallet",
    security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TransactionResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "unknown, or not yours")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn transaction(
    State(wallet): State<Wallet>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<TransactionResponse>> {
    Ok(Json(TransactionResponse {
        transaction: wallet.transaction(&user.id, &id).await?,
    }))
}

/// Send money to another fan.
#[utoipa::path(post, path = "/send", tag = "wallet",
    security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept 24 h")),
    request_body = SendRequest,
    responses(
        (status = 201, body = SendResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "unknown recipient"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`insufficient_funds`, or a request with the same Idempotency-Key in flight"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "bad amount, sending to yourself, or `idempotency_key_reused`"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn send(
    State(wallet): State<Wallet>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<SendRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 201);
    let sent = wallet
        .send(
            &user.id,
            SendInput {
                recipient_id: body.recipient_id,
                recipient_email: body.recipient_email,
                amount: body.amount,
                currency: body.currency,
                note: body.note,
            },
            &replay,
        )
        .await?;
    Answer::after(replay, &sent)
}

/// Add money through a payment provider.
///
/// The sandbox settles at once (201, `status: completed`). A card deposit
/// answers 202 with `status: pending` and a payment intent; the money arrives
/// when the provider confirms it through its webhook.
#[utoipa::path(post, path = "/deposit", tag = "wallet",
    security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept 24 h")),
    request_body = DepositRequest,
    responses(
        (status = 201, body = DepositResponse, description = "completed"),
        (status = 202, body = DepositResponse, description = "pending the provider's confirmation"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`daily_limit_exceeded`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "bad amount or method, over the per-deposit limit"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "the provider failed; nothing charged"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn deposit(
    State(wallet): State<Wallet>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<DepositRequest>,
) -> ApiResult<Answer> {
    // Settled at once: 201; waiting for the provider's confirmation: 202.
    let replay = Replay::new(&user.id, key.as_deref(), |d: &DepositResponse| {
        if d.status == DepositStatus::Pending {
            202
        } else {
            201
        }
    });
    let deposited = wallet
        .deposit(
            &user.id,
            DepositInput {
                amount: body.amount,
                method: body.method,
                currency: body.currency,
            },
            &replay,
        )
        .await?;
    Answer::after(replay, &deposited)
}

/// One of my deposits, as its provider last reported it.
#[utoipa::path(get, path = "/payments/{id}", tag = "wallet",
    security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PaymentResponse),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn payment(
    State(wallet): State<Wallet>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentResponse>> {
    Ok(Json(PaymentResponse {
        payment: wallet.payment(&user.id, &id).await?,
    }))
}

/// Stripe webhook. `payment_intent.succeeded` credits the wallet once, even
/// after a failed attempt; `payment_failed` is an attempt (the payment stays
/// pending); `canceled` ends it. An event that cannot be applied is answered
/// 200 and kept in the admins' dead-letter list.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "payments",
    request_body(content = Object, description = "a Stripe event, signed in `Stripe-Signature`"),
    params(("Stripe-Signature" = String, Header)),
    responses(
        (status = 200, body = WebhookAck),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "bad signature or payload; nothing changed"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Stripe is not enabled"),
    ))]
#[tracing::instrument(skip_all)]
async fn stripe_webhook(
    State(wallet): State<Wallet>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    // An unsigned request is refused as such, whether Stripe is on or not.
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_signature", "missing Stripe-Signature"))?;
    let Some(secret) = wallet.stripe_webhook_secret().map(str::to_owned) else {
        return Err(ApiError::not_found("resource"));
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    verify_stripe_signature(&body, signature, &secret, now, 300)
        .map_err(|e| ApiError::bad_request("invalid_signature", e.to_string()))?;
    let event: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the event is not JSON"))?;
    let payload = String::from_utf8_lossy(&body);
    let outcome = wallet.stripe_event(&event, &payload).await?;
    Ok(Json(WebhookAck {
        received: true,
        duplicate: outcome == EventOutcome::Duplicate,
        dead_lettered: matches!(outcome, EventOutcome::DeadLettered(_)),
    }))
}

/// Recompute every balance from the transfers (admins).
#[utoipa::path(get, path = "/ledger/verify", tag = "admin",
    security(("bearerAuth" = [])),
    responses((status = 200, body = VerifyReport),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn ledger_verify(
    State(wallet): State<Wallet>,
    user: AuthUser,
) -> ApiResult<Json<VerifyReport>> {
    user.require_admin()?;
    Ok(Json(verify(wallet.db()).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    /// Also list the ones already replayed.
    #[serde(default)]
    include_resolved: bool,
}

impl crate::http::validate::Validate for DeadLetterQuery {}

/// Provider events that could not be applied (admins).
#[utoipa::path(get, path = "/payments/dead-letters", tag = "admin",
    security(("bearerAuth" = [])), params(DeadLetterQuery),
    responses((status = 200, body = DeadLetterList),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn dead_letters(
    State(wallet): State<Wallet>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<DeadLetterQuery>,
) -> ApiResult<Json<DeadLetterList>> {
    user.require_admin()?;
    Ok(Json(DeadLetterList {
        dead_letters: wallet.dead_letters(q.include_resolved).await?,
    }))
}

/// Apply a dead-lettered event again (admins): resolved when it applies.
#[utoipa::path(post, path = "/payments/dead-letters/{id}/replay", tag = "admin",
    security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DeadLetter),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`event_not_applicable`: still cannot be applied")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn replay_dead_letter(
    State(wallet): State<Wallet>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeadLetter>> {
    user.require_admin()?;
    Ok(Json(wallet.replay_dead_letter(&id).await?))
}
