use axum::body::Bytes;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::esim::Esims;
use crate::esim::model::*;
use crate::http::cache::PublicRead;
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, RequestAuth};
use crate::http::idempotency::{self, Answer, IdempotencyKey};
use crate::replay::Replay;
use crate::tickets::model::QrQuery;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Esims: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    let money_moving = OpenApiRouter::new()
        .routes(routes!(activate))
        .routes(routes!(topup))
        .route_layer(from_fn(idempotency::layer));
    OpenApiRouter::new()
        .routes(routes!(plans))
        .routes(routes!(plan))
        .routes(routes!(active))
        .routes(routes!(mine))
        .routes(routes!(one))
        .routes(routes!(qr))
        .routes(routes!(webhook))
        .merge(money_moving)
}

pub fn admin_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Esims: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_plan))
        .routes(routes!(update_plan))
}

/// Travel eSIM plans (v1.0), filtered by `country` or `region`.
#[utoipa::path(get, path = "/plans", tag = "esim", params(PlanQuery), responses((status = 200, body = PlanList)))]
async fn plans(
    State(esims): State<Esims>,
    read: PublicRead,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> ApiResult<Response> {
    let plans = esims.plans(&q).await?;
    Ok(read.answer(&plans))
}

/// One plan.
#[utoipa::path(get, path = "/plans/{id}", tag = "esim", params(("id" = String, Path)),
    responses((status = 200, body = PlanResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn plan(State(esims): State<Esims>, Path(id): Path<String>) -> ApiResult<Json<PlanResponse>> {
    Ok(Json(PlanResponse {
        plan: esims.plan(&id).await?,
    }))
}

/// Buy an eSIM: paid through the wallet, provisioned by the supplier, refunded if that fails.
#[utoipa::path(post, path = "/activate", tag = "esim", security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept 24 h")),
    request_body = ActivateRequest,
    responses((status = 201, body = PurchaseResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "unknown plan"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`insufficient_funds`"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "`esim_provisioning_failed`: refunded"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "eSIM sales disabled")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn activate(
    State(esims): State<Esims>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<ActivateRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 201);
    match esims.activate(&user.id, body.plan_id.trim(), &replay).await {
        Ok(bought) => Answer::after(replay, &bought),
        // A refund after the supplier failed was recorded as the key's answer.
        Err(refused) => Answer::refused(replay, refused),
    }
}

/// The most recent usable eSIM (v1.0); 404 when none.
#[utoipa::path(get, path = "/active", tag = "esim", security(("bearerAuth" = [])),
    responses((status = 200, body = EsimResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn active(State(esims): State<Esims>, user: AuthUser) -> ApiResult<Json<EsimResponse>> {
    Ok(Json(EsimResponse {
        esim: esims.active(&user.id).await?,
    }))
}

/// All my eSIMs.
#[utoipa::path(get, path = "", tag = "esim", security(("bearerAuth" = [])), responses((status = 200, body = EsimList)))]
async fn mine(State(esims): State<Esims>, user: AuthUser) -> ApiResult<Json<EsimList>> {
    Ok(Json(EsimList {
        esims: esims.my_esims(&user.id).await?,
    }))
}

/// One of my eSIMs (someone else's is 404).
#[utoipa::path(get, path = "/{id}", tag = "esim", security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EsimResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn one(
    State(esims): State<Esims>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<EsimResponse>> {
    Ok(Json(EsimResponse {
        esim: esims.esim(&user.id, &id).await?,
    }))
}

/// The activation code as JSON, or (`?format=svg|png`) as the QR a phone scans.
#[utoipa::path(get, path = "/{id}/qr", tag = "esim", operation_id = "esim_qr", security(("bearerAuth" = [])),
    params(("id" = String, Path), QrQuery),
    responses((status = 200, description = "JSON by default; the QR image with format=svg or format=png",
            content((ActivationCodeResponse = "application/json"), (String = "image/svg+xml"), (String = "image/png"))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not provisioned")))]
async fn qr(
    State(esims): State<Esims>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> ApiResult<Response> {
    let code = esims.activation_code(&user.id, &id).await?;
    let data = code.activation_code.clone();
    crate::http::qr::respond(q.format.as_deref(), &data, Json(code).into_response())
}

/// Add a compatible plan's data and days.
#[utoipa::path(post, path = "/{id}/topup", tag = "esim", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ActivateRequest,
    responses((status = 200, body = PurchaseResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`insufficient_funds`, `not_topupable`"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "supplier failed: refunded")))]
async fn topup(
    State(esims): State<Esims>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActivateRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 200);
    match esims
        .topup(&user.id, &id, body.plan_id.trim(), &replay)
        .await
    {
        Ok(topped) => Answer::after(replay, &topped),
        Err(refused) => Answer::refused(replay, refused),
    }
}

/// Supplier usage webhook, signed `X-Esim-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
#[utoipa::path(post, path = "/webhooks/{provider}", tag = "esim",
    params(("provider" = String, Path), ("X-Esim-Signature" = String, Header)),
    request_body = UsageEvent,
    responses((status = 200, body = WebhookAck),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "bad signature; nothing changed"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not this server's provider")))]
async fn webhook(
    State(esims): State<Esims>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    if !esims.supplier_is(&provider) {
        return Err(ApiError::not_found("eSIM provider"));
    }
    let signature = headers
        .get("x-esim-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_signature", "missing X-Esim-Signature"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    crate::wallet::provider::verify_stripe_signature(
        &body,
        signature,
        esims.webhook_secret(),
        now,
        300,
    )
    .map_err(|e| ApiError::bad_request("invalid_signature", e.to_string()))?;
    let event: UsageEvent = crate::http::extract::parse_json(&body)?;
    if event.event_id.is_empty() || event.event_id.len() > 255 || event.iccid.len() > 32 {
        return Err(ApiError::field(
            "eventId",
            "invalid_format",
            "eventId and iccid are required",
        ));
    }
    let fresh = esims.usage_event(&provider, &event).await?;
    Ok(Json(WebhookAck {
        received: true,
        duplicate: !fresh,
    }))
}

/// Add a plan (admins).
#[utoipa::path(post, path = "/plans", tag = "admin", security(("bearerAuth" = [])), request_body = NewPlan,
    responses((status = 201, body = PlanResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn create_plan(
    State(esims): State<Esims>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewPlan>,
) -> ApiResult<(StatusCode, Json<PlanResponse>)> {
    user.require_admin()?;
    Ok((
        StatusCode::CREATED,
        Json(PlanResponse {
            plan: esims.create_plan(body).await?,
        }),
    ))
}

/// Change a plan's price, availability or `popular` flag (admins).
#[utoipa::path(patch, path = "/plans/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = UpdatePlan,
    responses((status = 200, body = PlanResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update_plan(
    State(esims): State<Esims>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePlan>,
) -> ApiResult<Json<PlanResponse>> {
    user.require_admin()?;
    Ok(Json(PlanResponse {
        plan: esims.update_plan(&id, body).await?,
    }))
}
