//! Dated API versions, as Stripe runs them: handlers produce the current shape
//! only, and every breaking change to a shape is a named, small transformation
//! kept here, which turns a current answer into the one an older client was
//! built against. A request names its version in `PaieCashFan-Version` (or
//! gets the configured default); the answer says which it used.
//!
//! Adding a breaking change: add the new dated version at the end of
//! [`VERSIONS`] with the list of its changes (one module per version, like
//! [`v2026_12_01`]). Each change turns the new shape back into the previous
//! version's; an older client gets every change newer than its version undone,
//! newest first.

mod convert;
mod v2026_12_01;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::RequestAuth;

/// The request and response header naming the version.
pub const HEADER: &str = "paiecashfan-version";

/// Every version, oldest first, with the changes it made to the one before.
pub const VERSIONS: &[VersionDef] = &[
    VersionDef {
        name: "1.0",
        changes: &[],
        request_changes: &[],
    },
    VersionDef {
        name: "2026-12-01",
        changes: v2026_12_01::CHANGES,
        request_changes: v2026_12_01::REQUEST_CHANGES,
    },
];

/// The current version: what handlers produce and the OpenAPI document describes.
pub const CURRENT: &str = "2026-12-01";

pub struct VersionDef {
    pub name: &'static str,
    pub changes: &'static [Change],
    pub request_changes: &'static [RequestChange],
}

/// A version as an index into [`VERSIONS`], so versions compare by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(usize);

impl Version {
    pub fn parse(name: &str) -> Option<Version> {
        VERSIONS
            .iter()
            .position(|v| v.name == name.trim())
            .map(Version)
    }

    pub fn current() -> Version {
        Version(VERSIONS.len() - 1)
    }

    pub fn name(self) -> &'static str {
        VERSIONS[self.0].name
    }

    /// The known versions, for error messages and configuration checks.
    pub fn known() -> String {
        VERSIONS
            .iter()
            .map(|v| v.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One breaking change: where it shows (routes, and where in their answers
/// the changed object sits) and how to undo it for older clients.
pub struct Change {
    /// Short snake_case name, as in the README's list of changes.
    pub name: &'static str,
    pub description: &'static str,
    pub applies_to: &'static [At],
    /// Turns the object found at `At::paths` from this version's shape into
    /// the previous version's.
    pub undo: fn(&mut Value, &Context),
}

/// One breaking change to how requests are read: how a member an older
/// client sends is read as the current version reads it. It applies to
/// top-level members of a JSON object body (`At::paths` names them) holding
/// a number; anything else reaches the handler untouched.
pub struct RequestChange {
    pub name: &'static str,
    pub description: &'static str,
    pub applies_to: &'static [At],
    /// The member's JSON text as the current version would have it sent;
    /// None leaves it as it was.
    pub redo: fn(&str) -> Option<String>,
}

/// A route (method and path template, `{...}` for a segment) and the places
/// in its successful answer where a change applies: `""` for the whole body,
/// `"ticket"` for a member, `"tickets[]"` for each element of an array,
/// joined with dots for nested members.
pub struct At {
    pub method: &'static str,
    pub path: &'static str,
    pub paths: &'static [&'static str],
}

/// What a change may need besides the object itself.
pub struct Context {
    /// The signed-in caller's id, when the request carried a valid token.
    pub caller: Option<String>,
    /// The route's path template, as in [`At::path`].
    pub route: &'static str,
}

/// Picks the version of the request, checks it, and answers in it.
pub async fn negotiate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let named = req.headers().get(HEADER).map(|v| v.to_str().unwrap_or(""));
    let version = match named {
        None => Some(state.config.api_default_version),
        Some(name) => Version::parse(name),
    };
    let Some(version) = version else {
        let mut resp = ApiError::bad_request(
            "unknown_api_version",
            format!(
                "PaieCashFan-Version {:?} is not a version of this API; known versions: {}",
                named.unwrap_or_default(),
                Version::known()
            ),
        )
        .with(
            "knownVersions",
            VERSIONS.iter().map(|v| v.name).collect::<Vec<_>>(),
        )
        .into_response();
        stamp(&mut resp, Version::current());
        return resp;
    };
    // Handlers that tag their answers (ETag) tag each version's apart.
    req.extensions_mut().insert(version);
    let redo = request_changes_to_redo(version, req.method(), req.uri().path());
    if !redo.is_empty() {
        req = match redo_request(req, &redo).await {
            Ok(req) => req,
            Err(mut resp) => {
                stamp(&mut resp, version);
                return resp;
            }
        };
    }
    let undo = changes_to_undo(version, req.method(), req.uri().path());
    if undo.is_empty() {
        let mut resp = next.run(req).await;
        stamp(&mut resp, version);
        return resp;
    }
    let token = req.headers().get(header::AUTHORIZATION).cloned();
    let resp = next.run(req).await;
    let done = resp.extensions().get::<Answered>().is_some();
    let mut resp = if resp.status().is_success() && is_json(&resp) && !done {
        let caller = token.and_then(|t| caller_id(&state, &t));
        rewrite(resp, &undo, caller).await
    } else {
        resp
    };
    stamp(&mut resp, version);
    resp
}

/// Marks an answer its handler already wrote in the version asked (a public
/// list keeps each version's JSON with its snapshot), so it is not rewritten.
#[derive(Debug, Clone, Copy)]
pub struct Answered;

/// The current-version JSON `json` of `method path` as `version` answers it;
/// None when no change touches that route (the JSON is the same).
pub fn json_in(version: Version, method: &Method, path: &str, json: &[u8]) -> Option<Vec<u8>> {
    let undo = changes_to_undo(version, method, path);
    if undo.is_empty() {
        return None;
    }
    let mut value = serde_json::from_slice::<Value>(json).ok()?;
    undo_changes(&mut value, &undo, None);
    serde_json::to_vec(&value).ok()
}

fn undo_changes(
    value: &mut Value,
    undo: &[(&'static Change, &'static At)],
    caller: Option<String>,
) {
    for (change, at) in undo {
        let ctx = Context {
            caller: caller.clone(),
            route: at.path,
        };
        for path in at.paths {
            visit(value, path, &mut |v| (change.undo)(v, &ctx));
        }
    }
}

/// The changes newer than `version` that touch this route, newest first,
/// each with the places in the answer it applies to.
fn changes_to_undo(
    version: Version,
    method: &Method,
    path: &str,
) -> Vec<(&'static Change, &'static At)> {
    touching(
        VERSIONS[version.0 + 1..].iter().rev(),
        |d| d.changes,
        |c| c.applies_to,
        method,
        path,
    )
}

/// The request changes newer than `version` that touch this route, oldest
/// first (a request is brought forward one version at a time).
fn request_changes_to_redo(
    version: Version,
    method: &Method,
    path: &str,
) -> Vec<(&'static RequestChange, &'static At)> {
    touching(
        VERSIONS[version.0 + 1..].iter(),
        |d| d.request_changes,
        |c| c.applies_to,
        method,
        path,
    )
}

/// The changes (answer or request ones, by `list`) of `defs`, in that order,
/// with each place where one applies to `method path`.
fn touching<C: 'static>(
    defs: impl Iterator<Item = &'static VersionDef>,
    list: fn(&'static VersionDef) -> &'static [C],
    applies_to: fn(&'static C) -> &'static [At],
    method: &Method,
    path: &str,
) -> Vec<(&'static C, &'static At)> {
    let mut out = Vec::new();
    for def in defs {
        for change in list(def) {
            for at in applies_to(change) {
                if at.method == method.as_str() && path_matches(at.path, path) {
                    out.push((change, at));
                }
            }
        }
    }
    out
}

/// A JSON object's members in order, each as its JSON text, duplicates
/// kept: the body a handler gets differs only in the members rewritten.
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Applies request changes to the body (already read in full by
/// `middleware::read_body`, outside this one). A body that is not a JSON
/// object, or has nothing to change, goes on byte for byte.
async fn redo_request(
    req: Request,
    redo: &[(&'static RequestChange, &'static At)],
) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::app::MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::bad_request("bad_request", "the request body could not be read")
                .into_response()
        })?;
    let Ok(Members(mut members)) = serde_json::from_slice::<Members>(&bytes) else {
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    };
    let mut changed = false;
    for (change, at) in redo {
        for (name, value) in members.iter_mut() {
            let text = value.get();
            if !at.paths.contains(&name.as_str()) || !text.starts_with(|c: char| c.is_ascii_digit())
            {
                continue;
            }
            if let Some(new) =
                (change.redo)(text).and_then(|t| serde_json::value::RawValue::from_string(t).ok())
            {
                *value = new;
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    }
    let mut out = String::with_capacity(bytes.len());
    out.push('{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    Ok(Request::from_parts(parts, Body::from(out)))
}

fn path_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.trim_end_matches('/').split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) => {
                let any = ts.starts_with('{') && ts.ends_with('}');
                if !(any && !ps.is_empty() || ts == ps) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn caller_id(state: &AppState, authorization: &HeaderValue) -> Option<String> {
    let token = authorization.to_str().ok()?.strip_prefix("Bearer ")?.trim();
    let auth = <RequestAuth as axum::extract::FromRef<AppState>>::from_ref(state);
    auth.verify(token).ok().map(|c| c.sub)
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"))
}

/// The answers of the routes older versions change are small (lists are
/// paged, 100 items at most); one larger than this would be a server bug and
/// is answered 503 rather than sent in the wrong version.
const MAX_REWRITE_BYTES: usize = 4 * 1024 * 1024;

async fn rewrite(
    resp: Response,
    undo: &[(&'static Change, &'static At)],
    caller: Option<String>,
) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_REWRITE_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::unavailable("the answer could not be read").into_response();
        }
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    undo_changes(&mut value, undo, caller);
    let out = match serde_json::to_vec(&value) {
        Ok(v) => v,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

/// Calls `f` on every object at `path` (see [`At`]).
fn visit(value: &mut Value, path: &str, f: &mut dyn FnMut(&mut Value)) {
    if path.is_empty() {
        f(value);
        return;
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let (name, each) = match head.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (head, false),
    };
    let Some(member) = value.get_mut(name) else {
        return;
    };
    if each {
        if let Some(items) = member.as_array_mut() {
            for item in items {
                visit(item, rest, f);
            }
        }
    } else if !member.is_null() {
        visit(member, rest, f);
    }
}

fn stamp(resp: &mut Response, version: Version) {
    resp.headers_mut()
        .insert(HEADER, HeaderValue::from_static(version.name()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_are_ordered_and_current_is_last() {
        assert_eq!(Version::current().name(), CURRENT);
        assert!(Version::parse("1.0") < Version::parse(CURRENT));
        assert_eq!(Version::parse("2025-01-01"), None);
        assert_eq!(Version::parse(" 1.0 "), Version::parse("1.0"));
    }

    #[test]
    fn templates_match_one_segment_per_placeholder() {
        assert!(path_matches("/api/tickets/{id}/qr", "/api/tickets/abc/qr"));
        assert!(!path_matches("/api/tickets/{id}/qr", "/api/tickets//qr"));
        assert!(!path_matches("/api/tickets/{id}/qr", "/api/tickets/a/b/qr"));
        assert!(path_matches("/api/health", "/api/health/"));
        assert!(!path_matches("/api/health", "/api/healthz"));
    }

    #[test]
    fn visit_reaches_nested_members_and_array_elements() {
        let mut v = json!({"a": {"b": [{"x": 1}, {"x": 2}]}, "c": null});
        visit(&mut v, "a.b[]", &mut |o| {
            o["seen"] = json!(true);
        });
        visit(&mut v, "c", &mut |o| *o = json!("never"));
        assert_eq!(
            v,
            json!({"a": {"b": [{"x": 1, "seen": true}, {"x": 2, "seen": true}]}, "c": null})
        );
    }

    #[test]
    fn only_newer_changes_are_undone() {
        let current = changes_to_undo(Version::current(), &Method::GET, "/api/health");
        assert!(current.is_empty());
        let old = changes_to_undo(
            Version::parse("1.0").unwrap_or(Version(0)),
            &Method::GET,
            "/api/health",
        );
        assert!(!old.is_empty());
    }

    #[test]
    fn every_change_is_named_once_and_touches_known_routes() {
        let mut names = std::collections::HashSet::new();
        for def in VERSIONS {
            let answers = def.changes.iter().map(|c| (c.name, c.applies_to));
            let requests = def.request_changes.iter().map(|c| (c.name, c.applies_to));
            for (name, applies_to) in answers.chain(requests) {
                assert!(names.insert(name), "{name} twice");
                assert!(!applies_to.is_empty(), "{name} applies nowhere");
                for at in applies_to {
                    assert!(at.path.starts_with("/api/"), "{}", at.path);
                }
            }
        }
    }

    #[test]
    fn request_changes_apply_to_older_versions_only() {
        let old = Version::parse("1.0").unwrap_or(Version(0));
        let checkout = |v| request_changes_to_redo(v, &Method::POST, "/api/shop/checkout");
        assert!(!checkout(old).is_empty());
        assert!(checkout(Version::current()).is_empty());
    }
}
