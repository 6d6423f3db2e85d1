//! Cross-cutting HTTP behaviour: request log and metrics, uniform problem bodies.

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{problem_response, status_code_name};

/// One request line in the log and in the metrics: method, route template (never
/// the concrete path, which may carry ids), status and latency. Bodies and
/// headers are never logged, so neither are passwords nor tokens.
pub async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let resp = next.run(req).await;
    let latency = start.elapsed();
    let status = resp.status().as_u16();
    metrics::counter!("http_requests_total",
        "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!("http_request_duration_seconds",
        "method" => method.to_string(), "route" => route.clone())
    .record(latency.as_secs_f64());
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %route, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, request_id, "request");
    }
    resp
}

/// Reads the request body whole before anything else sees it: a body
/// announced larger than the limit is refused at once (413, from its
/// `Content-Length`, nothing read), and one that does not arrive within
/// `limit` (a client that announced more than it sends) is 408 instead of
/// holding the request until the request timeout. Either way the connection
/// is closed, since what remains of the body will not be read.
pub async fn read_body(limit: std::time::Duration, req: Request, next: Next) -> Response {
    let close = |mut resp: Response| {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    };
    let too_large = || {
        close(problem_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over 64 KiB".into(),
            None,
            serde_json::Map::new(),
        ))
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > crate::app::MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(
        limit,
        axum::body::to_bytes(body, crate::app::MAX_BODY_BYTES),
    )
    .await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large()
            } else {
                close(problem_response(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request body could not be read".into(),
                    None,
                    serde_json::Map::new(),
                ))
            }
        }
        Err(_) => close(problem_response(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
            None,
            serde_json::Map::new(),
        )),
    }
}

/// PostgreSQL cannot store a NUL character in text and answers an error for
/// any query that binds one, so a `%00` anywhere in the URL is refused here,
/// once, before it can reach a handler (400, nothing changed).
pub async fn reject_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let has_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return problem_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the URL contains a NUL character".into(),
            None,
            serde_json::Map::new(),
        );
    }
    next.run(req).await
}

/// A CORS preflight the CORS layer answered is `204 No Content` (it has no
/// body); tower-http answers 200.
pub async fn preflight_no_content(req: Request, next: Next) -> Response {
    let preflight = req.method() == axum::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = next.run(req).await;
    if preflight
        && resp.status() == StatusCode::OK
        && resp
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

/// Every error answer is problem+json, including the ones axum and tower build
/// themselves (unknown route, wrong method, body too large, timeout).
pub async fn problem_bodies(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let detail = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if !b.is_empty() && b.len() < 512 => String::from_utf8_lossy(&b).into_owned(),
        _ => default_detail(status).to_owned(),
    };
    let mut fresh = problem_response(
        status,
        status_code_name(status),
        detail,
        None,
        serde_json::Map::new(),
    );
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

fn default_detail(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "no such resource",
        405 => "method not allowed on this resource",
        413 => "the request body is over 64 KiB",
        408 | 503 => "the request took too long or the service is busy",
        _ => status.canonical_reason().unwrap_or("error"),
    }
}

pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred".into(),
        None,
        serde_json::Map::new(),
    )
}

/// The process-wide Prometheus recorder (metrics macros write to one global).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => {
                    describe_metrics();
                    h
                }
                // Another recorder is installed (embedding); keep an unattached one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// `# HELP` and `# TYPE` lines for every metric the server records, so a
/// scrape says what each one means (the exporter writes them once described).
fn describe_metrics() {
    use metrics::Unit;
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by method and route template"
    );
    metrics::describe_gauge!(
        "db_pool_connections",
        "Database connections in the pool, by state (idle, in_use)"
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "The database pool's configured maximum (DB_MAX_CONNECTIONS)"
    );
    metrics::describe_gauge!(
        "ws_connections",
        "Live sockets (/api/ws) open on this instance"
    );
}

/// Security headers as helmet sets them by default, less
/// `upgrade-insecure-requests`: behind plain HTTP on any name but localhost
/// it made browsers fetch the docs' and demo's scripts over https, which
/// nothing serves, and show a blank page. HSTS still tells browsers that
/// reached the server over TLS to stay on it.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self';base-uri 'self';font-src 'self' data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(*name) {
            headers.insert(*name, HeaderValue::from_static(value));
        }
    }
    resp
}
