//! Card deposits through Stripe: what the provider says, in the orders and
//! combinations Stripe documents, decides what the fan is credited.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, balance, history, spawn_with, verify_ok};

both_engines!(
    stripe_deposit_is_pending_until_a_signed_webhook,
    stripe_outage_charges_nothing,
    a_declined_card_then_a_success_credits_once,
    events_out_of_order_and_twice_credit_once,
    a_canceled_intent_ends_the_payment_and_frees_the_allowance,
    events_that_cannot_be_applied_wait_for_an_admin,
    pending_deposits_expire_and_a_late_success_still_credits,
);

/// A pending card deposit of `amount`: (payment id, intent id).
async fn card_deposit(app: &TestApp, fan: &Fan, amount: &str) -> (String, String) {
    let r = app
        .post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": amount, "method": "card"}))
        .send()
        .await
        .expect(202);
    (
        r.body["payment"]["id"].as_str().unwrap().to_owned(),
        r.body["payment"]["paymentIntent"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// A Stripe event about a payment intent, as Stripe sends it.
fn intent_event(id: &str, kind: &str, intent: &str, payment: &str, cents: i64) -> Value {
    let mut object = json!({"id": intent, "object": "payment_intent", "amount": cents,
        "currency": "eur", "metadata": {"payment_id": payment}});
    match kind {
        "payment_intent.succeeded" => object["amount_received"] = json!(cents),
        "payment_intent.payment_failed" => {
            object["last_payment_error"] = json!({"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card was declined."})
        }
        _ => {}
    }
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}})
}

async fn deliver(app: &TestApp, event: &Value) -> Value {
    let (body, sig) = signed(event, "whsec_test");
    app.post("/api/payments/webhooks/stripe")
        .header("stripe-signature", &sig)
        .raw("application/json", body)
        .send()
        .await
        .expect(200)
        .body
}

async fn payment(app: &TestApp, fan: &Fan, id: &str) -> Value {
    app.get(&format!("/api/wallet/payments/{id}"))
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["payment"]
        .clone()
}

/// A stand-in for Stripe's PaymentIntents API on a local port.
struct FakeStripe {
    base: String,
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    cancels: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn fake_stripe() -> FakeStripe {
    let calls = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (c, f) = (calls.clone(), failing.clone());
    let cancels: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let cancelled = cancels.clone();
    let app = axum::Router::new()
        .route(
            "/v1/payment_intents/{id}/cancel",
            post(move |axum::extract::Path(id): axum::extract::Path<String>| {
                let cancelled = cancelled.clone();
                async move {
                    cancelled.lock().unwrap().push(id.clone());
                    json!({"id": id, "status": "canceled"}).to_string()
                }
            }),
        )
        .route(
        "/v1/payment_intents",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let (c, f) = (c.clone(), f.clone());
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst);
                assert_eq!(headers["authorization"], "Bearer sk_test_fake");
                assert!(body.contains("metadata%5Bpayment_id%5D="), "{body}");
                if f.load(Ordering::SeqCst) {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned());
                }
                (
                    axum::http::StatusCode::OK,
                    json!({"id": format!("pi_fake_{n}"), "client_secret": format!("pi_fake_{n}_secret_x"), "status": "requires_payment_method"}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeStripe {
        base: format!("http://{addr}"),
        calls,
        failing,
        cancels,
    }
}

async fn stripe_app(engine: Engine, stripe: &FakeStripe) -> TestApp {
    let base = stripe.base.clone();
    spawn_with(engine, move |v| {
        v.insert("PAYMENT_PROVIDERS".into(), "stripe,sandbox".into());
        v.insert("STRIPE_SECRET_KEY".into(), "sk_test_fake".into());
        v.insert("STRIPE_WEBHOOK_SECRET".into(), "whsec_test".into());
        v.insert("STRIPE_API_BASE".into(), base);
    })
    .await
}

fn signed(event: &Value, secret: &str) -> (String, String) {
    let body = event.to_string();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = paiecashfan::wallet::provider::stripe_signature_header(body.as_bytes(), secret, t);
    (body, header)
}

async fn stripe_deposit_is_pending_until_a_signed_webhook(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let fan = app.fan("Card Payer", "PSG").await;
    let r = app
        .post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "25.00", "method": "card"}))
        .send()
        .await
        .expect(202);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["payment"]["provider"], "stripe");
    let intent = r.body["payment"]["paymentIntent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment_id = r.body["payment"]["id"].as_str().unwrap().to_owned();
    assert!(r.body["payment"]["paymentIntent"]["clientSecret"].is_string());
    assert_eq!(stripe.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        balance(&app, &fan).await,
        "0.00",
        "nothing until Stripe confirms"
    );

    let event = |id: &str, kind: &str, amount: i64| {
        json!({"id": id, "type": kind, "data": {"object": {
            "id": intent, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": "eur", "metadata": {"payment_id": payment_id}}}})
    };
    let webhook = |body: String, sig: String| {
        app.post("/api/payments/webhooks/stripe")
            .header("stripe-signature", &sig)
            .raw("application/json", body)
    };
    // Bad signatures change nothing.
    let (body, _) = signed(
        &event("evt_1", "payment_intent.succeeded", 2500),
        "whsec_test",
    );
    let (_, wrong) = signed(
        &event("evt_1", "payment_intent.succeeded", 2500),
        "whsec_wrong",
    );
    webhook(body.clone(), wrong)
        .send()
        .await
        .expect_problem(400, "invalid_signature");
    webhook(body.clone(), "t=1,v1=00".into())
        .send()
        .await
        .expect_problem(400, "invalid_signature");
    let old = paiecashfan::wallet::provider::stripe_signature_header(
        body.as_bytes(),
        "whsec_test",
        1_000_000,
    );
    webhook(body.clone(), old)
        .send()
        .await
        .expect_problem(400, "invalid_signature");
    assert_eq!(balance(&app, &fan).await, "0.00");

    // A signed event with another amount credits nothing: it is answered
    // (Stripe must not hammer us) and kept for an admin.
    let (b, s) = signed(
        &event("evt_bad", "payment_intent.succeeded", 99_999),
        "whsec_test",
    );
    let r = webhook(b, s).send().await.expect(200);
    assert_eq!(r.body["deadLettered"], true);
    assert_eq!(balance(&app, &fan).await, "0.00");

    let (b, s) = signed(
        &event("evt_1", "payment_intent.succeeded", 2500),
        "whsec_test",
    );
    let ok = webhook(b.clone(), s.clone()).send().await.expect(200);
    assert_eq!(ok.body["duplicate"], false);
    assert_eq!(balance(&app, &fan).await, "25.00");
    // The same event again, and another event for the same intent: credited once.
    let dup = webhook(b, s).send().await.expect(200);
    assert_eq!(dup.body["duplicate"], true);
    let (b, s) = signed(
        &event("evt_2", "payment_intent.succeeded", 2500),
        "whsec_test",
    );
    webhook(b, s).send().await.expect(200);
    assert_eq!(balance(&app, &fan).await, "25.00");
    let h = history(&app, &fan).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["reference"]["id"], payment_id.as_str());
    assert_eq!(h[0]["counterparty"]["type"], "provider");
    let n = app
        .get("/api/notifications")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["notifications"][0]["kind"], "wallet.deposit");
    verify_ok(&app).await;
}

async fn stripe_outage_charges_nothing(engine: Engine) {
    let stripe = fake_stripe().await;
    stripe.failing.store(true, Ordering::SeqCst);
    let base = stripe.base.clone();
    let app = spawn_with(engine, move |v| {
        v.insert("PAYMENT_PROVIDERS".into(), "stripe".into());
        v.insert("STRIPE_SECRET_KEY".into(), "sk_test_fake".into());
        v.insert("STRIPE_WEBHOOK_SECRET".into(), "whsec_test".into());
        v.insert("STRIPE_API_BASE".into(), base);
        v.insert("DEPOSIT_LIMITS".into(), "EUR:100:100".into());
    })
    .await;
    let fan = app.fan("Unlucky", "PSG").await;
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "100.00", "method": "card"}))
        .send()
        .await
        .expect_problem(502, "payment_provider_unavailable");
    assert_eq!(balance(&app, &fan).await, "0.00");
    // The failed attempt did not use up the daily allowance.
    stripe.failing.store(false, Ordering::SeqCst);
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "100.00", "method": "card"}))
        .send()
        .await
        .expect(202);
    // The sandbox is off here.
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "1.00", "method": "sandbox"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_declined_card_then_a_success_credits_once(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let fan = app.fan("Second Card", "PSG").await;
    let (pid, pi) = card_deposit(&app, &fan, "40.00").await;
    // The first card is declined: an attempt, not the end of the payment.
    deliver(
        &app,
        &intent_event("evt_f1", "payment_intent.payment_failed", &pi, &pid, 4000),
    )
    .await;
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(p["failureReason"], "card_declined");
    assert_eq!(balance(&app, &fan).await, "0.00");
    // The fan retries with another card on the same intent; it goes through.
    let r = deliver(
        &app,
        &intent_event("evt_s1", "payment_intent.succeeded", &pi, &pid, 4000),
    )
    .await;
    assert_eq!(r["deadLettered"], false);
    assert_eq!(balance(&app, &fan).await, "40.00");
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    // A late copy of the failure changes nothing.
    deliver(
        &app,
        &intent_event("evt_f2", "payment_intent.payment_failed", &pi, &pid, 4000),
    )
    .await;
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "40.00");
    assert_eq!(history(&app, &fan).await.len(), 1);
    verify_ok(&app).await;
}

async fn events_out_of_order_and_twice_credit_once(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let fan = app.fan("Out Of Order", "OL").await;
    let (pid, pi) = card_deposit(&app, &fan, "15.00").await;
    // `succeeded` overtakes `processing`; both deliveries of `succeeded`
    // (one retried by Stripe with the same id, one a second event) count once.
    let ok = intent_event("evt_ok", "payment_intent.succeeded", &pi, &pid, 1500);
    deliver(&app, &ok).await;
    assert_eq!(deliver(&app, &ok).await["duplicate"], true);
    deliver(
        &app,
        &intent_event("evt_ok2", "payment_intent.succeeded", &pi, &pid, 1500),
    )
    .await;
    deliver(
        &app,
        &intent_event("evt_proc", "payment_intent.processing", &pi, &pid, 1500),
    )
    .await;
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "15.00");
    assert_eq!(history(&app, &fan).await.len(), 1);
    // A `canceled` that arrives after the success does not undo it.
    deliver(
        &app,
        &intent_event("evt_cx", "payment_intent.canceled", &pi, &pid, 1500),
    )
    .await;
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "15.00");
    verify_ok(&app).await;
}

async fn a_canceled_intent_ends_the_payment_and_frees_the_allowance(engine: Engine) {
    let stripe = fake_stripe().await;
    let base = stripe.base.clone();
    let app = spawn_with(engine, move |v| {
        v.insert("PAYMENT_PROVIDERS".into(), "stripe".into());
        v.insert("STRIPE_SECRET_KEY".into(), "sk_test_fake".into());
        v.insert("STRIPE_WEBHOOK_SECRET".into(), "whsec_test".into());
        v.insert("STRIPE_API_BASE".into(), base);
        v.insert("DEPOSIT_LIMITS".into(), "EUR:100:100".into());
    })
    .await;
    let fan = app.fan("Changed Mind", "PSG").await;
    let (pid, pi) = card_deposit(&app, &fan, "100.00").await;
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "1.00", "method": "card"}))
        .send()
        .await
        .expect_problem(409, "daily_limit_exceeded");
    deliver(
        &app,
        &intent_event("evt_c", "payment_intent.canceled", &pi, &pid, 10000),
    )
    .await;
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "failed");
    assert_eq!(p["failureReason"], "canceled");
    assert!(p["paymentIntent"]["clientSecret"].is_null(), "{p}");
    // The allowance is back.
    card_deposit(&app, &fan, "100.00").await;
    assert_eq!(balance(&app, &fan).await, "0.00");
    // Another fan cannot see the payment.
    let other = app.fan("Nosy", "PSG").await;
    app.get(&format!("/api/wallet/payments/{pid}"))
        .token(&other.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn events_that_cannot_be_applied_wait_for_an_admin(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let fan = app.fan("Lost Event", "OM").await;
    let admin = app.staff(None).await;
    // A success for a payment this server does not know (yet): kept.
    let (pid, pi) = card_deposit(&app, &fan, "12.00").await;
    let stray = intent_event(
        "evt_stray",
        "payment_intent.succeeded",
        "pi_unknown",
        "not-ours",
        1200,
    );
    let r = deliver(&app, &stray).await;
    assert_eq!(r["deadLettered"], true);
    let wrong = intent_event("evt_wrong", "payment_intent.succeeded", &pi, &pid, 99);
    assert_eq!(deliver(&app, &wrong).await["deadLettered"], true);
    assert_eq!(balance(&app, &fan).await, "0.00");

    app.get("/api/admin/payments/dead-letters")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let list = app
        .get("/api/admin/payments/dead-letters")
        .token(&admin.token)
        .send()
        .await
        .expect(200);
    let letters = list.body["deadLetters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"unknown_payment") && reasons.contains(&"amount_mismatch"));
    // Replaying one that still cannot apply says why and changes nothing.
    let mismatch = letters
        .iter()
        .find(|l| l["reason"] == "amount_mismatch")
        .unwrap();
    app.post(&format!(
        "/api/admin/payments/dead-letters/{}/replay",
        mismatch["id"].as_str().unwrap()
    ))
    .token(&admin.token)
    .send()
    .await
    .expect_problem(409, "event_not_applicable");
    assert_eq!(balance(&app, &fan).await, "0.00");
    // The right success still credits, once.
    deliver(
        &app,
        &intent_event("evt_right", "payment_intent.succeeded", &pi, &pid, 1200),
    )
    .await;
    assert_eq!(balance(&app, &fan).await, "12.00");
    app.post("/api/admin/payments/dead-letters/not-a-letter/replay")
        .token(&admin.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    verify_ok(&app).await;
}

async fn pending_deposits_expire_and_a_late_success_still_credits(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let fan = app.fan("Slow Bank", "PSG").await;
    let (pid, pi) = card_deposit(&app, &fan, "30.00").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let n = app
        .state
        .wallet
        .expire_pending(Duration::from_millis(10))
        .await
        .expect("expiry");
    assert_eq!(n, 1);
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "failed");
    assert_eq!(p["failureReason"], "expired");
    assert_eq!(
        *stripe.cancels.lock().unwrap(),
        vec![pi.clone()],
        "the intent is canceled at Stripe"
    );
    // The bank was slow, not absent: the money came after all. The fan was
    // charged, so the fan is credited.
    deliver(
        &app,
        &intent_event("evt_late", "payment_intent.succeeded", &pi, &pid, 3000),
    )
    .await;
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "30.00");
    deliver(
        &app,
        &intent_event("evt_late2", "payment_intent.succeeded", &pi, &pid, 3000),
    )
    .await;
    assert_eq!(balance(&app, &fan).await, "30.00");
    verify_ok(&app).await;
}
