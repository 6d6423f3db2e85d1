use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, Resp, TestApp, balance, deposit, history, spawn_app, spawn_with, verify_ok,
};

both_engines!(
    // Deposits and sends.
    a_new_fan_starts_with_an_empty_euro_wallet,
    a_sandbox_deposit_is_credited_at_once,
    a_fan_sends_money_to_another_fan,
    money_is_sent_by_email_or_as_a_json_number_too,
    the_recipient_sees_the_senders_name_and_note_never_their_email,
    the_senders_history_lists_newest_first,
    a_transaction_is_visible_to_its_two_fans_only,
    the_wallet_needs_a_sign_in,
    the_recipient_is_notified_and_only_they_mark_it_read,
    stats_count_the_transactions,
    // History pages.
    history_pages_with_a_cursor_hold_each_transaction_once_newest_first,
    history_pages_with_an_offset_as_in_v1,
    bad_history_page_parameters_are_refused,
    // Refused sends and amounts.
    a_fan_cannot_send_money_to_themselves,
    sending_to_an_unknown_or_missing_recipient_is_refused,
    a_recipient_named_twice_is_refused,
    an_overdraft_is_refused_and_moves_nothing,
    the_whole_balance_can_be_sent_and_not_a_cent_more,
    malformed_amounts_are_refused_for_sends_and_deposits,
    amounts_in_exponent_form_are_refused,
    unknown_currencies_and_methods_are_refused,
    // Retries.
    a_retried_deposit_is_replayed_not_credited_twice,
    a_deposit_key_reused_for_another_amount_is_refused,
    a_retried_send_with_its_fields_reordered_is_the_same_send,
    a_refused_send_is_replayed_as_a_refusal,
    a_refusal_stays_the_keys_answer_after_a_top_up,
    a_send_key_reused_for_another_body_is_refused_even_if_payable,
    the_same_key_string_is_free_for_another_fan,
    an_overlong_idempotency_key_is_refused,
    without_a_token_the_401_comes_before_the_key,
    concurrent_duplicates_charge_once,
    a_retry_waits_while_a_live_process_holds_its_key,
    a_retry_runs_at_once_when_the_keys_process_died,
    // Deposit limits.
    a_deposit_over_the_single_deposit_limit_is_refused,
    the_daily_deposit_limit_holds_under_concurrency,
    // History order.
    history_follows_each_balance_whatever_the_clocks,
    history_pages_follow_the_balance_order_too,
    // Verifying the ledger.
    fans_and_staff_cannot_verify_the_ledger,
    an_admin_sees_the_books_balance,
    a_tampered_balance_is_caught,
    transfers_cannot_be_edited_in_the_database,
    // Currencies.
    the_primary_currency_follows_the_favourite_club,
    money_goes_out_and_arrives_in_its_own_currency,
    a_fan_without_euros_cannot_send_euros,
);

async fn send(app: &TestApp, from: &Fan, body: &Value) -> Resp {
    app.post("/api/wallet/send")
        .token(&from.token)
        .json(body)
        .send()
        .await
}

// Deposits and sends.

/// Zoé (Monaco) tops up 50.00 and sends Karim (OM) 12.50 "pour les places"
/// by id, then 2.50 by e-mail, as a JSON number.
struct ZoePaysKarim {
    zoe: Fan,
    karim: Fan,
    /// The answer to the first send.
    first: Resp,
    transfer_id: String,
}

async fn zoe_pays_karim(app: &TestApp) -> ZoePaysKarim {
    let zoe = app.fan("Zoé", "AS_MONACO").await;
    let karim = app.fan("Karim", "OM").await;
    deposit(app, &zoe, "50.00").await;
    let first = send(
        app,
        &zoe,
        &json!({"recipientId": karim.id, "amount": "12.50", "note": "pour les places"}),
    )
    .await
    .expect(201);
    let transfer_id = first.body["transaction"]["id"].as_str().unwrap().to_owned();
    send(
        app,
        &zoe,
        &json!({"recipientEmail": karim.email.to_uppercase(), "amount": 2.5}),
    )
    .await
    .expect(201);
    ZoePaysKarim {
        zoe,
        karim,
        first,
        transfer_id,
    }
}

async fn a_new_fan_starts_with_an_empty_euro_wallet(engine: Engine) {
    let app = spawn_app(engine).await;
    let zoe = app.fan("Zoé", "AS_MONACO").await;
    let r = app
        .get("/api/wallet/balance")
        .token(&zoe.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["balance"], "0.00");
    assert_eq!(r.body["currency"], "EUR");
}

async fn a_sandbox_deposit_is_credited_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let zoe = app.fan("Zoé", "AS_MONACO").await;
    let d = deposit(&app, &zoe, "50.00").await;
    assert_eq!(d["status"], "completed");
    assert_eq!(d["newBalance"], "50.00");
    assert_eq!(d["transaction"]["type"], "deposit");
    assert_eq!(d["transaction"]["direction"], "in");
}

async fn a_fan_sends_money_to_another_fan(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    assert_eq!(s.first.body["newBalance"], "37.50");
    let t = &s.first.body["transaction"];
    assert_eq!(t["direction"], "out");
    assert_eq!(t["amount"], "12.50");
    assert_eq!(t["balanceAfter"], "37.50");
    assert_eq!(t["counterparty"]["name"], "Karim");
}

async fn money_is_sent_by_email_or_as_a_json_number_too(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    assert_eq!(balance(&app, &s.zoe).await, "35.00");
    assert_eq!(balance(&app, &s.karim).await, "15.00");
}

async fn the_recipient_sees_the_senders_name_and_note_never_their_email(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    let kh = history(&app, &s.karim).await;
    assert_eq!(kh.len(), 2);
    let received = kh
        .iter()
        .find(|t| t["id"] == s.transfer_id.as_str())
        .unwrap();
    assert_eq!(received["direction"], "in");
    assert_eq!(received["balanceAfter"], "12.50");
    assert_eq!(received["counterparty"]["name"], "Zoé");
    assert_eq!(received["note"], "pour les places");
    // A name, never an e-mail.
    assert!(!serde_json::to_string(&kh).unwrap().contains(&s.zoe.email));
}

async fn the_senders_history_lists_newest_first(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    let zh = history(&app, &s.zoe).await;
    assert_eq!(zh.len(), 3);
    assert_eq!(zh[2]["type"], "deposit", "newest first");
}

async fn a_transaction_is_visible_to_its_two_fans_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    let path = format!("/api/wallet/transactions/{}", s.transfer_id);
    app.get(&path)
        .token(&s.karim.token)
        .send()
        .await
        .expect(200);
    let outsider = app.fan("Outsider", "PSG").await;
    app.get(&path)
        .token(&outsider.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn the_wallet_needs_a_sign_in(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/wallet/balance")
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn the_recipient_is_notified_and_only_they_mark_it_read(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = zoe_pays_karim(&app).await;
    let n = app
        .get("/api/notifications")
        .token(&s.karim.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["unread"], 2);
    assert_eq!(n.body["notifications"][0]["kind"], "wallet.received");
    let nid = n.body["notifications"][0]["id"].as_str().unwrap();
    app.post(&format!("/api/notifications/{nid}/read"))
        .token(&s.karim.token)
        .send()
        .await
        .expect(204);
    app.post(&format!("/api/notifications/{nid}/read"))
        .token(&s.zoe.token)
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn stats_count_the_transactions(engine: Engine) {
    let app = spawn_app(engine).await;
    zoe_pays_karim(&app).await;
    let stats = app.get("/api/stats").send().await.expect(200);
    assert!(stats.body["transactions"].as_i64().unwrap() >= 3);
    verify_ok(&app).await;
}

// History pages.

/// A fan who topped up 100.00 and sent 1.00 to 5.00, five times.
async fn five_sends(app: &TestApp) -> Fan {
    let a = app.fan("Pager", "PSG").await;
    let b = app.fan("Paged", "PSG").await;
    deposit(app, &a, "100.00").await;
    for i in 1..=5 {
        send(
            app,
            &a,
            &json!({"recipientId": b.id, "amount": format!("{i}.00")}),
        )
        .await
        .expect(201);
    }
    a
}

/// The fan's history, two a page, following the cursors: the ids.
async fn cursor_walk(app: &TestApp, fan: &Fan) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/wallet/transactions?limit=2&cursor={c}"),
            None => "/api/wallet/transactions?limit=2".into(),
        };
        let r = app.get(&path).token(&fan.token).send().await.expect(200);
        let page = r.body["transactions"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
}

async fn history_pages_with_a_cursor_hold_each_transaction_once_newest_first(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = five_sends(&app).await;
    let seen = cursor_walk(&app, &a).await;
    assert_eq!(seen.len(), 6, "5 transfers and the deposit, each once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");
}

async fn history_pages_with_an_offset_as_in_v1(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = five_sends(&app).await;
    let seen = cursor_walk(&app, &a).await;
    let r = app
        .get("/api/wallet/transactions?limit=2&offset=2")
        .token(&a.token)
        .send()
        .await
        .expect(200);
    let ids: Vec<&str> = r.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![seen[2].as_str(), seen[3].as_str()]);
}

async fn bad_history_page_parameters_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = five_sends(&app).await;
    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "cursor=nope",
    ] {
        app.get(&format!("/api/wallet/transactions?{bad}"))
            .token(&a.token)
            .send()
            .await
            .expect_problem(422, "validation_failed");
    }
}

// Refused sends and amounts.

/// A sender who topped up 20.00, and a receiver.
async fn sender_and_receiver(app: &TestApp) -> (Fan, Fan) {
    let a = app.fan("Sender", "PSG").await;
    let b = app.fan("Receiver", "PSG").await;
    deposit(app, &a, "20.00").await;
    (a, b)
}

async fn a_fan_cannot_send_money_to_themselves(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, _) = sender_and_receiver(&app).await;
    send(&app, &a, &json!({"recipientId": a.id, "amount": "1.00"}))
        .await
        .expect_problem(422, "validation_failed");
    send(
        &app,
        &a,
        &json!({"recipientEmail": a.email, "amount": "1.00"}),
    )
    .await
    .expect_problem(422, "validation_failed");
}

async fn sending_to_an_unknown_or_missing_recipient_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, _) = sender_and_receiver(&app).await;
    let ghost_id = uuid::Uuid::now_v7().to_string();
    send(
        &app,
        &a,
        &json!({"recipientId": ghost_id, "amount": "1.00"}),
    )
    .await
    .expect_problem(404, "not_found");
    send(
        &app,
        &a,
        &json!({"recipientEmail": "ghost@example.com", "amount": "1.00"}),
    )
    .await
    .expect_problem(404, "not_found");
    send(&app, &a, &json!({"amount": "1.00"}))
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_recipient_named_twice_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = sender_and_receiver(&app).await;
    let c = app.fan("Chloé", "PSG").await;
    // An id and an e-mail that name two people: the server will not pick.
    for email in [&c.email, &b.email] {
        let r = send(
            &app,
            &a,
            &json!({"recipientId": b.id, "recipientEmail": email, "amount": "1.00"}),
        )
        .await
        .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "recipientEmail");
    }
    assert_eq!(balance(&app, &a).await, "20.00");
    assert_eq!(balance(&app, &b).await, "0.00");
    assert_eq!(balance(&app, &c).await, "0.00");
    // The same for a ticket.
    let (event, _) = crate::helpers::psg_home_match(
        &app,
        72,
        4,
        json!([{"name": "Auteuil", "price": "5.00", "capacity": 10}]),
    )
    .await;
    let t = app
        .post("/api/tickets/purchase")
        .token(&a.token)
        .json(&json!({"eventId": event["id"], "category": "Auteuil"}))
        .send()
        .await
        .expect(201)
        .body["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/api/tickets/{t}/transfer"))
        .token(&a.token)
        .json(&json!({"recipientId": b.id, "recipientEmail": c.email}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let mine = app
        .get("/api/tickets/my-tickets")
        .token(&a.token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        mine.body["tickets"][0]["id"],
        t.as_str(),
        "still the sender's"
    );
    verify_ok(&app).await;
}

async fn an_overdraft_is_refused_and_moves_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = sender_and_receiver(&app).await;
    send(&app, &a, &json!({"recipientId": b.id, "amount": "20.01"}))
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &a).await, "20.00");
    assert_eq!(balance(&app, &b).await, "0.00");
}

async fn the_whole_balance_can_be_sent_and_not_a_cent_more(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = sender_and_receiver(&app).await;
    send(&app, &a, &json!({"recipientId": b.id, "amount": "20.00"}))
        .await
        .expect(201);
    assert_eq!(balance(&app, &a).await, "0.00");
    send(&app, &a, &json!({"recipientId": b.id, "amount": "0.01"}))
        .await
        .expect_problem(409, "insufficient_funds");
    verify_ok(&app).await;
}

/// A careful fan who topped up 100.00, and a payee.
async fn careful_and_payee(app: &TestApp) -> (Fan, Fan) {
    let a = app.fan("Careful", "PSG").await;
    let b = app.fan("Payee", "PSG").await;
    deposit(app, &a, "100.00").await;
    (a, b)
}

/// After refused amounts: not a cent moved, the top-up is all there is.
async fn nothing_moved(app: &TestApp, a: &Fan, b: &Fan) {
    assert_eq!(balance(app, a).await, "100.00");
    assert_eq!(balance(app, b).await, "0.00");
    assert_eq!(history(app, a).await.len(), 1);
    verify_ok(app).await;
}

async fn malformed_amounts_are_refused_for_sends_and_deposits(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = careful_and_payee(&app).await;
    let bad: Vec<Value> = vec![
        json!("-5.00"),
        json!(-5),
        json!("0"),
        json!(0),
        json!("0.00"),
        json!("1e3"),
        json!("12.345"),
        json!(12.345),
        json!("NaN"),
        json!("Infinity"),
        json!("abc"),
        json!(""),
        json!(" "),
        json!("1,50"),
        json!("+5"),
        json!(".5"),
        json!("99999999999999999999999"),
        json!(1e300),
        json!(null),
        json!(true),
        json!(["5.00"]),
        json!({"value": "5.00"}),
    ];
    for amount in &bad {
        let r = send(&app, &a, &json!({"recipientId": b.id, "amount": amount})).await;
        assert_eq!(r.status.as_u16(), 422, "send {amount}: {}", r.text);
        assert_eq!(r.body["errors"][0]["field"], "amount", "{}", r.text);
        let r = app
            .post("/api/wallet/deposit")
            .token(&a.token)
            .json(&json!({"amount": amount, "method": "sandbox"}))
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 422, "deposit {amount}: {}", r.text);
    }
    nothing_moved(&app, &a, &b).await;
}

async fn amounts_in_exponent_form_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = careful_and_payee(&app).await;
    // JSON number exponent forms, written as raw text.
    for raw in [r#"1e3"#, r#"1E2"#, r#"5.0e0"#] {
        let body = format!(r#"{{"recipientId":"{}","amount":{raw}}}"#, b.id);
        app.post("/api/wallet/send")
            .token(&a.token)
            .raw("application/json", body)
            .send()
            .await
            .expect_problem(422, "validation_failed");
    }
    nothing_moved(&app, &a, &b).await;
}

async fn unknown_currencies_and_methods_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = careful_and_payee(&app).await;
    // Unknown currency, and XOF with decimals.
    send(
        &app,
        &a,
        &json!({"recipientId": b.id, "amount": "5.00", "currency": "JPY"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    for body in [
        json!({"amount": "1500.5", "method": "sandbox", "currency": "XOF"}),
        json!({"amount": "5.00", "method": "bitcoin"}),
    ] {
        app.post("/api/wallet/deposit")
            .token(&a.token)
            .json(&body)
            .send()
            .await
            .expect_problem(422, "validation_failed");
    }
    nothing_moved(&app, &a, &b).await;
}

// Retries.

async fn deposit_with_key(app: &TestApp, fan: &Fan, key: &str, amount: &str) -> Resp {
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .header("idempotency-key", key)
        .json(&json!({"amount": amount, "method": "sandbox"}))
        .send()
        .await
}

async fn send_with_key(app: &TestApp, fan: &Fan, key: &str, body: &Value) -> Resp {
    app.post("/api/wallet/send")
        .token(&fan.token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
}

/// A fan who topped up 40.00 (key `dep-1`) and sent 15.00 to a target (key
/// `send-1`): (fan, target, the send's answer).
async fn retrier(app: &TestApp) -> (Fan, Fan, Resp) {
    let a = app.fan("Retrier", "PSG").await;
    let b = app.fan("Target", "PSG").await;
    deposit_with_key(app, &a, "dep-1", "40.00")
        .await
        .expect(201);
    let body = json!({"recipientId": b.id, "amount": "15.00"});
    let s1 = send_with_key(app, &a, "send-1", &body).await.expect(201);
    (a, b, s1)
}

/// Then: 30.00 refused for want of money (key `send-3`), and a top-up of
/// 10.00 that would now pay it.
async fn refused_then_topped_up(app: &TestApp) -> (Fan, Fan) {
    let (a, b, _) = retrier(app).await;
    let thirty = json!({"recipientId": b.id, "amount": "30.00"});
    send_with_key(app, &a, "send-3", &thirty)
        .await
        .expect_problem(409, "insufficient_funds");
    deposit(app, &a, "10.00").await;
    (a, b)
}

async fn a_retried_deposit_is_replayed_not_credited_twice(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Retrier", "PSG").await;
    let first = deposit_with_key(&app, &a, "dep-1", "40.00")
        .await
        .expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = deposit_with_key(&app, &a, "dep-1", "40.00")
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body, "the first answer, replayed");
    assert_eq!(balance(&app, &a).await, "40.00");
}

async fn a_deposit_key_reused_for_another_amount_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Retrier", "PSG").await;
    deposit_with_key(&app, &a, "dep-1", "40.00")
        .await
        .expect(201);
    deposit_with_key(&app, &a, "dep-1", "41.00")
        .await
        .expect_problem(422, "idempotency_key_reused");
}

async fn a_retried_send_with_its_fields_reordered_is_the_same_send(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b, s1) = retrier(&app).await;
    // Key order and spacing do not make it another request.
    let reordered = json!({"amount": "15.00", "recipientId": b.id});
    let s2 = send_with_key(&app, &a, "send-1", &reordered)
        .await
        .expect(201);
    assert_eq!(s2.headers["idempotent-replayed"], "true");
    assert_eq!(s1.body["transaction"]["id"], s2.body["transaction"]["id"]);
    assert_eq!(balance(&app, &a).await, "25.00");
    assert_eq!(balance(&app, &b).await, "15.00");
}

async fn a_refused_send_is_replayed_as_a_refusal(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b, _) = retrier(&app).await;
    // A failure is replayed too, and still charges nothing.
    let big = json!({"recipientId": b.id, "amount": "1000.00"});
    send_with_key(&app, &a, "send-2", &big)
        .await
        .expect_problem(409, "insufficient_funds");
    let replay = send_with_key(&app, &a, "send-2", &big).await.expect(409);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

async fn a_refusal_stays_the_keys_answer_after_a_top_up(engine: Engine) {
    let app = spawn_app(engine).await;
    // A key's answer is the first one stored: once the money is there, a
    // retry of a refused transfer still gets the refusal and moves nothing.
    let (a, b) = refused_then_topped_up(&app).await;
    let thirty = json!({"recipientId": b.id, "amount": "30.00"});
    let again = send_with_key(&app, &a, "send-3", &thirty).await.expect(409);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.code(), "insufficient_funds");
}

async fn a_send_key_reused_for_another_body_is_refused_even_if_payable(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = refused_then_topped_up(&app).await;
    for key in ["send-1", "send-3"] {
        send_with_key(
            &app,
            &a,
            key,
            &json!({"recipientId": b.id, "amount": "1.00"}),
        )
        .await
        .expect_problem(422, "idempotency_key_reused");
    }
    assert_eq!(balance(&app, &a).await, "35.00");
    assert_eq!(balance(&app, &b).await, "15.00");
}

async fn the_same_key_string_is_free_for_another_fan(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = refused_then_topped_up(&app).await;
    // Keys belong to one user: the target may use the retrier's `send-1`.
    deposit(&app, &b, "1.00").await;
    send_with_key(
        &app,
        &b,
        "send-1",
        &json!({"recipientId": a.id, "amount": "1.00"}),
    )
    .await
    .expect(201);
    assert_eq!(balance(&app, &a).await, "36.00");
    verify_ok(&app).await;
}

async fn an_overlong_idempotency_key_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b, _) = retrier(&app).await;
    let body = json!({"recipientId": b.id, "amount": "15.00"});
    send_with_key(&app, &a, &"k".repeat(256), &body)
        .await
        .expect_problem(422, "validation_failed");
}

async fn without_a_token_the_401_comes_before_the_key(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, b, _) = retrier(&app).await;
    let body = json!({"recipientId": b.id, "amount": "15.00"});
    // Without a token the handler's 401 comes first, nothing is reserved.
    app.post("/api/wallet/send")
        .header("idempotency-key", "anon")
        .json(&body)
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn concurrent_duplicates_charge_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Clicker", "PSG").await;
    let b = app.fan("Lucky", "PSG").await;
    deposit(&app, &a, "100.00").await;
    let body = json!({"recipientId": b.id, "amount": "30.00"});
    let results =
        futures::future::join_all((0..12).map(|_| send_with_key(&app, &a, "double-click", &body)))
            .await;
    // One click runs; the others are told it is in flight, or (arriving after
    // it) replay its answer.
    let mut ids = std::collections::HashSet::new();
    let mut first_answers = 0;
    for r in &results {
        match r.status.as_u16() {
            201 => {
                ids.insert(r.body["transaction"]["id"].as_str().unwrap().to_owned());
                if r.headers.get("idempotent-replayed").is_none() {
                    first_answers += 1;
                }
            }
            409 => assert_eq!(r.code(), "idempotency_request_in_flight", "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same transfer");
    assert_eq!(first_answers, 1, "one request ran");
    // Afterwards the key's answer is that transfer.
    let again = send_with_key(&app, &a, "double-click", &body)
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert!(ids.contains(again.body["transaction"]["id"].as_str().unwrap()));
    assert_eq!(balance(&app, &a).await, "70.00");
    assert_eq!(balance(&app, &b).await, "30.00");
    verify_ok(&app).await;
}

/// What a process that died mid-request leaves: its reservation of the key.
/// The request's fingerprint is the server's own, taken from a twin request
/// of another fan.
async fn leave_reservation(app: &TestApp, fan: &Fan, key: &str, body: &Value, owner: &str) {
    let twin = app.fan("Twin", "PSG").await;
    app.post("/api/wallet/deposit")
        .token(&twin.token)
        .header("idempotency-key", "twin")
        .json(body)
        .send()
        .await
        .expect(201);
    let mut conn = app.state.db.bookkeeping().await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at, owner)
         SELECT $1, $2, request_hash, 'in_flight', $3, $4 FROM idempotency_keys
         WHERE user_id = $5 AND idem_key = 'twin'",
    )
    .bind(&fan.id)
    .bind(key)
    .bind(paiecashfan::db::now_ms())
    .bind(owner)
    .bind(&twin.id)
    .execute(conn.conn())
    .await
    .unwrap();
}

async fn a_retry_waits_while_a_live_process_holds_its_key(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Unlucky Timing", "PSG").await;
    let body = json!({"amount": "10.00", "method": "sandbox"});
    // A live process (beating its heartbeat) is still working on its key:
    // the retry is told so.
    leave_reservation(&app, &fan, "k-live", &body, &app.state.instance).await;
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .header("idempotency-key", "k-live")
        .json(&body)
        .send()
        .await
        .expect_problem(409, "idempotency_request_in_flight");
}

async fn a_retry_runs_at_once_when_the_keys_process_died(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Unlucky Timing", "PSG").await;
    let body = json!({"amount": "10.00", "method": "sandbox"});
    let retry = || {
        app.post("/api/wallet/deposit")
            .token(&fan.token)
            .header("idempotency-key", "k-dead")
            .json(&body)
            .send()
    };
    // A process that died (no heartbeat) left one a second ago: the retry
    // runs at once instead of waiting out the two-minute lease...
    leave_reservation(&app, &fan, "k-dead", &body, "a-killed-process").await;
    let first = retry().await.expect(201);
    assert_eq!(balance(&app, &fan).await, "10.00");
    // ... and its answer, stored with the money, is the key's from now on.
    let again = retry().await.expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(balance(&app, &fan).await, "10.00");
    verify_ok(&app).await;
}

// Deposit limits.

/// At most 100.00 a deposit and 150.00 a day.
async fn limited_app(engine: Engine) -> TestApp {
    spawn_with(engine, |v| {
        v.insert("DEPOSIT_LIMITS".into(), "EUR:100:150".into());
    })
    .await
}

async fn sandbox_deposit(app: &TestApp, fan: &Fan, amount: &str) -> Resp {
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": amount, "method": "sandbox"}))
        .send()
        .await
}

async fn a_deposit_over_the_single_deposit_limit_is_refused(engine: Engine) {
    let app = limited_app(engine).await;
    let a = app.fan("Limited", "PSG").await;
    sandbox_deposit(&app, &a, "100.01")
        .await
        .expect_problem(422, "validation_failed");
}

async fn the_daily_deposit_limit_holds_under_concurrency(engine: Engine) {
    let app = limited_app(engine).await;
    let a = app.fan("Limited", "PSG").await;
    let results =
        futures::future::join_all((0..10).map(|_| sandbox_deposit(&app, &a, "20.00"))).await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "daily_limit_exceeded");
    }
    assert_eq!(ok, 7, "7 x 20.00 fit in 150.00 a day");
    assert_eq!(balance(&app, &a).await, "140.00");
    sandbox_deposit(&app, &a, "10.00").await.expect(201);
    sandbox_deposit(&app, &a, "0.01")
        .await
        .expect_problem(409, "daily_limit_exceeded");
    verify_ok(&app).await;
}

// History order.

/// Early Bird (100.00) and Late Owl (1.00): another instance, its clock a
/// minute ahead, moves 10.00 from one to the other; then this one, on time,
/// moves 5.00: later, though its id and time are earlier.
async fn fast_then_slow_clock(app: &TestApp) -> (Fan, Fan) {
    let a = app.fan("Early Bird", "PSG").await;
    let b = app.fan("Late Owl", "PSG").await;
    deposit(app, &a, "100.00").await;
    deposit(app, &b, "1.00").await;
    transfer_from_a_fast_clock(app, &a, &b, 1000).await;
    send(app, &a, &json!({"recipientId": b.id, "amount": "5.00"}))
        .await
        .expect(201);
    (a, b)
}

async fn history_follows_each_balance_whatever_the_clocks(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = fast_then_slow_clock(&app).await;
    for (fan, balances) in [
        (&a, ["85.00", "90.00", "100.00"]),
        (&b, ["16.00", "11.00", "1.00"]),
    ] {
        let h = history(&app, fan).await;
        let seen: Vec<&str> = h
            .iter()
            .map(|t| t["balanceAfter"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = balances.iter().copied().filter(|b| !b.is_empty()).collect();
        assert_eq!(
            seen, expected,
            "newest first, in the order the balance changed"
        );
    }
    verify_ok(&app).await;
}

async fn history_pages_follow_the_balance_order_too(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, _) = fast_then_slow_clock(&app).await;
    let first = app
        .get("/api/wallet/transactions?limit=1")
        .token(&a.token)
        .send()
        .await
        .expect(200);
    assert_eq!(first.body["transactions"][0]["balanceAfter"], "85.00");
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/api/wallet/transactions?limit=1&cursor={cursor}"))
        .token(&a.token)
        .send()
        .await
        .expect(200);
    assert_eq!(second.body["transactions"][0]["balanceAfter"], "90.00");
    verify_ok(&app).await;
}

// Verifying the ledger.

async fn ledger_verification(app: &TestApp, who: &Fan) -> Resp {
    app.get("/api/admin/ledger/verify")
        .token(&who.token)
        .send()
        .await
}

/// A fan who topped up 10.00, and an admin.
async fn fan_and_admin(app: &TestApp) -> (Fan, Fan) {
    let fan = app.fan("Curious", "PSG").await;
    deposit(app, &fan, "10.00").await;
    (fan, app.staff(None).await)
}

async fn fans_and_staff_cannot_verify_the_ledger(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = fan_and_admin(&app).await;
    ledger_verification(&app, &fan)
        .await
        .expect_problem(403, "forbidden");
    let staff = app.staff(Some("PSG")).await;
    ledger_verification(&app, &staff)
        .await
        .expect_problem(403, "forbidden");
}

async fn an_admin_sees_the_books_balance(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, admin) = fan_and_admin(&app).await;
    let r = ledger_verification(&app, &admin).await.expect(200);
    assert_eq!(r.body["ok"], true);
    assert!(
        r.body["transfers"].as_i64().unwrap() >= 2,
        "demo credit + deposit"
    );
    let eur = r.body["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "EUR")
        .unwrap();
    assert_eq!(eur["sum"], 0);
}

async fn a_tampered_balance_is_caught(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, admin) = fan_and_admin(&app).await;
    let mut tx = app.state.db.begin_write().await.unwrap();
    sqlx::query("UPDATE accounts SET balance = balance + 1 WHERE kind = 'user' AND owner_id = $1")
        .bind(&fan.id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r = ledger_verification(&app, &admin).await.expect(200);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.body["mismatches"].as_array().unwrap().len(), 1);
}

async fn transfers_cannot_be_edited_in_the_database(engine: Engine) {
    let app = spawn_app(engine).await;
    fan_and_admin(&app).await;
    let mut tx = app.state.db.begin_write().await.unwrap();
    let edit = sqlx::query("UPDATE transfers SET amount = 1")
        .execute(tx.conn())
        .await;
    assert!(edit.is_err(), "transfers must not be editable");
}

// Currencies.

/// A Wydad fan with 300.00 MAD and 5000 XOF, and a Monaco fan.
async fn wydadi_and_monegasque(app: &TestApp) -> (Fan, Fan) {
    let wydad = app.fan("Wydadi", "WYDAD_AC").await;
    let monaco = app.fan("Monegasque", "AS_MONACO").await;
    for body in [
        json!({"amount": "300.00", "method": "sandbox"}),
        json!({"amount": "5000", "method": "sandbox", "currency": "XOF"}),
    ] {
        app.post("/api/wallet/deposit")
            .token(&wydad.token)
            .json(&body)
            .send()
            .await
            .expect(201);
    }
    (wydad, monaco)
}

async fn the_primary_currency_follows_the_favourite_club(engine: Engine) {
    let app = spawn_app(engine).await;
    let wydad = app.fan("Wydadi", "WYDAD_AC").await;
    let r = app
        .get("/api/wallet/balance")
        .token(&wydad.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["currency"], "MAD");
}

async fn money_goes_out_and_arrives_in_its_own_currency(engine: Engine) {
    let app = spawn_app(engine).await;
    let (wydad, monaco) = wydadi_and_monegasque(&app).await;
    // MAD goes out as MAD; the recipient gets a MAD account, not euros.
    send(
        &app,
        &wydad,
        &json!({"recipientId": monaco.id, "amount": "100.00"}),
    )
    .await
    .expect(201);
    send(
        &app,
        &wydad,
        &json!({"recipientId": monaco.id, "amount": "1500", "currency": "XOF"}),
    )
    .await
    .expect(201);
    let r = app
        .get("/api/wallet/balance")
        .token(&monaco.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["currency"], "EUR");
    assert_eq!(r.body["balance"], "0.00");
    let balances = r.body["balances"].as_array().unwrap();
    assert!(
        balances.contains(&json!({"currency": "MAD", "balance": "100.00"})),
        "{balances:?}"
    );
    assert!(
        balances.contains(&json!({"currency": "XOF", "balance": "1500"})),
        "{balances:?}"
    );
    verify_ok(&app).await;
}

async fn a_fan_without_euros_cannot_send_euros(engine: Engine) {
    let app = spawn_app(engine).await;
    let (wydad, monaco) = wydadi_and_monegasque(&app).await;
    send(
        &app,
        &wydad,
        &json!({"recipientId": monaco.id, "amount": "1.00", "currency": "EUR"}),
    )
    .await
    .expect_problem(409, "insufficient_funds");
}

/// One account's side of such a transfer: (account, balance after, position).
async fn fast_side(
    conn: &mut sqlx::AnyConnection,
    owner: &str,
    delta: i64,
    now: i64,
) -> (String, i64, i64) {
    use sqlx::Row;
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance + $1,
                last_position = CASE WHEN last_position + 1 > $2 THEN last_position + 1 ELSE $2 END
         WHERE kind = 'user' AND owner_id = $3 RETURNING id, balance, last_position",
    )
    .bind(delta)
    .bind(now * 1000)
    .bind(owner)
    .fetch_one(conn)
    .await
    .unwrap();
    (row.get("id"), row.get("balance"), row.get("last_position"))
}

/// What an instance whose clock runs a minute ahead writes for a transfer of
/// `cents` from `from` to `to`, through the same statements the ledger uses:
/// its ids and times are in the future; its positions come from the accounts.
async fn transfer_from_a_fast_clock(app: &TestApp, from: &Fan, to: &Fan, cents: i64) {
    let ahead = paiecashfan::db::now_ms() + 60_000;
    let id_at = |ms: i64| {
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            (ms / 1000) as u64,
            ((ms % 1000) * 1_000_000) as u32,
        ))
        .to_string()
    };
    let mut tx = app.state.db.begin_write().await.unwrap();
    let (debit, debit_after, debit_pos) = fast_side(tx.conn(), &from.id, -cents, ahead).await;
    let (credit, credit_after, credit_pos) = fast_side(tx.conn(), &to.id, cents, ahead).await;
    let op = id_at(ahead);
    sqlx::query("INSERT INTO ledger_operations (id, kind, user_id, created_at) VALUES ($1, 'transfer', $2, $3)")
        .bind(&op)
        .bind(&from.id)
        .bind(ahead)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO transfers (id, operation_id, debit_account_id, credit_account_id, amount, currency, kind,
                                debit_balance_after, credit_balance_after, created_at, debit_position, credit_position)
         VALUES ($1, $2, $3, $4, $5, 'EUR', 'transfer', $6, $7, $8, $9, $10)",
    )
    .bind(id_at(ahead))
    .bind(&op)
    .bind(debit)
    .bind(credit)
    .bind(cents)
    .bind(debit_after)
    .bind(credit_after)
    .bind(ahead)
    .bind(debit_pos)
    .bind(credit_pos)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
}
