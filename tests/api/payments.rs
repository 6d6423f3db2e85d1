//! Card deposits through Stripe: what the provider says, in the orders and
//! combinations Stripe documents, decides what the fan is credited.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, Resp, TestApp, balance, history, spawn_with, verify_ok};

both_engines!(
    // A card deposit and Stripe's word on it.
    a_card_deposit_waits_for_stripe,
    badly_signed_stripe_events_change_nothing,
    a_signed_event_for_another_amount_waits_for_an_admin,
    a_signed_success_credits_the_fan,
    a_success_delivered_twice_or_in_two_events_credits_once,
    the_fan_is_notified_of_the_card_deposit,
    // Stripe down.
    a_stripe_outage_charges_nothing,
    a_failed_attempt_does_not_use_up_the_daily_allowance,
    the_sandbox_is_off_when_only_stripe_is_configured,
    // Events in every order.
    a_declined_card_leaves_the_payment_pending,
    another_card_after_a_decline_credits_the_fan,
    a_late_copy_of_the_decline_changes_nothing,
    a_success_overtaking_processing_credits_once,
    a_cancel_after_the_success_does_not_undo_it,
    a_pending_card_deposit_holds_the_daily_allowance,
    a_canceled_intent_fails_the_payment,
    a_canceled_intent_frees_the_allowance,
    another_fan_cannot_see_a_payment,
    // Events kept for an admin.
    events_for_unknown_payments_or_wrong_amounts_are_kept,
    an_intent_cannot_settle_another_fans_payment,
    only_admins_list_the_kept_events,
    admins_see_why_each_event_was_kept,
    replaying_a_kept_event_that_still_cannot_apply_changes_nothing,
    the_right_success_still_credits_after_kept_events,
    replaying_an_unknown_kept_event_is_404,
    // Expiry.
    an_unpaid_card_deposit_expires_and_is_canceled_at_stripe,
    a_success_after_expiry_still_credits_once,
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

// A card deposit and Stripe's word on it.

/// A pending card deposit of 25.00: its answer, and the ids Stripe's events
/// about it carry.
struct Pending {
    fan: Fan,
    answer: Resp,
    intent: String,
    payment_id: String,
}

async fn pending_25(app: &TestApp) -> Pending {
    let fan = app.fan("Card Payer", "PSG").await;
    let answer = app
        .post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": "25.00", "method": "card"}))
        .send()
        .await
        .expect(202);
    let intent = answer.body["payment"]["paymentIntent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment_id = answer.body["payment"]["id"].as_str().unwrap().to_owned();
    Pending {
        fan,
        answer,
        intent,
        payment_id,
    }
}

/// Stripe's event `id` of `kind` about the pending deposit.
fn event(p: &Pending, id: &str, kind: &str, amount: i64) -> Value {
    json!({"id": id, "type": kind, "data": {"object": {
        "id": p.intent, "object": "payment_intent", "amount": amount, "amount_received": amount,
        "currency": "eur", "metadata": {"payment_id": p.payment_id}}}})
}

async fn post_webhook(app: &TestApp, body: String, sig: String) -> Resp {
    app.post("/api/payments/webhooks/stripe")
        .header("stripe-signature", &sig)
        .raw("application/json", body)
        .send()
        .await
}

/// The success of the whole 25.00, signed as Stripe signs it.
fn success_1(p: &Pending) -> (String, String) {
    signed(
        &event(p, "evt_1", "payment_intent.succeeded", 2500),
        "whsec_test",
    )
}

async fn a_card_deposit_waits_for_stripe(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    let r = &p.answer;
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["payment"]["provider"], "stripe");
    assert!(r.body["payment"]["paymentIntent"]["clientSecret"].is_string());
    assert_eq!(stripe.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        balance(&app, &p.fan).await,
        "0.00",
        "nothing until Stripe confirms"
    );
}

async fn badly_signed_stripe_events_change_nothing(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    let (body, _) = success_1(&p);
    let (_, wrong) = signed(
        &event(&p, "evt_1", "payment_intent.succeeded", 2500),
        "whsec_wrong",
    );
    let old = paiecashfan::wallet::provider::stripe_signature_header(
        body.as_bytes(),
        "whsec_test",
        1_000_000,
    );
    for sig in [wrong, "t=1,v1=00".into(), old] {
        post_webhook(&app, body.clone(), sig)
            .await
            .expect_problem(400, "invalid_signature");
    }
    assert_eq!(balance(&app, &p.fan).await, "0.00");
}

async fn a_signed_event_for_another_amount_waits_for_an_admin(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    // It credits nothing: it is answered (Stripe must not hammer us) and
    // kept for an admin.
    let (b, s) = signed(
        &event(&p, "evt_bad", "payment_intent.succeeded", 99_999),
        "whsec_test",
    );
    let r = post_webhook(&app, b, s).await.expect(200);
    assert_eq!(r.body["deadLettered"], true);
    assert_eq!(balance(&app, &p.fan).await, "0.00");
}

async fn a_signed_success_credits_the_fan(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    let (b, s) = success_1(&p);
    let ok = post_webhook(&app, b, s).await.expect(200);
    assert_eq!(ok.body["duplicate"], false);
    assert_eq!(balance(&app, &p.fan).await, "25.00");
}

async fn a_success_delivered_twice_or_in_two_events_credits_once(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    let (b, s) = success_1(&p);
    post_webhook(&app, b.clone(), s.clone()).await.expect(200);
    // The same event again, and another event for the same intent.
    let dup = post_webhook(&app, b, s).await.expect(200);
    assert_eq!(dup.body["duplicate"], true);
    let (b, s) = signed(
        &event(&p, "evt_2", "payment_intent.succeeded", 2500),
        "whsec_test",
    );
    post_webhook(&app, b, s).await.expect(200);
    assert_eq!(balance(&app, &p.fan).await, "25.00");
    let h = history(&app, &p.fan).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["reference"]["id"], p.payment_id.as_str());
    assert_eq!(h[0]["counterparty"]["type"], "provider");
}

async fn the_fan_is_notified_of_the_card_deposit(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let p = pending_25(&app).await;
    let (b, s) = success_1(&p);
    post_webhook(&app, b, s).await.expect(200);
    let n = app
        .get("/api/notifications")
        .token(&p.fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["notifications"][0]["kind"], "wallet.deposit");
    verify_ok(&app).await;
}

// Stripe down.

/// Stripe as the only provider, and at most 100.00 a day.
async fn stripe_only_app(engine: Engine, stripe: &FakeStripe) -> TestApp {
    let base = stripe.base.clone();
    spawn_with(engine, move |v| {
        v.insert("PAYMENT_PROVIDERS".into(), "stripe".into());
        v.insert("STRIPE_SECRET_KEY".into(), "sk_test_fake".into());
        v.insert("STRIPE_WEBHOOK_SECRET".into(), "whsec_test".into());
        v.insert("STRIPE_API_BASE".into(), base);
        v.insert("DEPOSIT_LIMITS".into(), "EUR:100:100".into());
    })
    .await
}

async fn deposit_by(app: &TestApp, fan: &Fan, amount: &str, method: &str) -> Resp {
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": amount, "method": method}))
        .send()
        .await
}

/// A fan whose card deposit of the day's whole 100.00 met a Stripe outage.
async fn unlucky(app: &TestApp) -> Fan {
    let fan = app.fan("Unlucky", "PSG").await;
    deposit_by(app, &fan, "100.00", "card")
        .await
        .expect_problem(502, "payment_provider_unavailable");
    fan
}

async fn a_stripe_outage_charges_nothing(engine: Engine) {
    let stripe = fake_stripe().await;
    stripe.failing.store(true, Ordering::SeqCst);
    let app = stripe_only_app(engine, &stripe).await;
    let fan = unlucky(&app).await;
    assert_eq!(balance(&app, &fan).await, "0.00");
}

async fn a_failed_attempt_does_not_use_up_the_daily_allowance(engine: Engine) {
    let stripe = fake_stripe().await;
    stripe.failing.store(true, Ordering::SeqCst);
    let app = stripe_only_app(engine, &stripe).await;
    let fan = unlucky(&app).await;
    stripe.failing.store(false, Ordering::SeqCst);
    deposit_by(&app, &fan, "100.00", "card").await.expect(202);
}

async fn the_sandbox_is_off_when_only_stripe_is_configured(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_only_app(engine, &stripe).await;
    let fan = app.fan("Unlucky", "PSG").await;
    deposit_by(&app, &fan, "1.00", "sandbox")
        .await
        .expect_problem(422, "validation_failed");
    // The served document lists what this deployment accepts, so a client
    // generated from it cannot offer the sandbox (`paiecashfan openapi`
    // describes no deployment and lists none).
    let doc = app.get("/api/openapi.json").send().await.expect(200).body;
    let methods = &doc["components"]["schemas"]["DepositRequest"]["properties"]["method"]["enum"];
    assert_eq!(
        *methods,
        json!([
            "apple_pay",
            "card",
            "credit_card",
            "debit_card",
            "google_pay",
            "stripe"
        ])
    );
}

// Events in every order.

/// A card deposit of 40.00 whose first card was declined: (fan, payment id,
/// intent id).
async fn declined_once(app: &TestApp) -> (Fan, String, String) {
    let fan = app.fan("Second Card", "PSG").await;
    let (pid, pi) = card_deposit(app, &fan, "40.00").await;
    deliver(
        app,
        &intent_event("evt_f1", "payment_intent.payment_failed", &pi, &pid, 4000),
    )
    .await;
    (fan, pid, pi)
}

async fn a_declined_card_leaves_the_payment_pending(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, _) = declined_once(&app).await;
    // An attempt, not the end of the payment.
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(p["failureReason"], "card_declined");
    assert_eq!(balance(&app, &fan).await, "0.00");
}

async fn another_card_after_a_decline_credits_the_fan(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, pi) = declined_once(&app).await;
    // Another card on the same intent goes through.
    let r = deliver(
        &app,
        &intent_event("evt_s1", "payment_intent.succeeded", &pi, &pid, 4000),
    )
    .await;
    assert_eq!(r["deadLettered"], false);
    assert_eq!(balance(&app, &fan).await, "40.00");
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
}

async fn a_late_copy_of_the_decline_changes_nothing(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, pi) = declined_once(&app).await;
    deliver(
        &app,
        &intent_event("evt_s1", "payment_intent.succeeded", &pi, &pid, 4000),
    )
    .await;
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

/// A card deposit of 15.00 whose `succeeded` overtook `processing`; both
/// deliveries of `succeeded` (one retried by Stripe with the same id, one a
/// second event) arrived: (fan, payment id, intent id, the retried
/// delivery's answer).
async fn success_out_of_order(app: &TestApp) -> (Fan, String, String, Value) {
    let fan = app.fan("Out Of Order", "OL").await;
    let (pid, pi) = card_deposit(app, &fan, "15.00").await;
    let ok = intent_event("evt_ok", "payment_intent.succeeded", &pi, &pid, 1500);
    deliver(app, &ok).await;
    let retried = deliver(app, &ok).await;
    for (id, kind) in [
        ("evt_ok2", "payment_intent.succeeded"),
        ("evt_proc", "payment_intent.processing"),
    ] {
        deliver(app, &intent_event(id, kind, &pi, &pid, 1500)).await;
    }
    (fan, pid, pi, retried)
}

async fn a_success_overtaking_processing_credits_once(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, _, retried) = success_out_of_order(&app).await;
    assert_eq!(retried["duplicate"], true);
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "15.00");
    assert_eq!(history(&app, &fan).await.len(), 1);
}

async fn a_cancel_after_the_success_does_not_undo_it(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, pi, _) = success_out_of_order(&app).await;
    deliver(
        &app,
        &intent_event("evt_cx", "payment_intent.canceled", &pi, &pid, 1500),
    )
    .await;
    assert_eq!(payment(&app, &fan, &pid).await["status"], "succeeded");
    assert_eq!(balance(&app, &fan).await, "15.00");
    verify_ok(&app).await;
}

/// A pending card deposit of the day's whole 100.00: (fan, payment id,
/// intent id).
async fn changed_mind(app: &TestApp) -> (Fan, String, String) {
    let fan = app.fan("Changed Mind", "PSG").await;
    let (pid, pi) = card_deposit(app, &fan, "100.00").await;
    (fan, pid, pi)
}

async fn cancel_intent(app: &TestApp, pid: &str, pi: &str) {
    deliver(
        app,
        &intent_event("evt_c", "payment_intent.canceled", pi, pid, 10000),
    )
    .await;
}

async fn a_pending_card_deposit_holds_the_daily_allowance(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_only_app(engine, &stripe).await;
    let (fan, _, _) = changed_mind(&app).await;
    deposit_by(&app, &fan, "1.00", "card")
        .await
        .expect_problem(409, "daily_limit_exceeded");
}

async fn a_canceled_intent_fails_the_payment(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_only_app(engine, &stripe).await;
    let (fan, pid, pi) = changed_mind(&app).await;
    cancel_intent(&app, &pid, &pi).await;
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "failed");
    assert_eq!(p["failureReason"], "canceled");
    assert!(p["paymentIntent"]["clientSecret"].is_null(), "{p}");
}

async fn a_canceled_intent_frees_the_allowance(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_only_app(engine, &stripe).await;
    let (fan, pid, pi) = changed_mind(&app).await;
    deposit_by(&app, &fan, "1.00", "card")
        .await
        .expect_problem(409, "daily_limit_exceeded");
    cancel_intent(&app, &pid, &pi).await;
    // The allowance is back.
    card_deposit(&app, &fan, "100.00").await;
    assert_eq!(balance(&app, &fan).await, "0.00");
}

async fn another_fan_cannot_see_a_payment(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_only_app(engine, &stripe).await;
    let (_, pid, _) = changed_mind(&app).await;
    let other = app.fan("Nosy", "PSG").await;
    app.get(&format!("/api/wallet/payments/{pid}"))
        .token(&other.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

// Events kept for an admin.

/// A pending card deposit of 12.00, a success for a payment this server
/// does not know (yet) and a success for the deposit's intent of another
/// amount.
struct Lost {
    fan: Fan,
    admin: Fan,
    pid: String,
    pi: String,
    /// The answers to the two events.
    stray: Value,
    wrong: Value,
}

async fn lost_events(app: &TestApp) -> Lost {
    let fan = app.fan("Lost Event", "OM").await;
    let admin = app.staff(None).await;
    let (pid, pi) = card_deposit(app, &fan, "12.00").await;
    let stray = intent_event(
        "evt_stray",
        "payment_intent.succeeded",
        "pi_unknown",
        "not-ours",
        1200,
    );
    let stray = deliver(app, &stray).await;
    let wrong = intent_event("evt_wrong", "payment_intent.succeeded", &pi, &pid, 99);
    let wrong = deliver(app, &wrong).await;
    Lost {
        fan,
        admin,
        pid,
        pi,
        stray,
        wrong,
    }
}

async fn dead_letters(app: &TestApp, admin: &Fan) -> Vec<Value> {
    let list = app
        .get("/api/admin/payments/dead-letters")
        .token(&admin.token)
        .send()
        .await
        .expect(200);
    list.body["deadLetters"].as_array().unwrap().clone()
}

async fn events_for_unknown_payments_or_wrong_amounts_are_kept(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let l = lost_events(&app).await;
    assert_eq!(l.stray["deadLettered"], true);
    assert_eq!(l.wrong["deadLettered"], true);
    assert_eq!(balance(&app, &l.fan).await, "0.00");
}

async fn an_intent_cannot_settle_another_fans_payment(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let a = app.fan("Anaïs", "PSG").await;
    let b = app.fan("Bilal", "PSG").await;
    let (pa, pi_a) = card_deposit(&app, &a, "30.00").await;
    let (pb, _) = card_deposit(&app, &b, "30.00").await;
    // A's intent whose metadata names B's payment: kept, nobody credited.
    let odd = deliver(
        &app,
        &intent_event("evt_odd", "payment_intent.succeeded", &pi_a, &pb, 3000),
    )
    .await;
    assert_eq!(odd["deadLettered"], true, "{odd}");
    assert_eq!(balance(&app, &b).await, "0.00");
    assert_eq!(payment(&app, &b, &pb).await["status"], "pending");
    // A's own event credits A, once.
    deliver(
        &app,
        &intent_event("evt_a", "payment_intent.succeeded", &pi_a, &pa, 3000),
    )
    .await;
    assert_eq!(balance(&app, &a).await, "30.00");
    assert_eq!(balance(&app, &b).await, "0.00");
    verify_ok(&app).await;
}

async fn only_admins_list_the_kept_events(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let l = lost_events(&app).await;
    app.get("/api/admin/payments/dead-letters")
        .token(&l.fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
}

async fn admins_see_why_each_event_was_kept(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let l = lost_events(&app).await;
    let letters = dead_letters(&app, &l.admin).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let reasons: Vec<&str> = letters
        .iter()
        .map(|letter| letter["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"unknown_payment") && reasons.contains(&"amount_mismatch"));
}

async fn replaying_a_kept_event_that_still_cannot_apply_changes_nothing(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let l = lost_events(&app).await;
    let letters = dead_letters(&app, &l.admin).await;
    let mismatch = letters
        .iter()
        .find(|letter| letter["reason"] == "amount_mismatch")
        .unwrap();
    // It says why.
    app.post(&format!(
        "/api/admin/payments/dead-letters/{}/replay",
        mismatch["id"].as_str().unwrap()
    ))
    .token(&l.admin.token)
    .send()
    .await
    .expect_problem(409, "event_not_applicable");
    assert_eq!(balance(&app, &l.fan).await, "0.00");
}

async fn the_right_success_still_credits_after_kept_events(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let l = lost_events(&app).await;
    deliver(
        &app,
        &intent_event("evt_right", "payment_intent.succeeded", &l.pi, &l.pid, 1200),
    )
    .await;
    assert_eq!(balance(&app, &l.fan).await, "12.00");
    verify_ok(&app).await;
}

async fn replaying_an_unknown_kept_event_is_404(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let admin = app.staff(None).await;
    app.post("/api/admin/payments/dead-letters/not-a-letter/replay")
        .token(&admin.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

// Expiry.

/// A card deposit of 30.00 left unpaid past its lifetime, and the expiry
/// sweep: (fan, payment id, intent id, payments the sweep expired).
async fn expired(app: &TestApp) -> (Fan, String, String, usize) {
    let fan = app.fan("Slow Bank", "PSG").await;
    let (pid, pi) = card_deposit(app, &fan, "30.00").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let n = app
        .state
        .wallet
        .expire_pending(Duration::from_millis(10))
        .await
        .expect("expiry");
    (fan, pid, pi, n)
}

async fn an_unpaid_card_deposit_expires_and_is_canceled_at_stripe(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, pi, n) = expired(&app).await;
    assert_eq!(n, 1);
    let p = payment(&app, &fan, &pid).await;
    assert_eq!(p["status"], "failed");
    assert_eq!(p["failureReason"], "expired");
    assert_eq!(
        *stripe.cancels.lock().unwrap(),
        vec![pi.clone()],
        "the intent is canceled at Stripe"
    );
}

async fn a_success_after_expiry_still_credits_once(engine: Engine) {
    let stripe = fake_stripe().await;
    let app = stripe_app(engine, &stripe).await;
    let (fan, pid, pi, _) = expired(&app).await;
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
