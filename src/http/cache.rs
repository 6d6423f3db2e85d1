//! HTTP caching of public reads: an `ETag` per rendered answer and version,
//! `304 Not Modified` for a client (or nginx) that already holds it, and a
//! `Cache-Control` that lets a shared cache keep a public list for a second.
//! Every other API answer is `no-store` (see [`private_by_default`]).

use std::convert::Infallible;

use axum::Extension;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::infra::readmodel::Rendered;
use crate::versions::Version;

/// The public lists answered from memory with an `ETag` (their GET).
pub const PUBLIC_LISTS: &[&str] = &[
    "/api/clubs",
    "/api/shop/products",
    "/api/tickets/events",
    "/api/esim/plans",
];

/// A public list: the same for everyone, at most a second old in a shared cache.
pub const PUBLIC: &str = "public, max-age=1";
/// Anything else: never kept by a browser or a proxy.
pub const PRIVATE: &str = "no-store";

/// What a public read needs of its request to answer it: the version the
/// answer is tagged for and the tags the client already holds.
pub struct PublicRead {
    version: Version,
    path: String,
    if_none_match: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for PublicRead {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut if_none_match = HeaderMap::new();
        for v in parts.headers.get_all(header::IF_NONE_MATCH) {
            if_none_match.append(header::IF_NONE_MATCH, v.clone());
        }
        Ok(PublicRead {
            version: parts
                .extensions
                .get::<Version>()
                .copied()
                .unwrap_or_else(Version::current),
            // Nesting strips the prefix from the URI a handler sees.
            path: parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or(parts.uri.path(), |u| u.0.path())
                .to_owned(),
            if_none_match,
        })
    }
}

impl PublicRead {
    pub fn answer(&self, rendered: &Rendered) -> Response {
        public_json(&self.if_none_match, self.version, &self.path, rendered)
    }
}

/// A rendered public answer, or 304 when `If-None-Match` names it.
fn public_json(request: &HeaderMap, version: Version, path: &str, rendered: &Rendered) -> Response {
    // The answer depends on the version header, so its tag does too.
    let etag = format!("\"{}-{}\"", rendered.tag, version.name());
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static(PUBLIC)),
        (
            header::VARY,
            HeaderValue::from_static(crate::versions::HEADER),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    if none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    // An older version's JSON is made once per answer, not per request.
    let json = if version == Version::current() {
        rendered.json.clone()
    } else {
        rendered.form(version.name(), |json| {
            crate::versions::json_in(version, &Method::GET, path, json)
                .map_or_else(|| Bytes::copy_from_slice(json), Bytes::from)
        })
    };
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Extension(crate::versions::Answered),
        json,
    )
        .into_response()
}

/// Whether `If-None-Match` lists `etag` (weak comparison, RFC 9110 13.1.2).
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// API answers that did not say how to cache them are `no-store`: private
/// data (a balance, a ticket's QR code) must never sit in a shared cache.
pub async fn private_by_default(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    if api && !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"ab-1.0\"";
        assert!(none_match(&with("\"ab-1.0\""), tag));
        assert!(none_match(&with("\"x\", W/\"ab-1.0\""), tag));
        assert!(none_match(&with("*"), tag));
        assert!(!none_match(&with("\"ab-2026-12-01\""), tag));
        assert!(!none_match(&with("ab-1.0"), tag));
        assert!(!none_match(&HeaderMap::new(), tag));
    }
}
