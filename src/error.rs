//! One error type for every handler, rendered as RFC 9457 problem details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use crate::db::{constraint_violation, is_transient};
pub use crate::domain::FieldError;

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case error code.
    pub code: String,
    /// Short human message kept for v1.0 clients.
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Problem-specific extension members (for example `line` on `out_of_stock`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Client {
        status: StatusCode,
        code: &'static str,
        detail: String,
        errors: Option<Vec<FieldError>>,
        extra: Map<String, Value>,
        retry_after: Option<u64>,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            detail: detail.into(),
            errors: None,
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::Client {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            detail,
            errors: Some(errors),
            extra: Map::new(),
            retry_after: None,
        }
    }
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests, retry in {retry_after_secs} s"),
        );
        if let ApiError::Client { retry_after, .. } = &mut e {
            *retry_after = Some(retry_after_secs.max(1));
        }
        e
    }
    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, detail)
    }
    pub fn gone(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, detail)
    }
    pub fn payment_required(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYMENT_REQUIRED, code, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// Adds an extension member to the problem body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let ApiError::Client { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The problem document this error answers with (without headers), for
    /// answers stored to be replayed.
    pub fn problem_json(&self) -> String {
        let body = match self {
            ApiError::Client {
                status,
                code,
                detail,
                errors,
                extra,
                ..
            } => problem_body(*status, code, detail.clone(), errors.clone(), extra.clone()),
            _ => problem_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an unexpected error occurred".into(),
                None,
                Map::new(),
            ),
        };
        String::from_utf8_lossy(&body).into_owned()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client { code, .. } => code,
            _ => "internal_error",
        }
    }
}

/// Title of a status, used for `title` and for problems built from bare statuses.
pub fn status_title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// The default `code` for a bare status (404 from the router, 405, 413, ...).
pub fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        503 => "unavailable",
        504 => "timeout",
        s if s >= 500 => "internal_error",
        _ => "error",
    }
}

pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    extra: Map<String, Value>,
) -> Response {
    let bytes = problem_body(status, code, detail, errors, extra);
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn problem_body(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    extra: Map<String, Value>,
) -> Vec<u8> {
    let title = status_title(status);
    let body = Problem {
        type_: format!(
            "https://paiecashfan.com/problems/{}",
            code.replace('_', "-")
        ),
        title: title.to_owned(),
        status: status.as_u16(),
        error: detail.clone(),
        detail,
        code: code.to_owned(),
        errors,
        extra,
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Client {
                status,
                code,
                detail,
                errors,
                extra,
                retry_after,
            } => {
                let mut resp = problem_response(status, code, detail, errors, extra);
                if let Some(secs) = retry_after {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                resp
            }
            ApiError::Database(err) => {
                if is_transient(&err) {
                    tracing::warn!(error = %err, "database busy");
                    let mut resp = problem_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the service is busy, retry shortly".into(),
                        None,
                        Map::new(),
                    );
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return resp;
                }
                tracing::error!(error = %err, "database error");
                internal()
            }
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                internal()
            }
        }
    }
}

fn internal() -> Response {
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred".into(),
        None,
        Map::new(),
    )
}

impl From<crate::domain::Forbidden> for ApiError {
    fn from(e: crate::domain::Forbidden) -> Self {
        ApiError::forbidden(e.0)
    }
}

impl From<crate::replay::RecordError> for ApiError {
    fn from(e: crate::replay::RecordError) -> Self {
        match e {
            crate::replay::RecordError::AlreadyAnswered => ApiError::conflict(
                crate::http::idempotency::ANSWERED,
                "this Idempotency-Key already has an answer",
            ),
            crate::replay::RecordError::Db(e) => ApiError::Database(e),
            crate::replay::RecordError::Serialize(e) => {
                ApiError::Internal(anyhow::anyhow!("answer not serializable: {e}"))
            }
        }
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        ApiError::validation(e.0)
    }
}
