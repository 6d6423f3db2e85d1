//! The demo page (`/demo`): static files compiled into the binary, so it
//! works offline and from any working directory, and nothing is fetched
//! from a CDN. It talks to the API with the JavaScript client of
//! `clients/js`, served as `/demo/client.js` from the same source file.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/demo/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/demo/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/demo/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../web/demo/favicon.svg"),
    },
    Asset {
        name: "client.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../clients/js/src/index.js"),
    },
];

/// Strong validators of the assets, computed once: a browser revalidates
/// (`no-cache`) and gets a 304 until a new binary serves other bytes.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                format!(
                    "\"{}\"",
                    &hex::encode(Sha256::digest(a.body.as_bytes()))[..32]
                )
            })
            .collect()
    })
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let index = get(fixed("index.html"));
    Router::new()
        // A person who opens the server's address lands on the demo.
        .route("/", get(|| async { Redirect::to("/demo") }))
        // Browsers ask for it on every page, the docs' included.
        .route("/favicon.ico", get(fixed("favicon.svg")))
        .route("/demo", index.clone())
        .route("/demo/", index)
        .route(
            "/demo/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                asset(&file, &headers)
            }),
        )
}

/// A handler answering one named asset.
fn fixed(
    name: &'static str,
) -> impl Fn(HeaderMap) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move |headers: HeaderMap| std::future::ready(asset(name, &headers))
}

fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found("file").into_response();
    };
    let (asset, tag) = (&ASSETS[i], &etags()[i]);
    let cache = [
        (header::ETAG, HeaderValue::from_str(tag).ok()),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static("no-cache")),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    for (name, value) in cache {
        if let Some(value) = value {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}
