use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, Resp, TestApp, balance, deposit, history, spawn_app, spawn_with, verify_ok,
};

both_engines!(
    // Plans.
    the_v1_demo_plans_are_listed,
    plans_are_listed_by_country,
    plans_are_listed_by_region,
    a_country_code_has_two_letters,
    a_plan_is_read_by_its_id_and_an_unknown_one_is_404,
    fans_cannot_add_plans,
    an_admin_adds_a_plan_once,
    a_plan_with_a_bad_price_is_refused,
    a_deactivated_plan_is_gone,
    // Buying.
    buying_an_esim_gives_a_valid_iccid_and_activation_code,
    the_esim_qr_code_reads_back_as_its_activation_code,
    the_latest_usable_esim_is_the_active_one,
    the_esim_purchase_is_in_the_wallet_history,
    a_fan_without_an_esim_has_no_active_one,
    an_unknown_plan_cannot_be_bought,
    no_money_no_profile,
    a_failing_supplier_refunds_the_fan,
    a_slow_supplier_refunds_the_fan,
    retried_purchase_provisions_once,
    // Usage.
    a_badly_signed_usage_report_changes_nothing,
    the_first_use_activates_the_esim_and_starts_its_validity,
    a_usage_report_delivered_twice_counts_once,
    usage_never_goes_backwards,
    eighty_percent_used_notifies_the_fan_once,
    all_data_used_depletes_the_esim_and_notifies_again,
    an_esim_first_used_past_its_validity_expires,
    a_report_for_an_unknown_esim_is_acknowledged,
    another_providers_webhook_is_404,
    a_top_up_adds_data_and_days_to_a_depleted_esim,
    a_top_up_must_be_for_the_same_region,
    an_expired_esim_cannot_be_topped_up,
    another_fans_esim_is_404,
    a_purchase_cut_off_by_the_request_timeout_is_still_refunded,
    a_purchase_left_by_a_dead_process_is_refunded_once,
);

const SECRET: &str = "esim-dev-webhook-secret";

async fn buy(app: &TestApp, fan: &Fan, plan: &str) -> Resp {
    app.post("/api/esim/activate")
        .token(&fan.token)
        .json(&json!({"planId": plan}))
        .send()
        .await
}

async fn traveller(app: &TestApp) -> Fan {
    let f = app.fan("Traveller", "PSG").await;
    deposit(app, &f, "200.00").await;
    f
}

async fn webhook(app: &TestApp, body: Value) -> Resp {
    let raw = body.to_string();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = paiecashfan::wallet::provider::stripe_signature_header(raw.as_bytes(), SECRET, t);
    app.post("/api/esim/webhooks/simulated")
        .header("x-esim-signature", &sig)
        .raw("application/json", raw)
        .send()
        .await
}

/// The fan's eSIMs.
async fn esims(app: &TestApp, fan: &Fan) -> Vec<Value> {
    app.get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["esims"]
        .as_array()
        .unwrap()
        .clone()
}

/// One eSIM, as its owner reads it.
async fn esim(app: &TestApp, fan: &Fan, id: &str) -> Value {
    app.get(&format!("/api/esim/{id}"))
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["esim"]
        .clone()
}

/// The kinds of the fan's wallet transactions.
async fn transaction_kinds(app: &TestApp, fan: &Fan) -> Vec<String> {
    history(app, fan)
        .await
        .iter()
        .map(|t| t["type"].as_str().unwrap().to_owned())
        .collect()
}

// Plans.

async fn plan_ids(app: &TestApp, query: &str) -> Vec<String> {
    app.get(&format!("/api/esim/plans{query}"))
        .send()
        .await
        .expect(200)
        .body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_v1_demo_plans_are_listed(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/esim/plans").send().await.expect(200);
    let plans = r.body["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 6, "v1.0's four plans and two more");
    let starter = plans.iter().find(|p| p["id"] == "europe-starter").unwrap();
    assert_eq!(starter["price"], "9.99");
    assert_eq!(starter["dataMb"], 30720);
    assert_eq!(starter["data"], "30 GB");
    assert_eq!(starter["validityDays"], 30);
    assert_eq!(starter["countries"].as_array().map(Vec::len), Some(20));
    assert!(
        plans
            .iter()
            .any(|p| p["unlimited"] == true && p["dataMb"].is_null())
    );
    assert!(plans.iter().any(|p| p["popular"] == true));
}

async fn plans_are_listed_by_country(engine: Engine) {
    let app = spawn_app(engine).await;
    let ids = plan_ids(&app, "?country=ma").await;
    assert!(
        ids.iter().any(|i| i == "africa-explorer")
            && ids.iter().any(|i| i == "global-fan")
            && !ids.iter().any(|i| i == "europe-starter")
    );
}

async fn plans_are_listed_by_region(engine: Engine) {
    let app = spawn_app(engine).await;
    assert_eq!(plan_ids(&app, "?region=europe").await.len(), 2);
}

async fn a_country_code_has_two_letters(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/esim/plans?country=FRA")
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_plan_is_read_by_its_id_and_an_unknown_one_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/esim/plans/global-fan")
        .send()
        .await
        .expect(200);
    app.get("/api/esim/plans/nope")
        .send()
        .await
        .expect_problem(404, "not_found");
}

/// A Qatar plan, as an admin would add it.
fn qatar_cup() -> Value {
    json!({"id": "qatar-cup", "name": "Qatar Cup", "region": "asia", "countries": ["QA"], "dataMb": 2048,
           "validityDays": 10, "price": "12.50", "features": ["5G"]})
}

async fn add_plan(app: &TestApp, who: &Fan, body: &Value) -> Resp {
    app.post("/api/admin/esim/plans")
        .token(&who.token)
        .json(body)
        .send()
        .await
}

async fn fans_cannot_add_plans(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Fan", "PSG").await;
    add_plan(&app, &fan, &qatar_cup())
        .await
        .expect_problem(403, "forbidden");
}

async fn an_admin_adds_a_plan_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let admin = app.staff(None).await;
    add_plan(&app, &admin, &qatar_cup()).await.expect(201);
    add_plan(&app, &admin, &qatar_cup())
        .await
        .expect_problem(409, "plan_exists");
}

async fn a_plan_with_a_bad_price_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let admin = app.staff(None).await;
    let mut bad = qatar_cup();
    bad["id"] = json!("x2");
    bad["price"] = json!("12.505");
    add_plan(&app, &admin, &bad)
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_deactivated_plan_is_gone(engine: Engine) {
    let app = spawn_app(engine).await;
    let admin = app.staff(None).await;
    add_plan(&app, &admin, &qatar_cup()).await.expect(201);
    app.patch("/api/admin/esim/plans/qatar-cup")
        .token(&admin.token)
        .json(&json!({"active": false}))
        .send()
        .await
        .expect(200);
    app.get("/api/esim/plans/qatar-cup")
        .send()
        .await
        .expect_problem(404, "not_found");
}

// Buying.

async fn buying_an_esim_gives_a_valid_iccid_and_activation_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    let r = buy(&app, &fan, "europe-starter").await.expect(201);
    assert_eq!(r.body["newBalance"], "190.01");
    let e = &r.body["esim"];
    assert_eq!(e["status"], "ready");
    let iccid = e["iccid"].as_str().unwrap();
    assert_eq!(iccid.len(), 19);
    assert!(iccid.starts_with("89"));
    assert!(paiecashfan::esim::provider::luhn_valid(iccid));
    let code = e["activationCode"].as_str().unwrap().to_owned();
    assert_eq!(
        code,
        format!(
            "LPA:1$smdp.paiecashfan.test${}",
            e["matchingId"].as_str().unwrap()
        )
    );
    assert_eq!(e["dataTotalMb"], 30720);
    assert_eq!(e["dataRemainingMb"], 30720);
    assert!(e["expiresAt"].is_null(), "the validity starts at first use");
}

async fn the_esim_qr_code_reads_back_as_its_activation_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    let e = buy(&app, &fan, "europe-starter").await.expect(201).body["esim"].clone();
    let id = e["id"].as_str().unwrap();
    let code = e["activationCode"].as_str().unwrap();
    let qr = app
        .get(&format!("/api/esim/{id}/qr"))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(qr.body["activationCode"], code);
    let png = app
        .client
        .get(format!("{}/api/esim/{id}/qr?format=png", app.base))
        .bearer_auth(&fan.token)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(
        crate::helpers::decode_png(&png.bytes().await.unwrap()),
        code,
        "a phone reads back the exact LPA string"
    );
    let svg = app
        .get(&format!("/api/esim/{id}/qr?format=svg"))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(svg.text.contains("<svg"));
}

async fn the_latest_usable_esim_is_the_active_one(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    // Several eSIMs per fan; v1.0's `active` is the latest usable one.
    buy(&app, &fan, "europe-starter").await.expect(201);
    let second = buy(&app, &fan, "africa-explorer").await.expect(201);
    let active = app
        .get("/api/esim/active")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(active.body["esim"]["id"], second.body["esim"]["id"]);
    assert_eq!(esims(&app, &fan).await.len(), 2);
}

async fn the_esim_purchase_is_in_the_wallet_history(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    buy(&app, &fan, "europe-starter").await.expect(201);
    let h = app
        .get("/api/wallet/transactions")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(
        h.body["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "esim" && t["amount"] == "9.99")
    );
    verify_ok(&app).await;
}

async fn a_fan_without_an_esim_has_no_active_one(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/esim/active")
        .send()
        .await
        .expect_problem(401, "unauthorized");
    let newbie = app.fan("Newbie", "PSG").await;
    app.get("/api/esim/active")
        .token(&newbie.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn an_unknown_plan_cannot_be_bought(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    buy(&app, &fan, "nope")
        .await
        .expect_problem(404, "not_found");
}

async fn no_money_no_profile(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Broke", "PSG").await;
    deposit(&app, &fan, "5.00").await;
    buy(&app, &fan, "europe-starter")
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &fan).await, "5.00");
    assert!(esims(&app, &fan).await.is_empty(), "nothing provisioned");
    verify_ok(&app).await;
}

/// A supplier that fails the way `failure` says: the fan gets every cent
/// back, and the eSIM is marked failed.
async fn supplier_failure_refunds_the_fan(engine: Engine, failure: &str) {
    let app = spawn_with(engine, |v| {
        v.insert("ESIM_SIMULATED_FAILURE".into(), failure.into());
        v.insert("ESIM_PROVIDER_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let fan = traveller(&app).await;
    let r = buy(&app, &fan, "europe-starter")
        .await
        .expect_problem(502, "esim_provisioning_failed");
    assert_eq!(r.body["newBalance"], "200.00", "{failure}");
    assert_eq!(balance(&app, &fan).await, "200.00");
    let id = r.body["esimId"].as_str().unwrap();
    let e = esim(&app, &fan, id).await;
    assert_eq!(e["status"], "failed");
    assert!(e["activationCode"].is_null());
    // The charge and its refund are both in the history.
    let kinds = transaction_kinds(&app, &fan).await;
    assert!(
        kinds.iter().any(|k| k == "esim") && kinds.iter().any(|k| k == "refund"),
        "{kinds:?}"
    );
    app.get(&format!("/api/esim/{id}/qr"))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(409, "esim_not_ready");
    verify_ok(&app).await;
}

async fn a_failing_supplier_refunds_the_fan(engine: Engine) {
    supplier_failure_refunds_the_fan(engine, "error").await
}

async fn a_slow_supplier_refunds_the_fan(engine: Engine) {
    supplier_failure_refunds_the_fan(engine, "timeout").await
}

async fn retried_purchase_provisions_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    let send = || {
        app.post("/api/esim/activate")
            .token(&fan.token)
            .header("idempotency-key", "esim-order-1")
            .json(&json!({"planId": "europe-starter"}))
            .send()
    };
    let (a, b) = futures::join!(send(), send());
    let c = send().await;
    let ids: std::collections::HashSet<String> = [&a, &b, &c]
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["esim"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(c.headers["idempotent-replayed"], "true");
    assert_eq!(balance(&app, &fan).await, "190.01");
    assert_eq!(esims(&app, &fan).await.len(), 1);
    verify_ok(&app).await;
}

// Usage.

/// A traveller's europe-starter eSIM (30 GB, 30 days from first use).
struct Bought {
    fan: Fan,
    id: String,
    iccid: String,
}

async fn bought(app: &TestApp) -> Bought {
    let fan = traveller(app).await;
    let e = buy(app, &fan, "europe-starter").await.expect(201).body["esim"].clone();
    Bought {
        fan,
        id: e["id"].as_str().unwrap().to_owned(),
        iccid: e["iccid"].as_str().unwrap().to_owned(),
    }
}

/// The supplier reports `used_mb` used so far, in event `event`.
async fn report(app: &TestApp, b: &Bought, event: &str, used_mb: i64) -> Resp {
    webhook(
        app,
        json!({"eventId": event, "iccid": b.iccid, "usedMb": used_mb}),
    )
    .await
    .expect(200)
}

/// The fan's notifications about their data use.
async fn usage_notes(app: &TestApp, fan: &Fan) -> Vec<Value> {
    let n = app
        .get("/api/notifications")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    n.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "esim.usage")
        .cloned()
        .collect()
}

async fn a_badly_signed_usage_report_changes_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    let body = json!({"eventId": "ev-1", "iccid": b.iccid, "usedMb": 1000});
    app.post("/api/esim/webhooks/simulated")
        .header("x-esim-signature", "t=1,v1=00")
        .raw("application/json", body.to_string())
        .send()
        .await
        .expect_problem(400, "invalid_signature");
    assert_eq!(esim(&app, &b.fan, &b.id).await["dataUsedMb"], 0);
}

async fn the_first_use_activates_the_esim_and_starts_its_validity(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    let r = report(&app, &b, "ev-1", 1000).await;
    assert_eq!(r.body["duplicate"], false);
    let now = esim(&app, &b.fan, &b.id).await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["dataUsedMb"], 1000);
    assert!(now["expiresAt"].is_string(), "first use started the 7 days");
}

async fn a_usage_report_delivered_twice_counts_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    report(&app, &b, "ev-1", 1000).await;
    assert_eq!(report(&app, &b, "ev-1", 1000).await.body["duplicate"], true);
}

async fn usage_never_goes_backwards(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    report(&app, &b, "ev-1", 1000).await;
    report(&app, &b, "ev-2", 500).await;
    assert_eq!(esim(&app, &b.fan, &b.id).await["dataUsedMb"], 1000);
}

/// 1000 MB used, then past 80% (24,600 MB), reported twice (24,700 MB).
async fn past_eighty_percent(app: &TestApp, b: &Bought) {
    report(app, b, "ev-1", 1000).await;
    report(app, b, "ev-3", 24_600).await;
    report(app, b, "ev-4", 24_700).await;
}

async fn eighty_percent_used_notifies_the_fan_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    past_eighty_percent(&app, &b).await;
    let usage = usage_notes(&app, &b.fan).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["data"]["percent"], 80);
}

async fn all_data_used_depletes_the_esim_and_notifies_again(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    past_eighty_percent(&app, &b).await;
    report(&app, &b, "ev-5", 30_720).await;
    let now = esim(&app, &b.fan, &b.id).await;
    assert_eq!(now["status"], "depleted");
    assert_eq!(now["dataRemainingMb"], 0);
    assert_eq!(usage_notes(&app, &b.fan).await.len(), 2);
    app.get("/api/esim/active")
        .token(&b.fan.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn an_esim_first_used_past_its_validity_expires(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    // First used 31 days ago on a 30-day plan.
    let thirty_one_days_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(31))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    webhook(
        &app,
        json!({"eventId": "ev-6", "iccid": b.iccid, "usedMb": 10, "firstUsedAt": thirty_one_days_ago}),
    )
    .await
    .expect(200);
    assert_eq!(esim(&app, &b.fan, &b.id).await["status"], "expired");
}

async fn a_report_for_an_unknown_esim_is_acknowledged(engine: Engine) {
    let app = spawn_app(engine).await;
    // Acknowledged; nothing else happens.
    webhook(
        &app,
        json!({"eventId": "ev-7", "iccid": "8933010000000000000", "usedMb": 1}),
    )
    .await
    .expect(200);
}

async fn another_providers_webhook_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    app.post("/api/esim/webhooks/other")
        .header("x-esim-signature", "t=1,v1=00")
        .raw("application/json", "{}")
        .send()
        .await
        .expect(404);
}

/// The traveller used all 30 GB, then tops up with the same plan.
async fn depleted_and_topped_up(app: &TestApp) -> (Bought, Resp) {
    let b = bought(app).await;
    report(app, &b, "t-1", 30_720).await;
    let r = topup(app, &b, "europe-starter").await.expect(200);
    (b, r)
}

async fn topup(app: &TestApp, b: &Bought, plan: &str) -> Resp {
    app.post(&format!("/api/esim/{}/topup", b.id))
        .token(&b.fan.token)
        .json(&json!({"planId": plan}))
        .send()
        .await
}

async fn a_top_up_adds_data_and_days_to_a_depleted_esim(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, r) = depleted_and_topped_up(&app).await;
    assert_eq!(r.body["newBalance"], "180.02");
    assert_eq!(r.body["esim"]["dataTotalMb"], 61440);
    assert_eq!(r.body["esim"]["validityDays"], 60);
    assert_eq!(r.body["esim"]["status"], "active", "no longer depleted");
    verify_ok(&app).await;
}

async fn a_top_up_must_be_for_the_same_region(engine: Engine) {
    let app = spawn_app(engine).await;
    let (b, _) = depleted_and_topped_up(&app).await;
    topup(&app, &b, "africa-explorer")
        .await
        .expect_problem(422, "validation_failed");
    verify_ok(&app).await;
}

async fn an_expired_esim_cannot_be_topped_up(engine: Engine) {
    let app = spawn_app(engine).await;
    // Depleted, then expired by the supplier: expired, not "depleted".
    let b = bought(&app).await;
    report(&app, &b, "x-1", 30_720).await;
    webhook(
        &app,
        json!({"eventId": "x-2", "iccid": b.iccid, "status": "expired"}),
    )
    .await
    .expect(200);
    assert_eq!(esim(&app, &b.fan, &b.id).await["status"], "expired");
    let before = crate::helpers::balance(&app, &b.fan).await;
    topup(&app, &b, "europe-starter")
        .await
        .expect_problem(409, "not_topupable");
    // Past its end date with no word from the supplier yet: refused too,
    // by the statement that would charge for it.
    let c = bought(&app).await;
    report(&app, &c, "y-1", 10).await;
    crate::helpers::exec_sql(&app, "UPDATE esims SET expires_at = 1 WHERE id = $1", &c.id).await;
    let before_c = crate::helpers::balance(&app, &c.fan).await;
    topup(&app, &c, "europe-starter")
        .await
        .expect_problem(409, "not_topupable");
    assert_eq!(crate::helpers::balance(&app, &b.fan).await, before);
    assert_eq!(crate::helpers::balance(&app, &c.fan).await, before_c);
    verify_ok(&app).await;
}

async fn another_fans_esim_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let b = bought(&app).await;
    let thief = traveller(&app).await;
    let id = &b.id;
    for path in [
        format!("/api/esim/{id}"),
        format!("/api/esim/{id}/qr"),
        format!("/api/esim/{id}/qr?format=png"),
    ] {
        app.get(&path)
            .token(&thief.token)
            .send()
            .await
            .expect_problem(404, "not_found");
    }
    app.post(&format!("/api/esim/{id}/topup"))
        .token(&thief.token)
        .json(&json!({"planId": "europe-starter"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    assert!(esims(&app, &thief).await.is_empty());
    assert_eq!(balance(&app, &thief).await, "200.00");
}

/// Requests time out after 1 s while the supplier hangs for `supplier_secs`.
async fn hanging_supplier(engine: Engine, supplier_secs: &str) -> TestApp {
    spawn_with(engine, |v| {
        v.insert("REQUEST_TIMEOUT_SECS".into(), "1".into());
        v.insert("ESIM_SIMULATED_FAILURE".into(), "timeout".into());
        v.insert("ESIM_PROVIDER_TIMEOUT_SECS".into(), supplier_secs.into());
    })
    .await
}

async fn a_purchase_cut_off_by_the_request_timeout_is_still_refunded(engine: Engine) {
    // The request times out (1 s) while the supplier hangs; the purchase still
    // ends refunded when the supplier timeout (2 s) fires.
    let app = hanging_supplier(engine, "2").await;
    let fan = traveller(&app).await;
    buy(&app, &fan, "europe-starter")
        .await
        .expect_problem(503, "unavailable");
    let mut refunded = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if balance(&app, &fan).await == "200.00" {
            refunded = true;
            break;
        }
    }
    assert!(
        refunded,
        "the fan was not refunded after the request was cancelled"
    );
    assert_eq!(esims(&app, &fan).await[0]["status"], "failed");
    verify_ok(&app).await;
}

async fn a_purchase_left_by_a_dead_process_is_refunded_once(engine: Engine) {
    // A purchase whose process died mid-way (here: a supplier that never
    // answers) is refunded by the recovery sweep, exactly once.
    let app = hanging_supplier(engine, "3600").await;
    let fan = traveller(&app).await;
    buy(&app, &fan, "europe-starter")
        .await
        .expect_problem(503, "unavailable");
    assert_eq!(balance(&app, &fan).await, "190.01");
    assert_eq!(esims(&app, &fan).await[0]["status"], "provisioning");
    let sweep = || app.state.esims.refund_orphans(std::time::Duration::ZERO);
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(sweep().await.unwrap(), 0);
    assert_eq!(balance(&app, &fan).await, "200.00");
    assert_eq!(esims(&app, &fan).await[0]["status"], "failed");
    verify_ok(&app).await;
}
