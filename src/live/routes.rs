//! `GET /api/ws`: the upgrade to a live socket.

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, FieldError};
use crate::http::extract::{ApiQuery, RequestAuth};
use crate::http::validate::Validate;
use crate::live::socket::{self, Opener};
use crate::live::{Live, store};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Live: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(connect))
}

/// The sub-protocol a browser names to carry its token (browsers cannot set
/// `Authorization` on a WebSocket): `Sec-WebSocket-Protocol: bearer, <token>`.
const BEARER_PROTOCOL: &str = "bearer";

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// The access token, when neither `Authorization` nor the `bearer`
    /// sub-protocol can carry it.
    pub token: Option<String>,
    /// The `id` of the last event this client received: what followed it is
    /// sent first (at most 500 events; more and `replay.truncated` says to
    /// reload through the REST lists).
    pub last_event_id: Option<String>,
}

impl Validate for WsQuery {
    fn validate(&self) -> Result<(), ApiError> {
        match &self.last_event_id {
            Some(id) if id.parse::<u64>().is_err() || id.len() > 18 => {
                Err(ApiError::validation(vec![FieldError::new(
                    "lastEventId",
                    "invalid_format",
                    "is not an event id this API sent",
                )]))
            }
            _ => Ok(()),
        }
    }
}

/// The token from `Authorization: Bearer`, the `token` parameter, or the
/// `bearer` sub-protocol (its other value).
fn token<'a>(headers: &'a HeaderMap, q: &'a WsQuery) -> Option<&'a str> {
    if let Some(h) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim);
    }
    if let Some(t) = q.token.as_deref() {
        return Some(t);
    }
    let protocols: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if protocols.contains(&BEARER_PROTOCOL) {
        protocols.into_iter().find(|p| *p != BEARER_PROTOCOL)
    } else {
        None
    }
}

/// Opens the live socket (WebSocket). The server sends JSON frames
/// `{id, type, data}`: `ready` first (`data.lastEventId`: where the log
/// stands), then `message.created`, `message.updated`, `message.deleted`,
/// `conversation.read`, `conversation.joined`, `conversation.left`,
/// `notification.created` (each with an `id` to resume from) and `typing`
/// (no `id`). The client may send `{"type":"typing","conversationId":...}`.
/// Close codes: 4000 the client read too slowly, 4001 session ended or token
/// expired, 4002 resume from the last id, 4003 no heartbeat, 1001 server
/// restarting. Authenticate with `Authorization: Bearer`, `?token=` or
/// `Sec-WebSocket-Protocol: bearer, <token>`.
#[utoipa::path(get, path = "/ws", tag = "live", params(WsQuery),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 426, description = "Not a WebSocket upgrade request", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This instance holds `MAX_CONNECTIONS` sockets", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
async fn connect(
    State(live): State<Live>,
    State(auth): State<RequestAuth>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = token(&headers, &q)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "give the access token: Authorization, ?token= or the bearer sub-protocol",
            )
        })?;
    let claims = auth.verify(token)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            format!("this route speaks WebSocket only ({e})"),
        )
    })?;
    if live.hub.connections() >= live.settings.max_sockets {
        // The client retries, and the load balancer may pick another instance.
        return Err(ApiError::unavailable(
            "this instance holds as many live sockets as it may; retry shortly",
        ));
    }
    let name = store::user_name(live.db.reader(), &claims.sub)
        .await
        .map_err(ApiError::Database)?
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    let opener = Opener {
        user_id: claims.sub.clone().into(),
        name,
        sid: claims.sid.clone(),
        expires_at: claims.exp,
    };
    let resume = q
        .last_event_id
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok());
    // Small buffers: thousands of sockets stay open while their fans watch
    // the match, and clients only ever send short frames.
    let ws = ws
        .protocols([BEARER_PROTOCOL])
        .max_message_size(16 * 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1024 * 1024);
    Ok(ws
        .on_upgrade(move |s| socket::run(s, live, opener, resume))
        .into_response())
}
