//! Liveness, readiness, public counts and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(stats))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    /// Seconds since this instance started.
    pub uptime: f64,
    pub timestamp: String,
    pub database: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        service: "paiecashfan",
        version: env!("CARGO_PKG_VERSION"),
        uptime: state.started.elapsed().as_secs_f64(),
        timestamp: rfc3339(crate::db::now_ms()),
        database: state.db.backend.name(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or `down`.
    pub database: &'static str,
    /// `ok`, `down`, or `disabled` when no `REDIS_URL` is set.
    pub redis: &'static str,
}

/// Readiness: the database (and Redis when configured) answer.
#[utoipa::path(get, path = "/health/ready", tag = "system", responses(
    (status = 200, body = Readiness),
    (status = 503, body = crate::error::Problem, content_type = "application/problem+json", description = "`checks` names the failing part")))]
async fn ready(State(state): State<AppState>) -> Response {
    let database =
        match tokio::time::timeout(std::time::Duration::from_secs(3), state.db.ping()).await {
            Ok(Ok(())) => "ok",
            _ => "down",
        };
    let redis = match &state.redis {
        None => "disabled",
        Some(r) => match tokio::time::timeout(std::time::Duration::from_secs(3), r.ping()).await {
            Ok(Ok(())) => "ok",
            _ => "down",
        },
    };
    let checks = ReadinessChecks { database, redis };
    if database == "down" || redis == "down" {
        let failing: Vec<&str> = [("database", database), ("redis", redis)]
            .iter()
            .filter(|(_, s)| *s == "down")
            .map(|(n, _)| *n)
            .collect();
        let detail = format!("not ready: {} down", failing.join(", "));
        return ApiError::unavailable(detail)
            .with(
                "checks",
                serde_json::json!({"database": database, "redis": redis}),
            )
            .into_response();
    }
    Json(Readiness {
        status: "ok",
        checks,
    })
    .into_response()
}

#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub users: i64,
    pub clubs: i64,
    /// Fans' wallets (one per fan and currency).
    pub wallets: i64,
    /// Completed transfers in the ledger.
    pub transactions: i64,
    /// Upcoming matches.
    pub events: i64,
    /// Tickets sold and not refunded.
    pub tickets_sold: i64,
    /// Active products in the shop.
    pub products: i64,
    /// Shop orders placed.
    pub orders: i64,
    /// eSIMs ready or in use.
    pub active_esims: i64,
}

/// Public counts, computed from the database.
#[utoipa::path(get, path = "/stats", tag = "system", responses((status = 200, body = Stats)))]
async fn stats(State(state): State<AppState>) -> ApiResult<Json<Stats>> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM clubs) AS clubs,
                (SELECT COUNT(*) FROM accounts WHERE kind = 'user') AS wallets,
                (SELECT COUNT(*) FROM transfers) AS transactions,
                (SELECT COUNT(*) FROM events WHERE kickoff_at > $1) AS events,
                (SELECT COUNT(*) FROM tickets WHERE status <> 'refunded') AS tickets_sold,
                (SELECT COUNT(*) FROM products WHERE active = 1) AS products,
                (SELECT COUNT(*) FROM orders) AS orders,
                (SELECT COUNT(*) FROM esims WHERE status IN ('ready', 'active')) AS active_esims",
    )
    .bind(crate::db::now_ms())
    .fetch_one(state.db.reader())
    .await?;
    Ok(Json(Stats {
        users: row.try_get("users")?,
        clubs: row.try_get("clubs")?,
        wallets: row.try_get("wallets")?,
        transactions: row.try_get("transactions")?,
        events: row.try_get("events")?,
        tickets_sold: row.try_get("tickets_sold")?,
        products: row.try_get("products")?,
        orders: row.try_get("orders")?,
        active_esims: row.try_get("active_esims")?,
    }))
}

/// Prometheus text exposition (not part of the JSON API).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.db.reader();
    let idle = pool.num_idle() as f64;
    let size = f64::from(pool.size());
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(size - idle);
    metrics::gauge!("db_pool_max_connections").set(f64::from(state.config.db_max_connections));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
