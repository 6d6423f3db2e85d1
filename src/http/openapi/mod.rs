//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

mod rules;
pub use rules::{
    NON_BLANK_TEXT_PATTERN, TEXT_PATTERN, WEB_ADDRESS_PATTERN, deposit_methods, document,
};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "PaieCashFan API",
        description = "Backend of the PaieCashFan football fan app: wallet, tickets, shop, eSIMs, social and recommendations. \
Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`. \
This document describes the API version in `info.version`: name it in the `PaieCashFan-Version` header of every request \
(without it the server answers in its configured default version, `1.0` unless set, for v1.0 front ends).",
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "clubs", description = "Football clubs"),
        (name = "system", description = "Health and counts"),
        (name = "wallet", description = "Balances, history, transfers and deposits"),
        (name = "payments", description = "Payment provider webhooks"),
        (name = "notifications", description = "In-app notifications"),
        (name = "admin", description = "Operator tools"),
        (name = "tickets", description = "Matches, tickets, transfers and refunds"),
        (name = "shop", description = "Club shop: catalogue, cart, checkout, orders"),
        (name = "esim", description = "Travel eSIMs"),
        (name = "gate", description = "Stadium check-in, online and offline"),
        (name = "social", description = "Fan chat, feed, follows and moderation"),
        (name = "live", description = "The live WebSocket"),
        (name = "ai", description = "Recommendations, insights and predictions"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// Gives every operation the error answers every route can produce, so the
/// document lists each status a client may see: 401 on secured routes, 400,
/// 413, 415 and 422 where a body is read, 422 on query parameters, and a
/// problem+json `default` for the rest (404, 405, 429, 503).
pub fn finish(mut api: OpenApi) -> OpenApi {
    // The document's version is the API version it describes.
    api.info.version = crate::versions::CURRENT.to_owned();
    {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let components = api.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "ApiVersion".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([crate::versions::CURRENT]))
                .description(Some("The API version this document describes"))
                .into(),
        );
    }
    for (path, item) in api.paths.paths.iter_mut() {
        if let Some(op) = item.get.as_mut()
            && crate::http::cache::PUBLIC_LISTS.contains(&path.as_str())
        {
            describe_public_read(op);
        }
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_problem_responses(op);
            describe_responses(op);
            type_idempotency_key(op);
            name_the_version(op);
        }
    }
    api
}

/// OpenAPI requires a description on every response: the handlers' own, or
/// the status's name.
fn describe_responses(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        if let utoipa::openapi::RefOr::T(r) = response
            && r.description.is_empty()
        {
            r.description = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("answer")
                .to_owned();
        }
    }
}

/// Every operation takes `PaieCashFan-Version` (this document describes the
/// current one) and every answer names the version it used.
fn name_the_version(op: &mut Operation) {
    use utoipa::openapi::Required;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("PaieCashFan-Version")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "API version the client was written against; without it, the server's default (`1.0` unless configured)",
            ))
            .schema(Some(Ref::from_schema_name("ApiVersion")))
            .build()
            .into(),
    );
    for response in op.responses.responses.values_mut() {
        if let utoipa::openapi::RefOr::T(r) = response {
            r.headers.insert(
                "PaieCashFan-Version".into(),
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some("the API version of this answer"))
                    .build()
                    .into(),
            );
        }
    }
}

/// A public list answered from memory: its `ETag`, `If-None-Match` and 304.
fn describe_public_read(op: &mut Operation) {
    use utoipa::openapi::Required;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("If-None-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "ETags the client holds; 304 without a body when the answer's is among them",
            ))
            .schema(Some(string()))
            .build()
            .into(),
    );
    let caching = |r: ResponseBuilder| {
        r.header(
            "ETag",
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some("tag of this answer in this API version"))
                .build(),
        )
        .header(
            "Cache-Control",
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(
                    "`public, max-age=1`: a shared cache may keep it for a second",
                ))
                .build(),
        )
    };
    if let Some(utoipa::openapi::RefOr::T(ok)) = op.responses.responses.get_mut("200") {
        let mut with = caching(ResponseBuilder::new()).build();
        ok.headers.append(&mut with.headers);
    }
    op.responses.responses.insert(
        "304".into(),
        caching(
            ResponseBuilder::new()
                .description("Not Modified: the tag in `If-None-Match` is current"),
        )
        .build()
        .into(),
    );
}

/// The header is optional, and when sent it is 1 to 255 visible ASCII
/// characters (an `Option<String>` would document it as possibly null).
fn type_idempotency_key(op: &mut Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for p in op.parameters.iter_mut().flatten() {
        if let utoipa::openapi::RefOr::T(p) = p
            && p.name.eq_ignore_ascii_case("idempotency-key")
        {
            p.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$"))
                    .into(),
            );
            if p.description.is_none() {
                p.description = Some("retry-safe key, kept 24 h".into());
            }
        }
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn add_problem_responses(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter().any(|p| match p {
            utoipa::openapi::RefOr::T(p) => {
                matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
            }
            utoipa::openapi::RefOr::Ref(_) => false,
        })
    });
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if secured {
        wanted.push(("401", "missing, invalid or expired access token"));
    }
    if has_body {
        wanted.push(("400", "malformed JSON"));
        wanted.push(("413", "body over 64 KiB"));
        wanted.push(("415", "body is not JSON"));
        wanted.push(("422", "a field is missing or invalid (`errors` lists them)"));
    }
    if has_query {
        wanted.push(("422", "a query parameter is invalid"));
    }
    wanted.push(("default", "any other error, as problem details"));
    for (status, desc) in wanted {
        if !op.responses.responses.contains_key(status) {
            op.responses
                .responses
                .insert(status.to_owned(), problem(desc).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn schema(name: &str) -> Value {
        crate::app::openapi_document()["components"]["schemas"][name].clone()
    }

    /// The limits the document states across fields are the server's: the
    /// largest documented group is accepted, one more is refused, a direct
    /// conversation takes exactly one other fan.
    #[test]
    fn documented_conversation_sizes_are_the_servers() {
        use crate::http::validate::Validate;
        use crate::social::model::NewConversation;
        let rule = &schema("NewConversation")["allOf"][0]["oneOf"];
        let direct = &rule[0]["properties"]["participantIds"];
        let group = &rule[1]["properties"]["participantIds"];
        assert_eq!(
            (direct["minItems"].as_u64(), direct["maxItems"].as_u64()),
            (Some(1), Some(1))
        );
        let max = group["maxItems"].as_u64().unwrap() as usize;
        let conversation = |kind: &str, n: usize, name: Option<&str>| -> NewConversation {
            let ids: Vec<String> = (0..n).map(|i| format!("fan-{i}")).collect();
            serde_json::from_value(
                serde_json::json!({"type": kind, "participantIds": ids, "name": name}),
            )
            .unwrap()
        };
        assert!(
            conversation("group", max, Some("Ultras"))
                .validate()
                .is_ok()
        );
        assert!(
            conversation("group", max + 1, Some("Ultras"))
                .validate()
                .is_err()
        );
        assert!(
            conversation("group", 1, None).validate().is_err(),
            "a group needs a name"
        );
        assert!(conversation("direct", 1, None).validate().is_ok());
        assert!(conversation("direct", 2, None).validate().is_err());
        assert!(
            conversation("direct", 1, Some("x")).validate().is_err(),
            "no name"
        );
    }

    /// Every currency the document offers is one the server parses.
    #[test]
    fn documented_currencies_are_accepted() {
        for (name, property) in [
            ("NewPlan", "currency"),
            ("DepositRequest", "currency"),
            ("SendRequest", "currency"),
        ] {
            let values = schema(name)["properties"][property]["enum"].clone();
            let values = values.as_array().unwrap();
            assert_eq!(
                values.len(),
                crate::wallet::money::Currency::ALL.len() + 1,
                "{name}"
            );
            for v in values.iter().filter_map(Value::as_str) {
                assert!(
                    crate::wallet::money::Currency::parse(v).is_some(),
                    "{name}.{property}: {v}"
                );
            }
        }
    }

    /// A recipient (and a match's away side) is one of two fields: the
    /// server refuses a body with neither, as the document's `anyOf` says.
    #[test]
    fn documented_either_or_fields_are_required_by_the_server() {
        use crate::http::validate::Validate;
        for (name, a, b, rule) in [
            ("SendRequest", "recipientId", "recipientEmail", "oneOf"),
            ("TransferRequest", "recipientId", "recipientEmail", "oneOf"),
            ("NewEvent", "awayClub", "awayTeam", "anyOf"),
        ] {
            let any = &schema(name)["allOf"][0][rule];
            assert_eq!(any[0]["required"][0], a, "{name}");
            assert_eq!(any[1]["required"][0], b, "{name}");
        }
        let transfer = |v: serde_json::Value| {
            serde_json::from_value::<crate::tickets::model::TransferRequest>(v)
                .unwrap()
                .validate()
        };
        use serde_json::json;
        assert!(transfer(json!({})).is_err());
        assert!(transfer(json!({"recipientId": "u1"})).is_ok());
        assert!(transfer(json!({"recipientEmail": "a@b.c"})).is_ok());
        // oneOf: both is refused, as the server does.
        assert!(transfer(json!({"recipientId": "u1", "recipientEmail": "a@b.c"})).is_err());
        assert!(transfer(json!({"recipientId": null, "recipientEmail": "a@b.c"})).is_ok());
    }

    /// The regex of a pattern without its anchors, for proptest to generate from.
    fn body(pattern: &str) -> String {
        pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .to_owned()
    }

    proptest::proptest! {
        /// Whatever the document lets a client send as a post's picture,
        /// the server's check takes.
        #[test]
        fn every_documented_web_address_is_accepted(
            url in proptest::string::string_regex(&body(super::WEB_ADDRESS_PATTERN)).unwrap()
        ) {
            let u = reqwest::Url::parse(&url);
            proptest::prop_assert!(u.as_ref().is_ok_and(|u| u.host().is_some()), "{url}: {u:?}");
        }

        /// Text the document calls non-blank is never empty once trimmed.
        #[test]
        fn documented_non_blank_text_is_not_blank(
            text in proptest::string::string_regex(&body(super::NON_BLANK_TEXT_PATTERN)).unwrap()
        ) {
            let mut c = crate::http::validate::Checks::new();
            c.non_blank_text("message", &text, 4000);
            proptest::prop_assert!(text.chars().count() > 4000 || c.finish().is_ok(), "{text:?}");
        }
    }

    #[test]
    fn single_field_rules_are_in_the_document() {
        let doc = crate::app::openapi_document();
        let prop = |schema: &str, name: &str| {
            doc["components"]["schemas"][schema]["properties"][name].clone()
        };
        assert_eq!(
            prop("NewMessage", "message")["pattern"],
            super::NON_BLANK_TEXT_PATTERN
        );
        assert_eq!(prop("NewMessage", "message")["maxLength"], 4000);
        assert_eq!(prop("NewEvent", "kickoff")["format"], "date-time");
        assert!(prop("NewEvent", "kickoff").get("pattern").is_none());
        assert_eq!(
            prop("NewPlan", "countries")["items"]["pattern"],
            "^[A-Z]{2}$"
        );
        assert_eq!(
            prop("NewPost", "imageUrl")["pattern"],
            super::WEB_ADDRESS_PATTERN
        );
    }

    /// Components are named by type name alone: two types of one name would
    /// document one of their routes with the other's schema. Every schema
    /// type in the code has a name of its own (or `#[schema(as = ...)]`).
    #[test]
    fn schema_names_are_unique() {
        fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    rust_files(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        rust_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut seen = std::collections::HashMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let mut derives = false;
            let mut alias: Option<String> = None;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[derive(") && line.contains("ToSchema") {
                    derives = true;
                } else if let Some(rest) = line.strip_prefix("#[schema(as = ") {
                    alias = Some(rest.trim_end_matches(")]").to_owned());
                } else if derives
                    && let Some(rest) = line
                        .strip_prefix("pub struct ")
                        .or_else(|| line.strip_prefix("pub enum "))
                {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let name = alias.take().unwrap_or(name);
                    if let Some(other) = seen.insert(name.clone(), f.clone()) {
                        panic!("schema {name} in {} and {}", other.display(), f.display());
                    }
                    derives = false;
                } else if !line.starts_with("#[") && !line.starts_with("///") {
                    derives = false;
                    alias = None;
                }
            }
        }
        assert!(seen.len() > 50, "found {} schemas", seen.len());
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                out.push((format!("{method} {path}"), op));
            }
        }
        out
    }

    #[test]
    fn every_response_is_described_and_every_operation_id_is_unique() {
        let doc = serde_json::to_value(crate::app::openapi_document()).expect("document");
        let mut ids = std::collections::HashMap::new();
        for (name, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            if let Some(other) = ids.insert(id.clone(), name.clone()) {
                panic!("operationId {id} used by {other} and {name}");
            }
            for (status, r) in op["responses"].as_object().into_iter().flatten() {
                let d = r["description"].as_str().unwrap_or_default();
                assert!(!d.is_empty(), "{name} {status} has no description");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "Idempotency-Key" {
                    assert_eq!(p["schema"]["type"], "string", "{name}: {p}");
                }
            }
        }
    }

    #[test]
    fn a_qr_route_documents_json_and_both_images() {
        let doc = serde_json::to_value(crate::app::openapi_document()).expect("document");
        for path in ["/api/tickets/{id}/qr", "/api/esim/{id}/qr"] {
            let content = &doc["paths"][path]["get"]["responses"]["200"]["content"];
            for t in ["application/json", "image/svg+xml", "image/png"] {
                assert!(content.get(t).is_some(), "{path} lacks {t}: {content}");
            }
        }
    }
}
