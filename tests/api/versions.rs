//! Dated API versions: every answer names its version, unknown ones are
//! refused, the current version answers today's shapes, the default is
//! configurable; the signup bonus new accounts may get (v1.0 gave 100 EUR).

use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, spawn_app, spawn_with, verify_ok};

both_engines!(
    the_current_version_answers_todays_shapes,
    every_answer_names_its_version_and_unknown_ones_are_refused,
    the_default_version_is_configurable,
    the_signup_bonus_comes_from_the_promotions_account,
    a_replayed_answer_comes_in_the_version_asked,
);

const CURRENT: &str = paiecashfan::versions::CURRENT;

fn email() -> String {
    format!("v-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn the_current_version_answers_todays_shapes(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post("/api/auth/login")
        .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["paiecashfan-version"], CURRENT);
    assert!(r.body.get("message").is_none(), "{}", r.text);
    let token = r.body["token"].as_str().unwrap_or_default().to_owned();
    let get = |path: &'static str| {
        let app = &app;
        let token = token.clone();
        async move { app.get(path).token(&token).send().await.expect(200).body }
    };
    let b = get("/api/wallet/balance").await;
    assert_eq!(b["balance"], "500.00");
    assert!(b.get("assets").is_none());
    let t = get("/api/wallet/transactions").await;
    assert_eq!(t["transactions"][0]["amount"], "500.00");
    assert!(t["transactions"][0]["createdAt"].is_string());
    assert!(t["transactions"][0].get("timestamp").is_none());
    let plans = get("/api/esim/plans").await;
    assert!(plans["plans"][0]["countries"].is_array());
    assert!(plans["plans"][0]["price"].is_string());
    let products = get("/api/shop/products?club=AS_MONACO").await;
    let jersey = products["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "Maillot Domicile 2025/26"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(jersey["price"], "79.99");
    assert_eq!(jersey["compareAtPrice"], "99.99");
    assert!(jersey.get("oldPrice").is_none() && jersey.get("club").is_none());
    let events = get("/api/tickets/events?club=AS_MONACO").await;
    assert!(events["events"][0]["date"].is_string());
    assert!(events["events"][0]["priceFrom"].is_string());
    assert!(events["events"][0].get("title").is_none());
    let h = get("/api/health").await;
    assert_eq!(h["status"], "ok");
    assert!(h["timestamp"].is_string() && h.get("services").is_none());
    let s = get("/api/stats").await;
    assert!(s.get("esimActive").is_none() && s["activeEsims"].is_number());
    let i = get("/api/ai/insights").await;
    assert!(i["insights"]["predictedValue"].is_string());
}

async fn every_answer_names_its_version_and_unknown_ones_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let plain = reqwest::Client::new();
    let r = plain
        .get(format!("{}/api/no/such/route", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["paiecashfan-version"], "1.0");
    for named in [CURRENT, "1.0"] {
        let r = plain
            .get(format!("{}/api/clubs", app.base))
            .header("PaieCashFan-Version", named)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["paiecashfan-version"], named);
    }
    let r = app
        .get("/api/health")
        .header("PaieCashFan-Version", "2019-01-01")
        .send()
        .await
        .expect_problem(400, "unknown_api_version");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(CURRENT)
    );
    assert_eq!(r.body["knownVersions"], json!(["1.0", CURRENT]));
    // A refused version changes nothing: the transfer is not made.
    let a = app.fan("Sender", "PSG").await;
    let b = app.fan("Receiver", "PSG").await;
    crate::helpers::deposit(&app, &a, "10.00").await;
    app.post("/api/wallet/send")
        .token(&a.token)
        .header("PaieCashFan-Version", "v2")
        .json(&json!({"recipientId": b.id, "amount": "5.00"}))
        .send()
        .await
        .expect_problem(400, "unknown_api_version");
    assert_eq!(crate::helpers::balance(&app, &a).await, "10.00");
}

async fn the_default_version_is_configurable(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("API_DEFAULT_VERSION".into(), CURRENT.into());
    })
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["paiecashfan-version"], CURRENT);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let refused = paiecashfan::config::Config::from_map(
        &[
            ("JWT_SECRET", "a-test-secret-of-enough-bytes"),
            ("API_DEFAULT_VERSION", "2.0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    );
    assert!(refused.is_err());
}

async fn the_signup_bonus_comes_from_the_promotions_account(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("SIGNUP_BONUS".into(), "EUR:100".into());
    })
    .await;
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": email(), "password": "secret-123", "name": "Lucky", "clubId": "AS_MONACO"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["wallet"]["balance"], "100.00");
    assert_eq!(r.body["wallet"]["currency"], "EUR");
    let token = r.body["token"].as_str().unwrap_or_default();
    let h = app
        .get("/api/wallet/transactions")
        .token(token)
        .send()
        .await
        .expect(200);
    let t = &h.body["transactions"][0];
    assert_eq!(
        (&t["type"], &t["amount"]),
        (&json!("bonus"), &json!("100.00"))
    );
    assert_eq!(t["counterparty"]["type"], "platform");
    // The money has a source: the promotions account owes what it gave.
    let (promo,): (i64,) = sqlx::query_as(
        "SELECT balance FROM accounts WHERE kind = 'promotions' AND currency = 'EUR'",
    )
    .fetch_one(app.state.db.reader())
    .await
    .expect("promotions account");
    // Every fan got it, the demo fans seeded at start too.
    let (fans,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'fan'")
        .fetch_one(app.state.db.reader())
        .await
        .expect("fans");
    assert_eq!(promo, -10_000 * fans);
    verify_ok(&app).await;

    // Without SIGNUP_BONUS a new wallet starts empty.
    let plain = spawn_app(Engine::Sqlite).await;
    let r = plain
        .post("/api/auth/register")
        .json(&json!({"email": email(), "password": "secret-123", "name": "Plain", "clubId": "WYDAD_AC"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["wallet"]["balance"], "0.00");
    assert_eq!(r.body["wallet"]["currency"], "MAD");
}

async fn a_replayed_answer_comes_in_the_version_asked(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Retrier", "AS_MONACO").await;
    let deposit = |version: &'static str| {
        let app = &app;
        let token = fan.token.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{}/api/wallet/deposit", app.base))
                .bearer_auth(token)
                .header("Idempotency-Key", "retry-me")
                .header("PaieCashFan-Version", version)
                .json(&json!({"amount": 12.5, "method": "card"}))
                .send()
                .await
                .expect("request");
            let replayed = r.headers().contains_key("idempotent-replayed");
            (
                r.status().as_u16(),
                replayed,
                r.json::<Value>().await.expect("json"),
            )
        }
    };
    let (status, replayed, first) = deposit("1.0").await;
    assert_eq!((status, replayed), (201, false));
    assert_eq!(first["newBalance"], json!(12.5));
    // The same request again, in each version: one deposit, each answered
    // in the shape its client reads.
    let (status, replayed, again) = deposit("1.0").await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, first);
    let (status, replayed, now) = deposit(CURRENT).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(now["newBalance"], "12.50");
    assert!(now.get("message").is_none());
    assert_eq!(crate::helpers::balance(&app, &fan).await, "12.50");
    verify_ok(&app).await;
}
