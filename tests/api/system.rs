use serde_json::json;

use crate::both_engines;
use crate::helpers::{Engine, spawn_app, spawn_with};

both_engines!(
    health_names_the_version_and_the_database,
    readiness_checks_the_database,
    stats_count_new_fans,
    readiness_names_redis_when_it_is_down,
    readiness_names_the_database_when_it_is_down,
    metrics_count_requests_by_route_template,
    a_request_id_is_made_up_or_kept_from_the_client,
    every_response_has_a_request_id_and_security_headers,
    cors_answers_a_configured_origin,
    cors_ignores_other_origins,
    cors_in_development_lets_any_local_front_end_in,
    cors_in_production_allows_exactly_the_configured_origins,
    the_openapi_document_lists_the_routes,
    error_statuses_are_documented_with_the_problem_schema,
    the_docs_are_served_from_the_binary,
    the_demo_page_is_served_from_the_binary,
);

async fn health_names_the_version_and_the_database(engine: Engine) {
    let app = spawn_app(engine.clone()).await;
    let h = app.get("/api/health").send().await.expect(200);
    assert_eq!(h.body["status"], "ok");
    assert_eq!(h.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(h.body["uptime"].as_f64().unwrap() >= 0.0);
    assert!(h.body["timestamp"].as_str().unwrap().ends_with('Z'));
    let expected_db = match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres(_) => "postgres",
    };
    assert_eq!(h.body["database"], expected_db);
}

async fn readiness_checks_the_database(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/health/ready").send().await.expect(200);
    assert_eq!(r.body["checks"]["database"], "ok");
    assert_eq!(r.body["checks"]["redis"], "disabled");
}

async fn stats_count_new_fans(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = app.get("/api/stats").send().await.expect(200);
    let users = s.body["users"].as_i64().unwrap();
    app.fan("Counted", "PSG").await;
    app.fan("Counted Too", "OM").await;
    let s = app.get("/api/stats").send().await.expect(200);
    assert_eq!(s.body["users"].as_i64().unwrap(), users + 2);
    assert!(s.body["clubs"].as_i64().unwrap() >= 7);
}

async fn readiness_names_redis_when_it_is_down(engine: Engine) {
    // Nothing listens on port 1: Redis is configured but down.
    let app = spawn_with(engine, |v| {
        v.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
    })
    .await;
    let r = app
        .get("/api/health/ready")
        .send()
        .await
        .expect_problem(503, "unavailable");
    assert_eq!(r.body["checks"]["redis"], "down");
    assert_eq!(r.body["checks"]["database"], "ok");
    // Liveness does not depend on Redis, and logins still work (limits fail open).
    app.get("/api/health").send().await.expect(200);
    app.post("/api/auth/login")
        .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
        .send()
        .await
        .expect(200);
}

async fn readiness_names_the_database_when_it_is_down(engine: Engine) {
    let app = spawn_app(engine).await;
    app.state.db.close().await;
    let r = app
        .get("/api/health/ready")
        .send()
        .await
        .expect_problem(503, "unavailable");
    assert_eq!(r.body["checks"]["database"], "down");
}
async fn metrics_count_requests_by_route_template(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/clubs/PSG").send().await.expect(200);
    app.get("/api/clubs/NOPE").send().await.expect(404);
    let r = app.get("/metrics").send().await.expect(200);
    let text = r.text;
    // The template, never the concrete id.
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/clubs/{id}",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/api/clubs/{id}",status="404""#));
    assert!(!text.contains("/api/clubs/PSG"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"db_pool_connections{state="idle"}"#));
    // Every metric family says what it is.
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(families.len() >= 4, "{text}");
    for family in families {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no # HELP for {family}:\n{text}"
        );
    }
}

async fn a_request_id_is_made_up_or_kept_from_the_client(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/health").send().await.expect(200);
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let r = app
        .get("/api/health")
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["x-request-id"], "client-chosen-42");
}

async fn every_response_has_a_request_id_and_security_headers(engine: Engine) {
    let app = spawn_app(engine).await;
    // Errors too.
    let r = app.get("/nope").send().await.expect(404);
    assert!(r.headers.contains_key("x-request-id"));
    for h in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "strict-transport-security",
        "referrer-policy",
        "cross-origin-opener-policy",
    ] {
        assert!(r.headers.contains_key(h), "missing {h}");
    }
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
}

async fn cors_app(engine: Engine) -> crate::helpers::TestApp {
    spawn_with(engine, |v| {
        v.insert("CORS_ORIGINS".into(), "https://app.paiecashfan.com".into());
    })
    .await
}

async fn cors_answers_a_configured_origin(engine: Engine) {
    let app = cors_app(engine).await;
    let r = app
        .req(reqwest::Method::OPTIONS, "/api/wallet/balance")
        .header("origin", "https://app.paiecashfan.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await;
    assert!(r.status.is_success(), "{:?}", r.status);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.paiecashfan.com"
    );
}

async fn cors_ignores_other_origins(engine: Engine) {
    let app = cors_app(engine).await;
    let r = app
        .get("/api/health")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect(200);
    assert!(!r.headers.contains_key("access-control-allow-origin"));
}

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> crate::helpers::Resp {
    app.req(reqwest::Method::OPTIONS, "/api/wallet/send")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key,paiecashfan-version",
        )
        .send()
        .await
}

async fn cors_in_development_lets_any_local_front_end_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = preflight(&app, "http://localhost:5173").await.expect(204);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(!r.headers.contains_key("access-control-allow-credentials"));
    let allowed = r.headers["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_lowercase();
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "paiecashfan-version",
    ] {
        assert!(allowed.contains(h), "{h} not in {allowed}");
    }
    let methods = r.headers["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let r = app
        .get("/api/health")
        .header("origin", "http://192.168.1.20:8080")
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let exposed = r.headers["access-control-expose-headers"]
        .to_str()
        .unwrap_or_default();
    assert!(exposed.contains("paiecashfan-version"), "{exposed}");
}

async fn cors_in_production_allows_exactly_the_configured_origins(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("APP_ENV".into(), "production".into());
        v.insert("DEMO_DATA".into(), "false".into());
        v.insert("STRIPE_SECRET_KEY".into(), "sk_test_unused".into());
        v.insert("STRIPE_WEBHOOK_SECRET".into(), "whsec_unused".into());
        v.insert(
            "JWT_SECRET".into(),
            "a-production-secret-of-at-least-32-bytes".into(),
        );
        v.insert(
            "CORS_ORIGINS".into(),
            "https://app.paiecashfan.com,https://club.paiecashfan.com".into(),
        );
    })
    .await;
    for origin in [
        "https://app.paiecashfan.com",
        "https://club.paiecashfan.com",
    ] {
        let r = preflight(&app, origin).await.expect(204);
        assert_eq!(r.headers["access-control-allow-origin"], origin);
    }
    let r = preflight(&app, "http://localhost:5173").await;
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    let r = app
        .get("/api/health")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect(200);
    assert!(!r.headers.contains_key("access-control-allow-origin"));
}

async fn openapi(app: &crate::helpers::TestApp) -> serde_json::Value {
    app.get("/api/openapi.json").send().await.expect(200).body
}

async fn the_openapi_document_lists_the_routes(engine: Engine) {
    let app = spawn_app(engine).await;
    let doc = openapi(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/clubs",
        "/api/clubs/{id}",
        "/api/health",
        "/api/health/ready",
        "/api/stats",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
    assert!(
        doc["components"]["securitySchemes"]
            .get("bearerAuth")
            .is_some()
    );
}

async fn error_statuses_are_documented_with_the_problem_schema(engine: Engine) {
    let app = spawn_app(engine).await;
    let doc = openapi(&app).await;
    let login = &doc["paths"]["/api/auth/login"]["post"]["responses"];
    for status in ["200", "401", "422", "429", "400"] {
        assert!(login.get(status).is_some(), "login {status} undocumented");
    }
    assert!(
        doc["paths"]["/api/auth/me"]["get"]["responses"]
            .get("401")
            .is_some()
    );
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

async fn the_docs_are_served_from_the_binary(engine: Engine) {
    let app = spawn_app(engine).await;
    let docs = app.get("/docs/").send().await.expect(200);
    assert!(docs.text.contains("swagger"), "{}", docs.text);
    // The UI's assets come from the binary, not a CDN.
    assert!(
        !docs.text.contains("https://"),
        "docs page loads remote assets"
    );
    // No validator badge: an image from validator.swagger.io, which the CSP
    // refuses (img-src 'self').
    let init = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .expect(200);
    assert!(
        init.text.contains(r#""validatorUrl": "none""#)
            || init.text.contains(r#""validatorUrl":"none""#),
        "{}",
        init.text
    );
    assert!(
        init.text.contains("/api/openapi.json"),
        "the UI still loads the document: {}",
        init.text
    );
    // Scripts stay on the scheme the page came by: no
    // upgrade-insecure-requests, which blanks the page over plain HTTP.
    let csp = docs.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("upgrade-insecure-requests"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    app.get("/docs/swagger-ui.css").send().await.expect(200);
    app.get("/docs/swagger-ui-bundle.js")
        .send()
        .await
        .expect(200);
}

async fn the_demo_page_is_served_from_the_binary(engine: Engine) {
    let app = spawn_app(engine).await;
    // A person who opens the server's address lands on the demo page, not
    // on a 404 problem document.
    let r = app.get("/").send().await.expect(303);
    assert_eq!(r.headers["location"], "/demo");
    let page = app.get("/demo").send().await.expect(200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains(r#"src="/demo/app.js""#), "{}", page.text);
    assert!(!page.text.contains("https://"), "no CDN: {}", page.text);
    let app_js = app.get("/demo/app.js").send().await.expect(200);
    assert!(app_js.text.contains("from '/demo/client.js'"));
    // The page's client is the JavaScript client of clients/js, byte for byte.
    let client = app.get("/demo/client.js").send().await.expect(200);
    assert_eq!(
        client.text,
        include_str!("../../clients/js/src/index.js"),
        "/demo/client.js is clients/js/src/index.js"
    );
    assert!(
        client.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    app.get("/demo/style.css").send().await.expect(200);
    app.get("/favicon.ico").send().await.expect(200);
    // Revalidated, then unchanged: 304 with no body.
    let tag = client.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(client.headers["cache-control"], "no-cache");
    let again = app
        .get("/demo/client.js")
        .header("if-none-match", &tag)
        .send()
        .await
        .expect(304);
    assert!(again.text.is_empty());
    app.get("/demo/nope.js")
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get("/demo/../Cargo.toml").send().await.expect(404);
}
