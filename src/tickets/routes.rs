use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::http::cache::PublicRead;
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, RequestAuth};
use crate::http::idempotency::{self, Answer, IdempotencyKey};
use crate::replay::Replay;
use crate::tickets::Tickets;
use crate::tickets::gate::Scan;
use crate::tickets::model::*;
use crate::tickets::purchase::PurchaseInput;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tickets: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    // A purchase, a transfer and a refund are each one transaction that
    // stores its own answer.
    let purchases = OpenApiRouter::new()
        .routes(routes!(purchase))
        .routes(routes!(transfer))
        .routes(routes!(refund))
        .route_layer(from_fn(idempotency::committed_layer));
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(event))
        .routes(routes!(gate_kit))
        .routes(routes!(my_tickets))
        .routes(routes!(ticket))
        .routes(routes!(qr))
        .routes(routes!(metadata))
        .routes(routes!(provenance))
        .routes(routes!(checkin))
        .routes(routes!(checkin_batch))
        .merge(purchases)
}

pub fn keys_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tickets: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(keys))
}

pub fn admin_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tickets: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_event))
        .routes(routes!(update_event))
        .routes(routes!(add_category))
        .routes(routes!(update_category))
}

type Json422 = Problem;

/// Upcoming matches with their ticket categories.
#[utoipa::path(get, path = "/events", tag = "tickets", params(EventQuery),
    responses((status = 200, body = EventList)))]
async fn events(
    State(tickets): State<Tickets>,
    read: PublicRead,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Response> {
    let list = tickets.list_events(q.club.as_deref()).await?;
    Ok(read.answer(&list))
}

/// One match.
#[utoipa::path(get, path = "/events/{id}", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = EventResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn event(
    State(tickets): State<Tickets>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventResponse>> {
    Ok(Json(EventResponse {
        event: tickets.event(&id).await?,
    }))
}

/// Everything an offline gate scanner needs: keys, revoked and used tickets,
/// incrementally since the last sync (staff of the home club).
#[utoipa::path(get, path = "/events/{id}/gate-kit", tag = "gate",
    security(("bearerAuth" = [])), params(("id" = String, Path), GateKitQuery),
    responses((status = 200, body = GateKit), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn gate_kit(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<GateKitQuery>,
) -> ApiResult<Json<GateKit>> {
    Ok(Json(tickets.gate_kit(&user, &id, q.since).await?))
}

/// Buy tickets: the server's price, seats never oversold, paid through the ledger.
#[utoipa::path(post, path = "/purchase", tag = "tickets",
    security(("bearerAuth" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept 24 h")),
    request_body = PurchaseRequest,
    responses(
        (status = 201, body = PurchaseResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "unknown match or category"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "`sold_out`, `price_changed`, `insufficient_funds`, `ticket_limit_reached`, `sale_not_open`, `sale_closed`"),
        (status = 422, body = Json422, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn purchase(
    State(tickets): State<Tickets>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<PurchaseRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 201);
    let value = tickets
        .purchase(
            &user.id,
            PurchaseInput {
                event_id: body.event_id,
                category: body.category,
                quantity: body.quantity.unwrap_or(1),
                price: body.price,
                holder_name: body.holder_name,
            },
            &replay,
        )
        .await?;
    Answer::after(replay, &value)
}

/// My tickets.
#[utoipa::path(get, path = "/my-tickets", tag = "tickets", security(("bearerAuth" = [])),
    responses((status = 200, body = TicketList)))]
async fn my_tickets(State(tickets): State<Tickets>, user: AuthUser) -> ApiResult<Json<TicketList>> {
    Ok(Json(TicketList {
        tickets: tickets.my_tickets(&user.id).await?,
    }))
}

/// One of my tickets (someone else's is 404).
#[utoipa::path(get, path = "/{id}", tag = "tickets", security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TicketResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn ticket(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketResponse>> {
    Ok(Json(TicketResponse {
        ticket: tickets.ticket(&user, &id).await?,
    }))
}

/// The ticket's signed QR token, as JSON or (`?format=svg|png`) as an image.
#[utoipa::path(get, path = "/{id}/qr", tag = "tickets", operation_id = "ticket_qr", security(("bearerAuth" = [])),
    params(("id" = String, Path), QrQuery),
    responses(
        (status = 200, description = "JSON by default; the QR image with format=svg or format=png",
            content((QrResponse = "application/json"), (String = "image/svg+xml"), (String = "image/png"))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "refunded or revoked ticket")))]
async fn qr(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> ApiResult<Response> {
    let qr = tickets.qr(&user, &id).await?;
    let token = qr.qr_code.clone();
    crate::http::qr::respond(q.format.as_deref(), &token, Json(qr).into_response())
}

/// EIP-721 metadata of the ticket (public: it names no owner).
#[utoipa::path(get, path = "/{id}/metadata", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = NftMetadata), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn metadata(
    State(tickets): State<Tickets>,
    Path(id): Path<String>,
) -> ApiResult<Json<NftMetadata>> {
    Ok(Json(tickets.metadata(&id).await?))
}

/// Every owner change as a signed hash chain (owners past and present, home-club staff).
#[utoipa::path(get, path = "/{id}/provenance", tag = "tickets", security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Provenance), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn provenance(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Provenance>> {
    Ok(Json(tickets.provenance(&user, &id).await?))
}

/// Give the ticket to another fan; its old QR code stops working.
#[utoipa::path(post, path = "/{id}/transfer", tag = "tickets", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = TransferRequest,
    responses((status = 200, body = TicketResponse),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not your ticket, or unknown recipient"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`not_transferable`")))]
async fn transfer(
    State(tickets): State<Tickets>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferRequest>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 200);
    let value = tickets
        .transfer(
            &user,
            &id,
            body.recipient_id.as_deref(),
            body.recipient_email.as_deref(),
            &replay,
        )
        .await?;
    Answer::after(replay, &value)
}

/// Refund before the cut-off: the money comes back and the seat is freed.
#[utoipa::path(post, path = "/{id}/refund", tag = "tickets", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = RefundResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`not_refundable`, `refund_window_closed`")))]
async fn refund(
    State(tickets): State<Tickets>,
    user: AuthUser,
    key: Option<Extension<IdempotencyKey>>,
    Path(id): Path<String>,
) -> ApiResult<Answer> {
    let replay = Replay::new(&user.id, key.as_deref(), |_| 200);
    let value = tickets.refund(&user, &id, &replay).await?;
    Answer::after(replay, &value)
}

/// Scan a ticket at the gate (staff of the home club).
#[utoipa::path(post, path = "/checkin", tag = "gate", security(("bearerAuth" = [])),
    request_body = CheckinRequest,
    responses((status = 200, body = CheckinResult, description = "the scan's outcome in `status`"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Json422, content_type = "application/problem+json",
            description = "a field is missing or invalid, or `nonce_reused`: the nonce already named another scan (another code, kind or scanner)")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn checkin(
    State(tickets): State<Tickets>,
    user: AuthUser,
    ApiJson(body): ApiJson<CheckinRequest>,
) -> ApiResult<Json<CheckinResult>> {
    let scan = Scan {
        qr_code: &body.qr_code,
        event_id: body.event_id.as_deref(),
        gate: body.gate.as_deref(),
        exit: body.kind.as_deref() == Some("exit"),
        nonce: body.nonce.as_deref(),
        scanned_at: None,
    };
    tickets.authorize_scan(&user, &scan).await?;
    Ok(Json(tickets.checkin(&user.id, scan).await?))
}

/// Upload the scans an offline device made: the earliest scan of a ticket
/// wins, every later one is reported as a duplicate. A scan dated more than 5
/// minutes before its ticket was bought or ahead of the server's clock
/// counts at the upload's time (the device's clock was off).
#[utoipa::path(post, path = "/checkin/batch", tag = "gate", security(("bearerAuth" = [])),
    request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn checkin_batch(
    State(tickets): State<Tickets>,
    user: AuthUser,
    ApiJson(body): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
    let mut scans: Vec<(i64, &BatchScan)> = body
        .scans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let field = format!("scans[{i}].scannedAt");
            Ok((parse_time(&field, &s.scanned_at)?, s))
        })
        .collect::<ApiResult<_>>()?;
    scans.sort_by_key(|(at, _)| *at);
    let first = Scan {
        qr_code: "",
        event_id: Some(&body.event_id),
        gate: None,
        exit: false,
        nonce: None,
        scanned_at: None,
    };
    tickets.authorize_scan(&user, &first).await?;
    let mut results = Vec::with_capacity(scans.len());
    for (at, s) in scans {
        let r = tickets
            .upload_scan(
                &user.id,
                Scan {
                    qr_code: &s.qr_code,
                    event_id: Some(&body.event_id),
                    gate: body.gate.as_deref(),
                    exit: s.kind.as_deref() == Some("exit"),
                    nonce: Some(&s.nonce),
                    scanned_at: Some(at),
                },
            )
            .await?;
        results.push(r);
    }
    let accepted = results.iter().filter(|r| r.status == "ok").count() as i64;
    let duplicates = results
        .iter()
        .filter(|r| r.status == "already_redeemed")
        .count() as i64;
    Ok(Json(BatchResponse {
        results,
        accepted,
        duplicates,
    }))
}

/// Public keys that sign tickets and ownership chains.
#[utoipa::path(get, path = "/keys", tag = "tickets", responses((status = 200, body = KeysResponse)))]
async fn keys(State(tickets): State<Tickets>) -> Json<KeysResponse> {
    Json(KeysResponse {
        keys: tickets.keys(),
    })
}

/// Create a match with its ticket categories (staff of the home club, admins).
#[utoipa::path(post, path = "", tag = "admin", security(("bearerAuth" = [])), request_body = NewEvent,
    responses((status = 201, body = EventResponse), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn create_event(
    State(tickets): State<Tickets>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewEvent>,
) -> ApiResult<(StatusCode, Json<EventResponse>)> {
    Ok((
        StatusCode::CREATED,
        Json(EventResponse {
            event: tickets.create_event(&user, body).await?,
        }),
    ))
}

/// Edit a match.
#[utoipa::path(patch, path = "/{id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = UpdateEvent,
    responses((status = 200, body = EventResponse), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "`match_played`: the match has a recorded result, so its kickoff and sale cannot move")))]
async fn update_event(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEvent>,
) -> ApiResult<Json<EventResponse>> {
    Ok(Json(EventResponse {
        event: tickets.update_event(&user, &id, body).await?,
    }))
}

/// Add a ticket category to a match.
#[utoipa::path(post, path = "/{id}/categories", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = NewCategory,
    responses((status = 201, body = EventResponse), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn add_category(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCategory>,
) -> ApiResult<(StatusCode, Json<EventResponse>)> {
    Ok((
        StatusCode::CREATED,
        Json(EventResponse {
            event: tickets.add_category(&user, &id, body).await?,
        }),
    ))
}

/// Change a category's price or capacity (never below the seats sold).
#[utoipa::path(patch, path = "/{id}/categories/{category_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path), ("category_id" = String, Path)), request_body = UpdateCategory,
    responses((status = 200, body = EventResponse), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn update_category(
    State(tickets): State<Tickets>,
    user: AuthUser,
    Path((id, category_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateCategory>,
) -> ApiResult<Json<EventResponse>> {
    Ok(Json(EventResponse {
        event: tickets
            .update_category(&user, &id, &category_id, body)
            .await?,
    }))
}
