use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, balance, deposit, spawn_app, spawn_with, verify_ok};

both_engines!(
    plans_are_listed_and_filtered,
    buying_an_esim_gives_an_installable_code,
    no_money_no_profile,
    a_failing_or_slow_supplier_refunds_the_fan,
    retried_purchase_provisions_once,
    usage_webhooks_notify_deplete_and_expire,
    top_up_adds_data_and_days,
    another_fans_esim_is_404,
    cancelled_or_stuck_purchases_are_refunded,
);

const SECRET: &str = "esim-dev-webhook-secret";

async fn buy(app: &TestApp, fan: &Fan, plan: &str) -> crate::helpers::Resp {
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

async fn webhook(app: &TestApp, body: Value) -> crate::helpers::Resp {
    let raw = body.to_string();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = paiecashfan::wallet::provider::stripe_signature_header(raw.as_bytes(), SECRET, t);
    app.post("/api/esim/webhooks/simulated")
        .header("x-esim-signature", &sig)
        .raw("application/json", raw)
        .send()
        .await
}

async fn plans_are_listed_and_filtered(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/esim/plans").send().await.expect(200);
    let plans = r.body["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 4, "v1.0's four plans");
    let starter = plans.iter().find(|p| p["id"] == "europe-starter").unwrap();
    assert_eq!(starter["price"], "9.99");
    assert_eq!(starter["dataMb"], 5120);
    assert_eq!(starter["data"], "5 GB");
    assert_eq!(starter["validityDays"], 7);
    assert!(
        plans
            .iter()
            .any(|p| p["unlimited"] == true && p["dataMb"].is_null())
    );
    assert!(plans.iter().any(|p| p["popular"] == true));
    let ma = app
        .get("/api/esim/plans?country=ma")
        .send()
        .await
        .expect(200);
    let ids: Vec<&str> = ma.body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"africa-explorer")
            && ids.contains(&"global-fan")
            && !ids.contains(&"europe-starter")
    );
    let eu = app
        .get("/api/esim/plans?region=europe")
        .send()
        .await
        .expect(200);
    assert_eq!(eu.body["plans"].as_array().unwrap().len(), 2);
    app.get("/api/esim/plans?country=FRA")
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.get("/api/esim/plans/global-fan")
        .send()
        .await
        .expect(200);
    app.get("/api/esim/plans/nope")
        .send()
        .await
        .expect_problem(404, "not_found");
    // Admins add plans; fans cannot.
    let fan = app.fan("Fan", "PSG").await;
    let admin = app.staff(None).await;
    let body = json!({"id": "qatar-cup", "name": "Qatar Cup", "region": "asia", "countries": ["QA"], "dataMb": 2048,
                      "validityDays": 10, "price": "12.50", "features": ["5G"]});
    app.post("/api/admin/esim/plans")
        .token(&fan.token)
        .json(&body)
        .send()
        .await
        .expect_problem(403, "forbidden");
    app.post("/api/admin/esim/plans")
        .token(&admin.token)
        .json(&body)
        .send()
        .await
        .expect(201);
    app.post("/api/admin/esim/plans")
        .token(&admin.token)
        .json(&body)
        .send()
        .await
        .expect_problem(409, "plan_exists");
    let mut bad = body.clone();
    bad["id"] = json!("x2");
    bad["price"] = json!("12.505");
    app.post("/api/admin/esim/plans")
        .token(&admin.token)
        .json(&bad)
        .send()
        .await
        .expect_problem(422, "validation_failed");
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

async fn buying_an_esim_gives_an_installable_code(engine: Engine) {
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
    assert_eq!(e["dataTotalMb"], 5120);
    assert_eq!(e["dataRemainingMb"], 5120);
    assert!(e["expiresAt"].is_null(), "the validity starts at first use");
    let id = e["id"].as_str().unwrap();

    let qr = app
        .get(&format!("/api/esim/{id}/qr"))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(qr.body["activationCode"], code.as_str());
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

    // Several eSIMs per fan; v1.0's `active` is the latest usable one.
    let second = buy(&app, &fan, "africa-explorer").await.expect(201);
    let active = app
        .get("/api/esim/active")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(active.body["esim"]["id"], second.body["esim"]["id"]);
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(all.body["esims"].as_array().unwrap().len(), 2);
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
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(
        all.body["esims"].as_array().unwrap().is_empty(),
        "nothing provisioned"
    );
    verify_ok(&app).await;
}

async fn a_failing_or_slow_supplier_refunds_the_fan(engine: Engine) {
    for failure in ["error", "timeout"] {
        let app = spawn_with(engine.clone(), |v| {
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
        let e = app
            .get(&format!("/api/esim/{id}"))
            .token(&fan.token)
            .send()
            .await
            .expect(200);
        assert_eq!(e.body["esim"]["status"], "failed");
        assert!(e.body["esim"]["activationCode"].is_null());
        // The charge and its refund are both in the history.
        let h = app
            .get("/api/wallet/transactions")
            .token(&fan.token)
            .send()
            .await
            .expect(200);
        let kinds: Vec<&str> = h.body["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"esim") && kinds.contains(&"refund"),
            "{kinds:?}"
        );
        app.get(&format!("/api/esim/{id}/qr"))
            .token(&fan.token)
            .send()
            .await
            .expect_problem(409, "esim_not_ready");
        verify_ok(&app).await;
    }
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
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(all.body["esims"].as_array().unwrap().len(), 1);
    verify_ok(&app).await;
}

async fn usage_webhooks_notify_deplete_and_expire(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    let e = buy(&app, &fan, "europe-starter").await.expect(201).body["esim"].clone();
    let (id, iccid) = (
        e["id"].as_str().unwrap().to_owned(),
        e["iccid"].as_str().unwrap().to_owned(),
    );
    let get = || async {
        app.get(&format!("/api/esim/{id}"))
            .token(&fan.token)
            .send()
            .await
            .expect(200)
            .body["esim"]
            .clone()
    };

    // Bad signatures change nothing.
    let body = json!({"eventId": "ev-1", "iccid": iccid, "usedMb": 1000});
    app.post("/api/esim/webhooks/simulated")
        .header("x-esim-signature", "t=1,v1=00")
        .raw("application/json", body.to_string())
        .send()
        .await
        .expect_problem(400, "invalid_signature");
    assert_eq!(get().await["dataUsedMb"], 0);

    let r = webhook(&app, body.clone()).await.expect(200);
    assert_eq!(r.body["duplicate"], false);
    let now = get().await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["dataUsedMb"], 1000);
    assert!(now["expiresAt"].is_string(), "first use started the 7 days");
    assert_eq!(
        webhook(&app, body).await.expect(200).body["duplicate"],
        true
    );
    // Usage never goes backwards.
    webhook(
        &app,
        json!({"eventId": "ev-2", "iccid": iccid, "usedMb": 500}),
    )
    .await
    .expect(200);
    assert_eq!(get().await["dataUsedMb"], 1000);
    // 80%: one notification, even if reported twice.
    webhook(
        &app,
        json!({"eventId": "ev-3", "iccid": iccid, "usedMb": 4200}),
    )
    .await
    .expect(200);
    webhook(
        &app,
        json!({"eventId": "ev-4", "iccid": iccid, "usedMb": 4300}),
    )
    .await
    .expect(200);
    let n = app
        .get("/api/notifications")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let usage: Vec<&Value> = n.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "esim.usage")
        .collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["data"]["percent"], 80);
    // 100%: depleted, second notification.
    webhook(
        &app,
        json!({"eventId": "ev-5", "iccid": iccid, "usedMb": 5120}),
    )
    .await
    .expect(200);
    let now = get().await;
    assert_eq!(now["status"], "depleted");
    assert_eq!(now["dataRemainingMb"], 0);
    let n = app
        .get("/api/notifications")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        n.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "esim.usage")
            .count(),
        2
    );
    app.get("/api/esim/active")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(404, "not_found");

    // Expiry: first used 8 days ago on a 7-day plan.
    let other = buy(&app, &fan, "europe-starter").await.expect(201).body["esim"].clone();
    let eight_days_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(8))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    webhook(&app, json!({"eventId": "ev-6", "iccid": other["iccid"], "usedMb": 10, "firstUsedAt": eight_days_ago}))
        .await
        .expect(200);
    let e = app
        .get(&format!("/api/esim/{}", other["id"].as_str().unwrap()))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(e.body["esim"]["status"], "expired");
    // Unknown profile: acknowledged, nothing else happens; wrong provider: 404.
    webhook(
        &app,
        json!({"eventId": "ev-7", "iccid": "8933010000000000000", "usedMb": 1}),
    )
    .await
    .expect(200);
    app.post("/api/esim/webhooks/other")
        .header("x-esim-signature", "t=1,v1=00")
        .raw("application/json", "{}")
        .send()
        .await
        .expect(404);
}

async fn top_up_adds_data_and_days(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = traveller(&app).await;
    let e = buy(&app, &fan, "europe-starter").await.expect(201).body["esim"].clone();
    let id = e["id"].as_str().unwrap();
    webhook(
        &app,
        json!({"eventId": "t-1", "iccid": e["iccid"], "usedMb": 5120}),
    )
    .await
    .expect(200);
    let r = app
        .post(&format!("/api/esim/{id}/topup"))
        .token(&fan.token)
        .json(&json!({"planId": "europe-starter"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["newBalance"], "180.02");
    assert_eq!(r.body["esim"]["dataTotalMb"], 10240);
    assert_eq!(r.body["esim"]["validityDays"], 14);
    assert_eq!(r.body["esim"]["status"], "active", "no longer depleted");
    // Another region's plan does not fit.
    app.post(&format!("/api/esim/{id}/topup"))
        .token(&fan.token)
        .json(&json!({"planId": "africa-explorer"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    verify_ok(&app).await;
}

async fn another_fans_esim_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let owner = traveller(&app).await;
    let thief = traveller(&app).await;
    let id = buy(&app, &owner, "europe-starter").await.expect(201).body["esim"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/esim/{id}"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("/api/esim/{id}/qr"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("/api/esim/{id}/qr?format=png"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/api/esim/{id}/topup"))
        .token(&thief.token)
        .json(&json!({"planId": "europe-starter"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    let mine = app
        .get("/api/esim")
        .token(&thief.token)
        .send()
        .await
        .expect(200);
    assert!(mine.body["esims"].as_array().unwrap().is_empty());
    assert_eq!(balance(&app, &thief).await, "200.00");
}

async fn cancelled_or_stuck_purchases_are_refunded(engine: Engine) {
    // The request times out (1 s) while the supplier hangs; the purchase still
    // ends refunded when the supplier timeout (2 s) fires.
    let app = spawn_with(engine.clone(), |v| {
        v.insert("REQUEST_TIMEOUT_SECS".into(), "1".into());
        v.insert("ESIM_SIMULATED_FAILURE".into(), "timeout".into());
        v.insert("ESIM_PROVIDER_TIMEOUT_SECS".into(), "2".into());
    })
    .await;
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
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(all.body["esims"][0]["status"], "failed");
    verify_ok(&app).await;

    // A purchase whose process died mid-way (here: a supplier that never
    // answers) is refunded by the recovery sweep, exactly once.
    let app = spawn_with(engine, |v| {
        v.insert("REQUEST_TIMEOUT_SECS".into(), "1".into());
        v.insert("ESIM_SIMULATED_FAILURE".into(), "timeout".into());
        v.insert("ESIM_PROVIDER_TIMEOUT_SECS".into(), "3600".into());
    })
    .await;
    let fan = traveller(&app).await;
    buy(&app, &fan, "europe-starter")
        .await
        .expect_problem(503, "unavailable");
    assert_eq!(balance(&app, &fan).await, "190.01");
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(all.body["esims"][0]["status"], "provisioning");
    let sweep = app.state.esims.refund_orphans(std::time::Duration::ZERO);
    assert_eq!(sweep.await.unwrap(), 1);
    assert_eq!(
        app.state
            .esims
            .refund_orphans(std::time::Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert_eq!(balance(&app, &fan).await, "200.00");
    let all = app
        .get("/api/esim")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(all.body["esims"][0]["status"], "failed");
    verify_ok(&app).await;
}
