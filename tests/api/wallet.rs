use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, TestApp, balance, deposit, history, spawn_app, spawn_with, verify_ok,
};

both_engines!(
    deposit_send_and_both_histories,
    history_pages_with_cursor_and_offset,
    send_refuses_self_unknown_and_overdraft,
    bad_amounts_are_422_and_move_nothing,
    idempotent_retries_replay_without_charging_again,
    concurrent_duplicates_charge_once,
    deposit_limits_hold_under_concurrency,
    a_dead_processs_reservation_does_not_block_retries,
    history_follows_each_balance_whatever_the_clocks,
    admins_verify_the_ledger_and_fans_cannot,
    currencies_are_kept_apart,
);

async fn deposit_send_and_both_histories(engine: Engine) {
    let app = spawn_app(engine).await;
    let zoe = app.fan("Zoé", "AS_MONACO").await;
    let karim = app.fan("Karim", "OM").await;
    let r = app
        .get("/api/wallet/balance")
        .token(&zoe.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["balance"], "0.00");
    assert_eq!(r.body["currency"], "EUR");

    let d = deposit(&app, &zoe, "50.00").await;
    assert_eq!(d["status"], "completed");
    assert_eq!(d["newBalance"], "50.00");
    assert_eq!(d["transaction"]["type"], "deposit");
    assert_eq!(d["transaction"]["direction"], "in");

    let s = app
        .post("/api/wallet/send")
        .token(&zoe.token)
        .json(&json!({"recipientId": karim.id, "amount": "12.50", "note": "pour les places"}))
        .send()
        .await
        .expect(201);
    assert_eq!(s.body["newBalance"], "37.50");
    let t = &s.body["transaction"];
    assert_eq!(t["direction"], "out");
    assert_eq!(t["amount"], "12.50");
    assert_eq!(t["balanceAfter"], "37.50");
    assert_eq!(t["counterparty"]["name"], "Karim");
    let transfer_id = t["id"].as_str().unwrap().to_owned();

    // By e-mail too, and with a JSON number.
    app.post("/api/wallet/send")
        .token(&zoe.token)
        .json(&json!({"recipientEmail": karim.email.to_uppercase(), "amount": 2.5}))
        .send()
        .await
        .expect(201);

    assert_eq!(balance(&app, &zoe).await, "35.00");
    assert_eq!(balance(&app, &karim).await, "15.00");
    let kh = history(&app, &karim).await;
    assert_eq!(kh.len(), 2);
    let received = kh.iter().find(|t| t["id"] == transfer_id.as_str()).unwrap();
    assert_eq!(received["direction"], "in");
    assert_eq!(received["balanceAfter"], "12.50");
    assert_eq!(received["counterparty"]["name"], "Zoé");
    assert_eq!(received["note"], "pour les places");
    // A name, never an e-mail.
    assert!(!serde_json::to_string(&kh).unwrap().contains(&zoe.email));

    let zh = history(&app, &zoe).await;
    assert_eq!(zh.len(), 3);
    assert_eq!(zh[2]["type"], "deposit", "newest first");

    // One transaction: its owners see it, nobody else does.
    app.get(&format!("/api/wallet/transactions/{transfer_id}"))
        .token(&karim.token)
        .send()
        .await
        .expect(200);
    let outsider = app.fan("Outsider", "PSG").await;
    app.get(&format!("/api/wallet/transactions/{transfer_id}"))
        .token(&outsider.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get("/api/wallet/balance")
        .send()
        .await
        .expect_problem(401, "unauthorized");

    // The recipient was notified.
    let n = app
        .get("/api/notifications")
        .token(&karim.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["unread"], 2);
    assert_eq!(n.body["notifications"][0]["kind"], "wallet.received");
    let nid = n.body["notifications"][0]["id"].as_str().unwrap();
    app.post(&format!("/api/notifications/{nid}/read"))
        .token(&karim.token)
        .send()
        .await
        .expect(204);
    app.post(&format!("/api/notifications/{nid}/read"))
        .token(&zoe.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    let stats = app.get("/api/stats").send().await.expect(200);
    assert!(stats.body["transactions"].as_i64().unwrap() >= 3);
    verify_ok(&app).await;
}

async fn history_pages_with_cursor_and_offset(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Pager", "PSG").await;
    let b = app.fan("Paged", "PSG").await;
    deposit(&app, &a, "100.00").await;
    for i in 1..=5 {
        app.post("/api/wallet/send")
            .token(&a.token)
            .json(&json!({"recipientId": b.id, "amount": format!("{i}.00")}))
            .send()
            .await
            .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/wallet/transactions?limit=2&cursor={c}"),
            None => "/api/wallet/transactions?limit=2".into(),
        };
        let r = app.get(&path).token(&a.token).send().await.expect(200);
        let page = r.body["transactions"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "5 transfers and the deposit, each once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");
    // v1.0 offset paging.
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

async fn send_refuses_self_unknown_and_overdraft(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Sender", "PSG").await;
    let b = app.fan("Receiver", "PSG").await;
    deposit(&app, &a, "20.00").await;
    let send = |body: Value| app.post("/api/wallet/send").token(&a.token).json(&body);
    send(json!({"recipientId": a.id, "amount": "1.00"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    send(json!({"recipientEmail": a.email, "amount": "1.00"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    send(json!({"recipientId": uuid::Uuid::now_v7().to_string(), "amount": "1.00"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    send(json!({"recipientEmail": "ghost@example.com", "amount": "1.00"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    send(json!({"amount": "1.00"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    send(json!({"recipientId": b.id, "amount": "20.01"}))
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &a).await, "20.00");
    assert_eq!(balance(&app, &b).await, "0.00");
    // Exactly the whole balance is fine.
    send(json!({"recipientId": b.id, "amount": "20.00"}))
        .send()
        .await
        .expect(201);
    assert_eq!(balance(&app, &a).await, "0.00");
    send(json!({"recipientId": b.id, "amount": "0.01"}))
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
    verify_ok(&app).await;
}

async fn bad_amounts_are_422_and_move_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Careful", "PSG").await;
    let b = app.fan("Payee", "PSG").await;
    deposit(&app, &a, "100.00").await;
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
        let r = app
            .post("/api/wallet/send")
            .token(&a.token)
            .json(&json!({"recipientId": b.id, "amount": amount}))
            .send()
            .await;
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
    // Unknown currency, and XOF with decimals.
    app.post("/api/wallet/send")
        .token(&a.token)
        .json(&json!({"recipientId": b.id, "amount": "5.00", "currency": "JPY"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/wallet/deposit")
        .token(&a.token)
        .json(&json!({"amount": "1500.5", "method": "sandbox", "currency": "XOF"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/wallet/deposit")
        .token(&a.token)
        .json(&json!({"amount": "5.00", "method": "bitcoin"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(balance(&app, &a).await, "100.00");
    assert_eq!(balance(&app, &b).await, "0.00");
    assert_eq!(history(&app, &a).await.len(), 1);
    verify_ok(&app).await;
}

async fn idempotent_retries_replay_without_charging_again(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Retrier", "PSG").await;
    let b = app.fan("Target", "PSG").await;
    let dep = |key: &str, amount: &str| {
        app.post("/api/wallet/deposit")
            .token(&a.token)
            .header("idempotency-key", key)
            .json(&json!({"amount": amount, "method": "sandbox"}))
    };
    let first = dep("dep-1", "40.00").send().await.expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = dep("dep-1", "40.00").send().await.expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body, "the first answer, replayed");
    assert_eq!(balance(&app, &a).await, "40.00");
    // Same key, another body.
    dep("dep-1", "41.00")
        .send()
        .await
        .expect_problem(422, "idempotency_key_reused");

    let send = |key: &str, body: Value| {
        app.post("/api/wallet/send")
            .token(&a.token)
            .header("idempotency-key", key)
            .json(&body)
    };
    let body = json!({"recipientId": b.id, "amount": "15.00"});
    let s1 = send("send-1", body.clone()).send().await.expect(201);
    // Key order and spacing do not make it another request.
    let reordered = json!({"amount": "15.00", "recipientId": b.id});
    let s2 = send("send-1", reordered).send().await.expect(201);
    assert_eq!(s2.headers["idempotent-replayed"], "true");
    assert_eq!(s1.body["transaction"]["id"], s2.body["transaction"]["id"]);
    assert_eq!(balance(&app, &a).await, "25.00");
    assert_eq!(balance(&app, &b).await, "15.00");

    // A failure is replayed too, and still charges nothing.
    let big = json!({"recipientId": b.id, "amount": "1000.00"});
    send("send-2", big.clone())
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
    let replay = send("send-2", big).send().await.expect(409);
    assert_eq!(replay.headers["idempotent-replayed"], "true");

    // A key's answer is the first one stored: once the money is there, a
    // retry of a refused transfer still gets the refusal and moves nothing.
    let thirty = json!({"recipientId": b.id, "amount": "30.00"});
    send("send-3", thirty.clone())
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
    deposit(&app, &a, "10.00").await;
    let again = send("send-3", thirty).send().await.expect(409);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.code(), "insufficient_funds");
    // Same key, another body: refused, even a body that could be paid.
    for key in ["send-1", "send-3"] {
        send(key, json!({"recipientId": b.id, "amount": "1.00"}))
            .send()
            .await
            .expect_problem(422, "idempotency_key_reused");
    }
    assert_eq!(balance(&app, &a).await, "35.00");
    assert_eq!(balance(&app, &b).await, "15.00");

    // Keys belong to one user: another fan may use the same string.
    deposit(&app, &b, "1.00").await;
    app.post("/api/wallet/send")
        .token(&b.token)
        .header("idempotency-key", "send-1")
        .json(&json!({"recipientId": a.id, "amount": "1.00"}))
        .send()
        .await
        .expect(201);
    // Invalid keys.
    send(&"k".repeat(256), body.clone())
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Without a token the handler's 401 comes first, nothing is reserved.
    app.post("/api/wallet/send")
        .header("idempotency-key", "anon")
        .json(&body)
        .send()
        .await
        .expect_problem(401, "unauthorized");
    assert_eq!(balance(&app, &a).await, "36.00");
    verify_ok(&app).await;
}

async fn concurrent_duplicates_charge_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Clicker", "PSG").await;
    let b = app.fan("Lucky", "PSG").await;
    deposit(&app, &a, "100.00").await;
    let body = json!({"recipientId": b.id, "amount": "30.00"});
    let futures = (0..12).map(|_| {
        app.post("/api/wallet/send")
            .token(&a.token)
            .header("idempotency-key", "double-click")
            .json(&body)
            .send()
    });
    let results = futures::future::join_all(futures).await;
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
    let again = app
        .post("/api/wallet/send")
        .token(&a.token)
        .header("idempotency-key", "double-click")
        .json(&body)
        .send()
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert!(ids.contains(again.body["transaction"]["id"].as_str().unwrap()));
    assert_eq!(balance(&app, &a).await, "70.00");
    assert_eq!(balance(&app, &b).await, "30.00");
    verify_ok(&app).await;
}

async fn deposit_limits_hold_under_concurrency(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("DEPOSIT_LIMITS".into(), "EUR:100:150".into());
    })
    .await;
    let a = app.fan("Limited", "PSG").await;
    app.post("/api/wallet/deposit")
        .token(&a.token)
        .json(&json!({"amount": "100.01", "method": "sandbox"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let futures = (0..10).map(|_| {
        app.post("/api/wallet/deposit")
            .token(&a.token)
            .json(&json!({"amount": "20.00", "method": "sandbox"}))
            .send()
    });
    let results = futures::future::join_all(futures).await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "daily_limit_exceeded");
    }
    assert_eq!(ok, 7, "7 x 20.00 fit in 150.00 a day");
    assert_eq!(balance(&app, &a).await, "140.00");
    app.post("/api/wallet/deposit")
        .token(&a.token)
        .json(&json!({"amount": "10.00", "method": "sandbox"}))
        .send()
        .await
        .expect(201);
    app.post("/api/wallet/deposit")
        .token(&a.token)
        .json(&json!({"amount": "0.01", "method": "sandbox"}))
        .send()
        .await
        .expect_problem(409, "daily_limit_exceeded");
    verify_ok(&app).await;
}

async fn admins_verify_the_ledger_and_fans_cannot(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Curious", "PSG").await;
    deposit(&app, &fan, "10.00").await;
    app.get("/api/admin/ledger/verify")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let staff = app.staff(Some("PSG")).await;
    app.get("/api/admin/ledger/verify")
        .token(&staff.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let admin = app.staff(None).await;
    let r = app
        .get("/api/admin/ledger/verify")
        .token(&admin.token)
        .send()
        .await
        .expect(200);
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

    // Tampering with a stored balance is caught.
    let mut tx = app.state.db.begin_write().await.unwrap();
    sqlx::query("UPDATE accounts SET balance = balance + 1 WHERE kind = 'user' AND owner_id = $1")
        .bind(&fan.id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r = app
        .get("/api/admin/ledger/verify")
        .token(&admin.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.body["mismatches"].as_array().unwrap().len(), 1);

    // Transfers are immutable in the database itself.
    let mut tx = app.state.db.begin_write().await.unwrap();
    let edit = sqlx::query("UPDATE transfers SET amount = 1")
        .execute(tx.conn())
        .await;
    assert!(edit.is_err(), "transfers must not be editable");
}

async fn currencies_are_kept_apart(engine: Engine) {
    let app = spawn_app(engine).await;
    let wydad = app.fan("Wydadi", "WYDAD_AC").await;
    let monaco = app.fan("Monegasque", "AS_MONACO").await;
    // The primary currency follows the favourite club.
    let r = app
        .get("/api/wallet/balance")
        .token(&wydad.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["currency"], "MAD");
    app.post("/api/wallet/deposit")
        .token(&wydad.token)
        .json(&json!({"amount": "300.00", "method": "sandbox"}))
        .send()
        .await
        .expect(201);
    app.post("/api/wallet/deposit")
        .token(&wydad.token)
        .json(&json!({"amount": "5000", "method": "sandbox", "currency": "XOF"}))
        .send()
        .await
        .expect(201);
    // MAD goes out as MAD; the recipient gets a MAD account, not euros.
    app.post("/api/wallet/send")
        .token(&wydad.token)
        .json(&json!({"recipientId": monaco.id, "amount": "100.00"}))
        .send()
        .await
        .expect(201);
    app.post("/api/wallet/send")
        .token(&wydad.token)
        .json(&json!({"recipientId": monaco.id, "amount": "1500", "currency": "XOF"}))
        .send()
        .await
        .expect(201);
    // No EUR to send.
    app.post("/api/wallet/send")
        .token(&wydad.token)
        .json(&json!({"recipientId": monaco.id, "amount": "1.00", "currency": "EUR"}))
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
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

async fn a_dead_processs_reservation_does_not_block_retries(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Unlucky Timing", "PSG").await;
    let body = json!({"amount": "10.00", "method": "sandbox"});
    let retry = |key: &'static str| {
        app.post("/api/wallet/deposit")
            .token(&fan.token)
            .header("idempotency-key", key)
            .json(&body)
    };
    // A live process (beating its heartbeat) is still working on its key:
    // the retry is told so.
    leave_reservation(&app, &fan, "k-live", &body, &app.state.instance).await;
    retry("k-live")
        .send()
        .await
        .expect_problem(409, "idempotency_request_in_flight");
    // A process that died (no heartbeat) left one a second ago: the retry
    // runs at once instead of waiting out the two-minute lease...
    leave_reservation(&app, &fan, "k-dead", &body, "a-killed-process").await;
    let first = retry("k-dead").send().await.expect(201);
    assert_eq!(balance(&app, &fan).await, "10.00");
    // ... and its answer, stored with the money, is the key's from now on.
    let again = retry("k-dead").send().await.expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(balance(&app, &fan).await, "10.00");
    verify_ok(&app).await;
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

async fn history_follows_each_balance_whatever_the_clocks(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.fan("Early Bird", "PSG").await;
    let b = app.fan("Late Owl", "PSG").await;
    deposit(&app, &a, "100.00").await;
    deposit(&app, &b, "1.00").await;
    // Another instance, its clock a minute ahead, moves 10.00 ...
    transfer_from_a_fast_clock(&app, &a, &b, 1000).await;
    // ... then this one, on time, moves 5.00: later, though its id and time
    // are earlier.
    app.post("/api/wallet/send")
        .token(&a.token)
        .json(&json!({"recipientId": b.id, "amount": "5.00"}))
        .send()
        .await
        .expect(201);
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
    // Pages follow the same order.
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
