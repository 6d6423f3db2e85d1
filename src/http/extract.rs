//! Request extractors whose rejections are our own problem+json errors.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use std::sync::Arc;

use crate::auth::sessions::RevokedSessions;
use crate::auth::token::Claims;
use crate::auth::token::TokenService;
use crate::domain::Caller;
use crate::error::{ApiError, FieldError};
use crate::http::validate::Validate;

/// JSON body: malformed JSON is 400, a wrong type or missing field is 422 naming
/// the field, then the type's own `validate()` runs.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|ct| ct.to_str().map(is_json_media_type).unwrap_or(false));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        // A body must say it is JSON; an empty one is left to `parse_json`.
        if declared == Some(false) || (declared.is_none() && !bytes.is_empty()) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let value = parse_json::<T>(&bytes)?;
        value.validate()?;
        Ok(ApiJson(value))
    }
}

/// A JSON body that may be left out: an empty body reads as `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let empty = match headers.get(header::CONTENT_LENGTH) {
            Some(len) => len.as_bytes() == b"0",
            None => !headers.contains_key(header::TRANSFER_ENCODING),
        };
        if empty {
            let value = T::default();
            value.validate()?;
            return Ok(OptionalJson(value));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
    }
}

/// `application/json` or a structured `+json` type (RFC 6839), with any
/// parameters; nothing that merely starts or ends alike (`application/jsonx`).
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.strip_prefix("application/") {
        Some("json") => true,
        Some(subtype) => subtype.strip_suffix("+json").is_some_and(|base| {
            !base.is_empty()
                && base
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.".contains(&b))
        }),
        None => false,
    }
}

fn body_rejection(rej: BytesRejection) -> ApiError {
    let status = rej.status();
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "payload_too_large",
            "the request body is over 64 KiB",
        )
    } else {
        ApiError::bad_request("bad_request", rej.body_text())
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422 with the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "the request body is empty; a JSON object is expected",
        ));
    }
    // Syntax first, over the whole body, so a truncated document is always a 400
    // even when its first value already has the wrong shape.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("malformed JSON: {}", strip_position(&e.to_string())),
        )
    })?;
    // A NUL character cannot be stored in PostgreSQL text: refuse it in any
    // string of any body, rather than field by field.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "invalid_characters",
            "strings must not contain NUL characters",
        )]));
    }
    // Every request body of this API is an object: a struct must not be
    // filled from an array's positions (`["x"]` renaming a user).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "invalid_type",
            "the request body must be a JSON object",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    // JSON has one number type: `2.0` is the integer 2 (JSON Schema agrees,
    // and some encoders write whole numbers so). Only when a whole number
    // written with a fraction was refused is the body read a second time.
    let result = match result {
        Err(err)
            if err
                .inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            whole_numbers_as_integers(bytes).ok_or(err)
        }
        other => other,
    };
    let value = result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
                "malformed_json",
                format!("malformed JSON: {}", strip_position(&inner.to_string())),
            ),
            Category::Data => {
                let msg = strip_position(&inner.to_string());
                let field = if let Some(missing) = msg
                    .strip_prefix("missing field `")
                    .and_then(|m| m.split('`').next())
                {
                    if path == "." {
                        missing.to_owned()
                    } else {
                        format!("{path}.{missing}")
                    }
                } else if path == "." {
                    "body".to_owned()
                } else {
                    path
                };
                let code = if msg.starts_with("missing field") {
                    "required"
                } else if msg.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_type"
                };
                ApiError::validation(vec![FieldError::new(field, code, msg)])
            }
        }
    })?;
    Ok(value)
}

fn whole_numbers_as_integers<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f.abs() < 9_007_199_254_740_992.0
                {
                    *v = serde_json::Value::from(f as i64);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut value);
    serde_json::from_value(value).ok()
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Query string whose rejection is a 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rej| {
                let text = rej.body_text();
                let msg = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.contains("field `"))
                    .unwrap_or("query")
                    .to_owned();
                ApiError::validation(vec![FieldError::new(field, "invalid_query", msg)])
            })?;
        value.validate()?;
        Ok(ApiQuery(value))
    }
}

/// The authenticated caller, from a valid `Authorization: Bearer` access
/// token: the core's [`Caller`], extracted.
pub type AuthUser = Caller;

/// What the request extractors need from the state: the access-token
/// verifier, the sessions ended early, and whether a trusted proxy sets
/// `X-Forwarded-For`. A router whose state this can be taken from can
/// authenticate its callers, whatever else that state holds.
#[derive(Clone)]
pub struct RequestAuth {
    pub tokens: Arc<TokenService>,
    pub revoked: RevokedSessions,
    pub trust_forwarded_for: bool,
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    RequestAuth: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = RequestAuth::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
        let claims = state.verify(token)?;
        Ok(Caller::from(claims))
    }
}

impl RequestAuth {
    /// An access token that is valid and whose session has not ended.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let claims: Claims = self.tokens.verify_access(token)?;
        if claims
            .sid
            .as_deref()
            .is_some_and(|sid| self.revoked.is_revoked(sid))
        {
            return Err(ApiError::unauthorized(
                "this session has ended; sign in again",
            ));
        }
        Ok(claims)
    }
}

impl From<Claims> for Caller {
    fn from(claims: Claims) -> Caller {
        Caller {
            id: claims.sub.into(),
            role: claims.role,
            staff_club: claims.club.map(Into::into),
        }
    }
}

/// Address of the client, for rate limits: the peer address, or the first
/// `X-Forwarded-For` hop when the deployment says a trusted proxy sets it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    RequestAuth: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = RequestAuth::from_ref(state);
        if state.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientIp(ip));
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn json_media_types_are_exact() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
            "application/vnd.api+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "application/jsonx",
            "application/json-seq",
            "text/json",
            "application/+json",
            "application/x+jsonx",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
