use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::Path;

use crate::auth::Auth;
use crate::auth::model::{
    AuthResponse, ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest,
    SessionsRevoked, UpdateMeRequest, UserResponse,
};
use crate::auth::service::Registration;
use crate::error::{ApiResult, Problem};
use crate::http::extract::{ApiJson, AuthUser, ClientIp, RequestAuth};
use crate::http::validate::normalize_email;
use crate::infra::ratelimit::RateLimiter;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Auth: FromRef<S>,
    RequestAuth: FromRef<S>,
    RateLimiter: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
}

pub fn admin_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Auth: FromRef<S>,
    RequestAuth: FromRef<S>,
    RateLimiter: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(revoke_sessions))
}

fn account_of(email: &str) -> String {
    normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase())
}

/// Registrations count per client address and per account, so neither
/// spreading attempts over many accounts nor over many addresses gets
/// around them.
async fn limit_auth(limiter: &RateLimiter, ip: &ClientIp, email: &str) -> ApiResult<()> {
    limiter.check(&format!("auth:ip:{}", ip.0)).await?;
    limiter
        .check(&format!("auth:acct:{}", account_of(email)))
        .await
}

/// Login attempts count per address (spraying many accounts), per account
/// and address (guessing from one place), and per account over all the
/// addresses it never signed in from (guessing from many places). The owner,
/// at an address they signed in from before, is not counted against that
/// last allowance: strangers' wrong guesses cannot lock them out.
async fn limit_login(
    auth: &Auth,
    limiter: &RateLimiter,
    ip: &ClientIp,
    email: &str,
) -> ApiResult<()> {
    let account = account_of(email);
    limiter.check(&format!("auth:ip:{}", ip.0)).await?;
    limiter
        .check(&format!("auth:acct-ip:{account}:{}", ip.0))
        .await?;
    if !auth.known_address(&account, &ip.0.to_string()).await? {
        limiter.check(&format!("auth:acct:{account}")).await?;
    }
    Ok(())
}

/// Create a fan account.
#[utoipa::path(post, path = "/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse, description = "account created, session opened"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`email_taken`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid field (unknown `clubId`, short password, ...)"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "too many attempts"),
    ))]
#[tracing::instrument(skip_all)]
async fn register(
    State(auth): State<Auth>,
    State(limiter): State<RateLimiter>,
    ip: ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    limit_auth(&limiter, &ip, &body.email).await?;
    let resp = auth
        .register(Registration {
            email: body.email,
            password: body.password,
            name: body.name,
            club_id: body.club_id,
            address: ip.0.to_string(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(resp)))
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "wrong e-mail or password (same answer for both)"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "too many attempts"),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(auth): State<Auth>,
    State(limiter): State<RateLimiter>,
    ip: ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    limit_login(&auth, &limiter, &ip, &body.email).await?;
    Ok(Json(
        auth.login(&body.email, body.password, &ip.0.to_string())
            .await?,
    ))
}

/// Exchange a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once. Presenting one that was already exchanged
/// revokes every token of that session.
#[utoipa::path(post, path = "/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(auth): State<Auth>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<AuthResponse>> {
    Ok(Json(auth.refresh(&body.refresh_token).await?))
}

/// Revoke a refresh token and every token rotated from it.
#[utoipa::path(post, path = "/logout", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "session closed (also when the token was unknown)")))]
#[tracing::instrument(skip_all)]
async fn logout(
    State(auth): State<Auth>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "auth",
    security(("bearerAuth" = [])),
    responses((status = 200, body = UserResponse)))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn me(State(auth): State<Auth>, user: AuthUser) -> ApiResult<Json<UserResponse>> {
    Ok(Json(UserResponse {
        user: auth.me(&user.id).await?,
    }))
}

/// Change name or favourite club.
#[utoipa::path(patch, path = "/me", tag = "auth",
    security(("bearerAuth" = [])),
    request_body = UpdateMeRequest,
    responses((status = 200, body = UserResponse)))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn update_me(
    State(auth): State<Auth>,
    user: AuthUser,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(UserResponse {
        user: auth.update_me(&user.id, body.name, body.club_id).await?,
    }))
}

/// Change my password: every session ends (on every device, at once) and
/// this answer opens a new one.
#[utoipa::path(post, path = "/password", tag = "auth",
    security(("bearerAuth" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = AuthResponse, description = "password changed; a new session"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "wrong current password, or a new one too short"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "too many attempts"),
    ))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn change_password(
    State(auth): State<Auth>,
    State(limiter): State<RateLimiter>,
    user: AuthUser,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<AuthResponse>> {
    // A stolen access token must not become a way to guess the password.
    limiter.check(&format!("auth:password:{}", user.id)).await?;
    Ok(Json(
        auth.change_password(&user.id, body.current_password, body.new_password)
            .await?,
    ))
}

/// End every session of a user at once (admins).
#[utoipa::path(post, path = "/{id}/sessions/revoke", tag = "admin",
    security(("bearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SessionsRevoked),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
async fn revoke_sessions(
    State(auth): State<Auth>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionsRevoked>> {
    user.require_admin()?;
    Ok(Json(SessionsRevoked {
        revoked: auth.revoke_all_sessions(&id).await?,
    }))
}
