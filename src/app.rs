//! Application state, router and server lifecycle.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::extract::FromRef;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::Row;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Auth;
use crate::auth::token::TokenService;
use crate::config::Config;
use crate::db::{Db, PoolSettings, now_ms};
use crate::error::ApiError;
use crate::esim::Esims;
use crate::http::{middleware, openapi};
use crate::infra::fanout::{Fanout, LocalFanout};
use crate::infra::ratelimit::RateLimiter;
use crate::infra::readmodel::ReadModel;
use crate::infra::redis::Redis;
use crate::notifications::Notifier;
use crate::shop::Shop;
use crate::tickets::signing::TicketSigner;
use crate::tickets::{TicketRules, Tickets};
use crate::wallet::Wallet;
use crate::wallet::provider::Payments;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a request may need, shared: cloned per request by the
/// middleware and extractors that take it, so a clone is one reference count
/// (a struct of a few dozen `Arc`s cost a fifth of a health check's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub db: Db,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenService>,
    pub limiter: RateLimiter,
    pub redis: Option<Redis>,
    pub fanout: Arc<dyn Fanout>,
    /// The public catalogue in memory, and how its changes are announced.
    pub read: ReadModel,
    pub clubs: crate::clubs::Clubs,
    pub started: Instant,
    pub metrics: PrometheusHandle,
    pub signer: Arc<TicketSigner>,
    pub esims: Esims,
    pub auth: Auth,
    pub notifier: Notifier,
    pub wallet: Wallet,
    pub tickets: Tickets,
    pub shop: Shop,
    pub social: crate::social::Social,
    pub live: crate::live::Live,
    pub ai: crate::ai::Ai,
    /// This process, as it names itself in `server_instances` and in the
    /// idempotency reservations it holds.
    pub instance: Arc<str>,
    /// Sessions ended before their access tokens expire.
    pub revoked: crate::auth::sessions::RevokedSessions,
}

impl AppState {
    /// Connects, migrates, loads secrets and seeds demo data when configured.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        let db = Db::connect(
            &config.database_url,
            PoolSettings {
                max_connections: config.db_max_connections,
                min_connections: config.db_min_connections,
            },
        )
        .await?;
        db.migrate().await?;
        let redis = match &config.redis_url {
            Some(url) => Some(Redis::connect(url, &config.redis_prefix)?),
            None => None,
        };
        let secret = match &config.jwt_secret {
            Some(s) => s.clone(),
            // Development only (production refuses to start without one): a
            // generated key kept in the database, so sessions survive restarts.
            None => server_secret(&db, "jwt_secret").await?,
        };
        let tokens = Arc::new(TokenService::new(
            secret.as_bytes(),
            config.access_token_ttl,
            config.refresh_token_ttl,
        ));
        let signer = Arc::new(ticket_signer(&db, &config).await?);
        let instance: Arc<str> = Arc::from(crate::db::new_id());
        let fanout: Arc<dyn Fanout> = match &redis {
            // Room for bursts (a kick-off in a busy club room) while the
            // live hub hands each event to its sockets.
            Some(r) => crate::infra::fanout::RedisFanout::start(r.clone(), &instance, 16_384),
            None => Arc::new(LocalFanout::new(16_384)),
        };
        let read = ReadModel::new(fanout.clone(), instance.clone(), config.read_model_max_age);
        let notifier = Notifier::new(db.clone(), fanout.clone());
        let revoked = crate::auth::sessions::RevokedSessions::default();
        crate::auth::sessions::load(&revoked, &db, config.access_token_ttl).await?;
        let chat_limiter = RateLimiter::new(config.chat_rate_limit_per_minute, redis.clone());
        let state = AppState(Arc::new(Services {
            limiter: RateLimiter::new(config.auth_rate_limit_per_minute, redis.clone()),
            tokens: tokens.clone(),
            redis,
            fanout: fanout.clone(),
            read: read.clone(),
            clubs: crate::clubs::Clubs::new(db.clone(), &read),
            revoked: revoked.clone(),
            started: Instant::now(),
            metrics: middleware::prometheus(),
            notifier: notifier.clone(),
            auth: Auth::new(
                db.clone(),
                tokens.clone(),
                revoked.clone(),
                fanout.clone(),
                config.refresh_reuse_grace,
                config.signup_bonus,
            ),
            shop: Shop::new(db.clone(), config.commission_bps, read.clone()),
            social: crate::social::Social::new(db.clone(), fanout.clone(), chat_limiter),
            live: crate::live::Live::new(
                db.clone(),
                fanout.clone(),
                crate::live::LiveSettings {
                    heartbeat: config.ws_heartbeat,
                    buffer: config.ws_buffer,
                    replay_max: 500,
                    max_sockets: config.max_connections,
                },
            ),
            ai: crate::ai::Ai::new(
                db.clone(),
                config.ai_rebuild_interval,
                config.ai_catalogue_ttl,
            ),
            tickets: Tickets::new(
                db.clone(),
                signer.clone(),
                TicketRules {
                    commission_bps: config.commission_bps,
                    refund_cutoff_hours: config.ticket_refund_cutoff_hours,
                },
                notifier.clone(),
                read.clone(),
            ),
            wallet: Wallet::new(
                db.clone(),
                Payments::from_config(&config)?,
                Arc::new(config.deposit_limits.clone()),
                notifier.clone(),
            ),
            signer,
            esims: Esims::new(
                db.clone(),
                crate::esim::provider_from_config(&config),
                config.esim_provider_timeout,
                &config.esim_webhook_secret,
                notifier.clone(),
                read.clone(),
            ),
            instance,
            db,
            config: Arc::new(config),
        }));
        heartbeat(&state.db, &state.instance).await?;
        crate::ai::results::seed(&state.db).await?;
        if state.config.demo_data {
            crate::demo::seed(&state).await?;
        }
        Ok(state)
    }
}

impl FromRef<AppState> for Tickets {
    fn from_ref(state: &AppState) -> Tickets {
        state.tickets.clone()
    }
}

impl FromRef<AppState> for crate::social::Social {
    fn from_ref(state: &AppState) -> crate::social::Social {
        state.social.clone()
    }
}

impl FromRef<AppState> for crate::live::Live {
    fn from_ref(state: &AppState) -> crate::live::Live {
        state.live.clone()
    }
}

impl FromRef<AppState> for crate::ai::Ai {
    fn from_ref(state: &AppState) -> crate::ai::Ai {
        state.ai.clone()
    }
}

impl FromRef<AppState> for crate::clubs::Clubs {
    fn from_ref(state: &AppState) -> crate::clubs::Clubs {
        state.clubs.clone()
    }
}

impl FromRef<AppState> for Shop {
    fn from_ref(state: &AppState) -> Shop {
        state.shop.clone()
    }
}

impl FromRef<AppState> for Esims {
    fn from_ref(state: &AppState) -> Esims {
        state.esims.clone()
    }
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.auth.clone()
    }
}

impl FromRef<AppState> for RateLimiter {
    fn from_ref(state: &AppState) -> RateLimiter {
        state.limiter.clone()
    }
}

impl FromRef<AppState> for crate::http::extract::RequestAuth {
    fn from_ref(state: &AppState) -> Self {
        crate::http::extract::RequestAuth {
            tokens: state.tokens.clone(),
            revoked: state.revoked.clone(),
            trust_forwarded_for: state.config.trust_forwarded_for,
        }
    }
}

impl FromRef<AppState> for Notifier {
    fn from_ref(state: &AppState) -> Notifier {
        state.notifier.clone()
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.db.clone()
    }
}

impl FromRef<AppState> for Wallet {
    fn from_ref(state: &AppState) -> Wallet {
        state.wallet.clone()
    }
}

/// A secret the server generates once and keeps in the database. Insert-if-absent
/// then read, so concurrent first starts of several instances agree on one value.
pub async fn server_secret(db: &Db, name: &str) -> anyhow::Result<String> {
    let candidate = hex::encode(rand::random::<[u8; 32]>());
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(&candidate)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(row.try_get("value")?)
}

/// The ticket signing key: from `TICKET_SIGNING_KEY_FILE` (created on first
/// start), else generated once and kept in the database. Either way it
/// survives restarts, so tickets already issued stay valid.
async fn ticket_signer(db: &Db, config: &Config) -> anyhow::Result<TicketSigner> {
    let seed_hex = match &config.ticket_signing_key_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = hex::encode(rand::random::<[u8; 32]>());
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                write_secret_file(path, &seed)?;
                seed
            }
            Err(e) => return Err(e.into()),
        },
        None => server_secret(db, "ticket_signing_key").await?,
    };
    let bytes = hex::decode(&seed_hex)?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the ticket signing key must be 32 bytes of hex"))?;
    Ok(TicketSigner::from_seed(seed))
}

fn write_secret_file(path: &str, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())
}

/// Every API route with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/auth", crate::auth::router())
        .nest("/api/admin/users", crate::auth::admin_router())
        .nest("/api/clubs", crate::clubs::router())
        .nest("/api/wallet", crate::wallet::router())
        .nest("/api/payments", crate::wallet::payments_router())
        .nest("/api/admin", crate::wallet::admin_router())
        .nest("/api/notifications", crate::notifications::router())
        .nest("/api/shop", crate::shop::router())
        .nest("/api/admin/products", crate::shop::admin_products_router())
        .nest("/api/admin/orders", crate::shop::admin_orders_router())
        .nest("/api/esim", crate::esim::router())
        .nest("/api/admin/esim", crate::esim::admin_router())
        .nest("/api/tickets", crate::tickets::router())
        .nest("/api/admin/events", crate::tickets::admin_router())
        .nest("/api", crate::tickets::keys_router())
        .nest("/api/social", crate::social::router())
        .nest("/api", crate::live::router())
        .nest("/api/ai", crate::ai::router())
        .nest("/api/admin", crate::ai::admin_router())
        .nest("/api", crate::system::router())
}

pub fn openapi_document() -> serde_json::Value {
    let (_, api) = api_routes().split_for_parts();
    openapi::document(api)
}

pub fn router(state: AppState) -> Router {
    let (api_router, api) = api_routes().split_for_parts();
    let mut api = openapi::document(api);
    openapi::deposit_methods(&mut api, &state.wallet.deposit_methods());
    let cors = cors_layer(&state.config);
    let timeout = state.config.request_timeout;
    let body_timeout = state.config.body_read_timeout;
    Router::new()
        .merge(api_router)
        .merge(
            SwaggerUi::new("/docs")
                .external_url_unchecked("/api/openapi.json", api)
                // Its default badge is an image from validator.swagger.io,
                // which the CSP (img-src 'self') blocks and a closed network
                // cannot reach; CI validates the document instead.
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .route("/metrics", get(crate::system::metrics))
        .merge(crate::http::web::router())
        .fallback(|| async { ApiError::not_found("resource") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Middleware that needs the state (idempotency) finds it here.
        .layer(Extension(state.clone()))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(from_fn(middleware::observe))
                .layer(from_fn(middleware::security_headers))
                .layer(from_fn(crate::http::cache::private_by_default))
                .layer(from_fn(middleware::problem_bodies))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(from_fn(move |req, next| {
                    middleware::read_body(body_timeout, req, next)
                }))
                .layer(from_fn(middleware::reject_nul))
                .layer(from_fn(middleware::preflight_no_content))
                .option_layer(cors)
                // Inside CORS, so a browser can read a version error.
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::versions::negotiate,
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    timeout,
                )),
        )
        .with_state(state)
}

/// Browser front ends on other origins: in development any origin (a local
/// front end works out of the box) unless `CORS_ORIGINS` names some; in
/// production exactly `CORS_ORIGINS`. Credentials are never allowed: the API
/// authenticates with a bearer token, not cookies.
fn cors_layer(config: &Config) -> Option<CorsLayer> {
    let origins = &config.cors_origins;
    let any = origins.iter().any(|o| o == "*")
        || (origins.is_empty() && config.app_env == crate::config::AppEnv::Development);
    let allow_origin = if any {
        AllowOrigin::from(Any)
    } else if origins.is_empty() {
        return None;
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    let version = HeaderName::from_static(crate::versions::HEADER);
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
                version.clone(),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("idempotent-replayed"),
                header::RETRY_AFTER,
                header::ETAG,
                version,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Request heads (request line and headers) larger than this are refused
/// (431) before any of it reaches the application.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// A client has this long to send its request head once it connected (or
/// once its previous request on the connection was answered).
const HEAD_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
///
/// Our own accept loop over hyper rather than `axum::serve`, for the limits
/// a server facing the internet needs: a bound on open connections (the
/// loop stops accepting while it is reached), on the size of request heads,
/// and on the time a client may take to send one.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let app = router(state.clone());
    // Aborted when dropped: a server task that is itself aborted (a test
    // that panicked) must not leave its chores holding the pool.
    let _chores = (
        AbortOnDrop(tokio::spawn(housekeeping(state.clone()))),
        AbortOnDrop(tokio::spawn(beat(state.clone()))),
        AbortOnDrop(tokio::spawn(state.live.clone().run())),
        AbortOnDrop(tokio::spawn(state.ai.clone().run())),
        AbortOnDrop(tokio::spawn(state.read.clone().follow())),
        AbortOnDrop(tokio::spawn(crate::auth::sessions::follow(
            state.revoked.clone(),
            state.fanout.clone(),
            state.db.clone(),
            state.config.access_token_ttl,
        ))),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .header_read_timeout(HEAD_READ_TIMEOUT)
        .timer(TokioTimer::new());
    builder
        .http2()
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .timer(TokioTimer::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p?,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = app.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    // Live sockets are told to reconnect (to another instance) and resume.
    state.live.hub().stop_all(crate::live::hub::Stop::Shutdown);
    // Idle connections close now; requests in flight are answered first.
    graceful.shutdown().await;
    if let Ok(mut conn) = state.db.bookkeeping().await {
        // Drained: no reservation of ours is left in flight.
        let _ = sqlx::query("DELETE FROM server_instances WHERE id = $1")
            .bind(&*state.instance)
            .execute(conn.conn())
            .await;
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tells other processes this one is alive (see `idempotency::OWNER_DEAD_AFTER_MS`).
async fn heartbeat(db: &Db, instance: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut conn = db.bookkeeping().await?;
    sqlx::query(
        "INSERT INTO server_instances (id, started_at, heartbeat_at) VALUES ($1, $2, $2)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(instance)
    .bind(now)
    .execute(conn.conn())
    .await?;
    Ok(())
}

async fn beat(state: AppState) {
    let mut every = tokio::time::interval(crate::http::idempotency::HEARTBEAT_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = heartbeat(&state.db, &state.instance).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Periodic chores: forget expired idempotency keys and dead instances;
/// expire card deposits never completed; refund eSIM purchases a dead
/// process left half-done (the first tick runs at start).
async fn housekeeping(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        every.tick().await;
        if let Ok(mut conn) = state.db.bookkeeping().await {
            let _ = sqlx::query("DELETE FROM server_instances WHERE heartbeat_at < $1")
                .bind(now_ms() - 86_400_000)
                .execute(conn.conn())
                .await;
        }
        match state
            .wallet
            .expire_pending(state.config.deposit_pending_expiry)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(expired = n, "pending deposits expired"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deposit expiry failed"),
        }
        match crate::http::idempotency::purge_expired(&state.db).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired idempotency keys removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
        }
        // A client away longer than a week reloads through the REST lists.
        if let Err(e) = state
            .live
            .prune(std::time::Duration::from_secs(7 * 86_400))
            .await
        {
            tracing::warn!(error = %e, "live event log prune failed");
        }
        // What a burst (a storm of connections) left in the allocator's
        // arenas goes back to the system.
        crate::infra::memory::give_back();
        let stale = state.esims.orphaned_after();
        if let Err(e) = state.esims.refund_orphans(stale).await {
            tracing::warn!(error = %e, "eSIM recovery failed");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, draining in-flight requests");
}
