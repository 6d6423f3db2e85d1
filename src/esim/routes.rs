use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::esim::model::*;
use crate::esim::{purchase, service};
use crate::http::extract::{ApiJson, ApiQuery, AuthUser};
use crate::http::idempotency::{self, Answer, IdempotencyKey};
use crate::tickets::model::QrQuery;

pub fn router() -> OpenApiRouter<AppState> {
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

pub fn admin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_plan))
        .routes(routes!(update_plan))
}

/// Travel eSIM plans (v1.0), filtered by `country` or `region`.
#[utoipa::path(get, path = "/plans", tag = "esim", params(PlanQuery), responses((status = 200, body = PlanList)))]
async fn plans(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> ApiResult<Json<PlanList>> {
    Ok(Json(PlanList {
        plans: service::plans(&state, &q).await?,
    }))
}

/// One plan.
#[utoipa::path(get, path = "/plans/{id}", tag = "esim", params(("id" = String, Path)),
    responses((status = 200, body = PlanResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PlanResponse>> {
    Ok(Json(PlanResponse {
        plan: service::plan(&state, &id).await?,
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
    State(state): State<AppState>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<ActivateRequest>,
) -> ApiResult<Answer> {
    purchase::activate(
        &state,
        &user.id,
        body.plan_id.trim(),
        key.as_ref().map(|k| &k.0),
    )
    .await
}

/// The most recent usable eSIM (v1.0); 404 when none.
#[utoipa::path(get, path = "/active", tag = "esim", security(("bearerAuth" = [])),
    responses((status = 200, body = EsimResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn active(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<EsimResponse>> {
    Ok(Json(EsimResponse {
        esim: service::active(&state, &user.id).await?,
    }))
}

/// All my eSIMs.
#[utoipa::path(get, path = "", tag = "esim", security(("bearerAuth" = [])), responses((status = 200, body = EsimList)))]
async fn mine(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<EsimList>> {
    Ok(Json(EsimList {
        esims: service::my_esims(&state, &user.id).await?,
    }))
}

/// One of my eSIMs (someone else's is 404).
#[utoipa::path(get, path = "/{id}", tag = "esim", security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EsimResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<EsimResponse>> {
    Ok(Json(EsimResponse {
        esim: service::esim(&state, &user.id, &id).await?,
    }))
}

/// The activation code as JSON, or (`?format=svg|png`) as the QR a phone scans.
#[utoipa::path(get, path = "/{id}/qr", tag = "esim", security(("bearerAuth" = [])),
    params(("id" = String, Path), QrQuery),
    responses((status = 200, body = ActivationCodeResponse),
        (status = 200, content_type = "image/svg+xml", description = "with format=svg"),
        (status = 200, content_type = "image/png", description = "with format=png"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "not provisioned")))]
async fn qr(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> ApiResult<Response> {
    let code = service::activation_code(&state, &user.id, &id).await?;
    let data = code.activation_code.clone();
    crate::qr::respond(q.format.as_deref(), &data, Json(code).into_response())
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
    State(state): State<AppState>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActivateRequest>,
) -> ApiResult<Answer> {
    purchase::topup(
        &state,
        &user.id,
        &id,
        body.plan_id.trim(),
        key.as_ref().map(|k| &k.0),
    )
    .await
}

/// Supplier usage webhook, signed `X-Esim-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
#[utoipa::path(post, path = "/webhooks/{provider}", tag = "esim",
    params(("provider" = String, Path), ("X-Esim-Signature" = String, Header)),
    request_body = UsageEvent,
    responses((status = 200, body = WebhookAck),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "bad signature; nothing changed"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not this server's provider")))]
async fn webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    let Some(p) = state.esim.as_ref().filter(|p| p.name() == provider) else {
        return Err(ApiError::not_found("eSIM provider"));
    };
    let name = p.name();
    let signature = headers
        .get("x-esim-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_signature", "missing X-Esim-Signature"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    crate::wallet::provider::verify_stripe_signature(
        &body,
        signature,
        &state.config.esim_webhook_secret,
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
    let fresh = service::usage_event(&state, name, &event).await?;
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
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewPlan>,
) -> ApiResult<(StatusCode, Json<PlanResponse>)> {
    user.require_admin()?;
    Ok((
        StatusCode::CREATED,
        Json(PlanResponse {
            plan: service::create_plan(&state, body).await?,
        }),
    ))
}

/// Change a plan's price, availability or `popular` flag (admins).
#[utoipa::path(patch, path = "/plans/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = UpdatePlan,
    responses((status = 200, body = PlanResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update_plan(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePlan>,
) -> ApiResult<Json<PlanResponse>> {
    user.require_admin()?;
    Ok(Json(PlanResponse {
        plan: service::update_plan(&state, &id, body).await?,
    }))
}
