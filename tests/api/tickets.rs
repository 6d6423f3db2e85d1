use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, balance, deposit, spawn_app, spawn_with, verify_ok};

both_engines!(
    demo_matches_are_listed_with_categories,
    a_fan_buys_tickets_at_the_servers_price,
    concurrent_buyers_never_oversell,
    purchase_retries_buy_once,
    signed_qr_codes_at_the_gate,
    transfer_revokes_the_old_qr_and_extends_the_chain,
    refunds_return_the_money_and_free_the_seat,
    offline_gate_kit_and_batch_upload,
    fans_cannot_touch_other_fans_tickets,
    staff_manage_their_clubs_matches_only,
);

fn rfc3339_in(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A PSG home match created by PSG staff; returns (event, staff).
async fn psg_match(
    app: &TestApp,
    capacity: i64,
    price: &str,
    per_fan: i64,
    kickoff_in_hours: i64,
) -> (Value, Fan) {
    let staff = app.staff(Some("PSG")).await;
    let r = app
        .post("/api/admin/events")
        .token(&staff.token)
        .json(&json!({
            "homeClub": "PSG", "awayClub": "OM", "competition": "Ligue 1", "venue": "Parc des Princes",
            "kickoff": rfc3339_in(kickoff_in_hours), "perFanLimit": per_fan,
            "categories": [{"name": "Auteuil", "price": price, "capacity": capacity},
                           {"name": "Loge", "price": "200.00", "capacity": 2}]
        }))
        .send()
        .await
        .expect(201);
    (r.body["event"].clone(), staff)
}

async fn rich_fan(app: &TestApp, name: &str) -> Fan {
    let f = app.fan(name, "PSG").await;
    deposit(app, &f, "500.00").await;
    f
}

async fn buy(app: &TestApp, fan: &Fan, event: &Value, quantity: i64) -> crate::helpers::Resp {
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "Auteuil", "quantity": quantity}))
        .send()
        .await
}

async fn my_ticket_count(app: &TestApp, fan: &Fan) -> usize {
    let mine = app
        .get("/api/tickets/my-tickets")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    mine.body["tickets"].as_array().unwrap().len()
}

/// Seats left in the event's first category, as the public event page says.
async fn available(app: &TestApp, event: &Value) -> i64 {
    let e = app
        .get(&format!(
            "/api/tickets/events/{}",
            event["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    e.body["event"]["categories"][0]["available"]
        .as_i64()
        .unwrap()
}

async fn scan(app: &TestApp, staff: &Fan, body: Value) -> Value {
    app.post("/api/tickets/checkin")
        .token(&staff.token)
        .json(&body)
        .send()
        .await
        .expect(200)
        .body
}

async fn demo_matches_are_listed_with_categories(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/tickets/events").send().await.expect(200);
    let events = r.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "v1.0's three matches");
    for e in events {
        assert_eq!(e["status"], "on_sale");
        let cats = e["categories"].as_array().unwrap();
        assert_eq!(cats.len(), 3);
        let total: i64 = cats.iter().map(|c| c["available"].as_i64().unwrap()).sum();
        assert_eq!(e["seatsAvailable"], total);
        assert!(total < 200, "modest demo capacities");
        assert_eq!(e["priceFrom"], cats[0]["price"]);
        assert_eq!(e["date"], e["kickoff"]);
    }
    let psg = app
        .get("/api/tickets/events?club=PSG")
        .send()
        .await
        .expect(200);
    let psg = psg.body["events"].as_array().unwrap();
    assert_eq!(psg.len(), 1);
    assert_eq!(psg[0]["homeClub"], "AS_MONACO");
    assert_eq!(psg[0]["awayClub"], "PSG");
    assert_eq!(psg[0]["currency"], "EUR");
    let wydad = app
        .get("/api/tickets/events?club=WYDAD_AC")
        .send()
        .await
        .expect(200);
    assert_eq!(wydad.body["events"][0]["currency"], "MAD");
    let id = psg[0]["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/tickets/events/{id}"))
        .send()
        .await
        .expect(200);
    assert_eq!(one.body["event"]["id"], id);
    app.get("/api/tickets/events/nope")
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn a_fan_buys_tickets_at_the_servers_price(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    // The v1.0 price guard.
    let r = app
        .post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "auteuil", "price": "35.00"}))
        .send()
        .await
        .expect_problem(409, "price_changed");
    assert_eq!(r.body["currentPrice"], "40.00");
    assert_eq!(balance(&app, &fan).await, "500.00");

    let r = app
        .post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "Auteuil", "quantity": 2, "price": 40, "holderName": "Léa Fan"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["newBalance"], "420.00");
    let tickets = r.body["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert_eq!(r.body["ticket"], tickets[0]);
    let serials: HashSet<i64> = tickets
        .iter()
        .map(|t| t["serial"].as_i64().unwrap())
        .collect();
    assert_eq!(serials.len(), 2);
    for t in tickets {
        assert_eq!(t["status"], "valid");
        assert_eq!(t["version"], 1);
        assert_eq!(t["price"], "40.00");
        assert_eq!(t["holderName"], "Léa Fan");
        assert!(t["qrCode"].as_str().unwrap().starts_with("PCF1."));
    }
    // By category id too.
    let cat_id = event["categories"][0]["id"].as_str().unwrap();
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": cat_id}))
        .send()
        .await
        .expect(201);
    assert_eq!(my_ticket_count(&app, &fan).await, 3);
    assert_eq!(available(&app, &event).await, 27);

    // Per-fan limit of 4: one more is fine, two more are not.
    buy(&app, &fan, &event, 2)
        .await
        .expect_problem(409, "ticket_limit_reached");
    buy(&app, &fan, &event, 1).await.expect(201);
    buy(&app, &fan, &event, 1)
        .await
        .expect_problem(409, "ticket_limit_reached");
    buy(&app, &fan, &event, 5)
        .await
        .expect_problem(422, "validation_failed");

    // Not enough money: nothing sold, nothing charged.
    let poor = app.fan("Poor", "PSG").await;
    deposit(&app, &poor, "39.99").await;
    buy(&app, &poor, &event, 1)
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &poor).await, "39.99");
    assert_eq!(available(&app, &event).await, 26);

    // The buyer's history shows the club; the club got 90%, the platform 10%.
    let h = app
        .get("/api/wallet/transactions")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let ticket_tx: Vec<&Value> = h.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "ticket")
        .collect();
    assert!(
        ticket_tx
            .iter()
            .any(|t| t["counterparty"]["name"] == "Paris Saint-Germain" && t["amount"] == "72.00")
    );
    verify_ok(&app).await;

    // Unknown event / category, bad input.
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": "nope", "category": "Auteuil"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "Nope"}))
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "Auteuil", "price": "40.001"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn purchase_retries_buy_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 10, "25.00", 4, 72).await;
    let fan = rich_fan(&app, "Retrier").await;
    let purchase = |key: &str, quantity: i64| {
        app.post("/api/tickets/purchase")
            .token(&fan.token)
            .header("idempotency-key", key)
            .json(&json!({"eventId": event["id"], "category": "Auteuil", "quantity": quantity}))
            .send()
    };
    // A double-click: one purchase runs; the other is told it is in flight,
    // or (arriving after it) replays it.
    let (a, b) = futures::join!(purchase("buy-1", 2), purchase("buy-1", 2));
    let mut ticket_ids = HashSet::new();
    let mut ran = 0;
    for r in [&a, &b] {
        match r.status.as_u16() {
            201 => {
                for t in r.body["tickets"].as_array().unwrap() {
                    ticket_ids.insert(t["id"].as_str().unwrap().to_owned());
                }
                if r.headers.get("idempotent-replayed").is_none() {
                    ran += 1;
                }
            }
            409 => assert_eq!(r.code(), "idempotency_request_in_flight", "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ran, 1, "one purchase ran");
    assert_eq!(
        ticket_ids.len(),
        2,
        "every answer holds the same two tickets"
    );
    // A later retry replays the same tickets, QR codes included.
    let again = purchase("buy-1", 2).await.expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    for t in again.body["tickets"].as_array().unwrap() {
        assert!(ticket_ids.contains(t["id"].as_str().unwrap()));
        assert!(t["qrCode"].as_str().unwrap().starts_with("PCF1."));
    }
    // The same key for another purchase is refused, even one that would fit.
    purchase("buy-1", 1)
        .await
        .expect_problem(422, "idempotency_key_reused");
    // A retry that now meets the per-fan limit still gets its first answer.
    purchase("buy-2", 2).await.expect(201);
    let late = purchase("buy-1", 2).await.expect(201);
    assert_eq!(late.headers["idempotent-replayed"], "true");

    assert_eq!(balance(&app, &fan).await, "400.00");
    assert_eq!(my_ticket_count(&app, &fan).await, 4);
    assert_eq!(available(&app, &event).await, 6);
    verify_ok(&app).await;
}

async fn concurrent_buyers_never_oversell(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 5, "10.00", 4, 72).await;
    let mut fans = Vec::new();
    for i in 0..12 {
        fans.push(rich_fan(&app, &format!("Rusher {i}")).await);
    }
    let results = futures::future::join_all(fans.iter().map(|f| buy(&app, f, &event, 1))).await;
    let sold = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "sold_out");
    }
    assert_eq!(sold, 5, "exactly the capacity");
    assert_eq!(available(&app, &event).await, 0);
    let mut paid = 0;
    for f in &fans {
        if balance(&app, f).await == "490.00" {
            paid += 1;
        }
    }
    assert_eq!(paid, 5, "exactly the buyers paid");
    verify_ok(&app).await;
}

async fn signed_qr_codes_at_the_gate(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 30, "10.00", 4, 72).await;
    let fan = rich_fan(&app, "Gate Fan").await;
    let r = buy(&app, &fan, &event, 3).await.expect(201);
    let ids: Vec<String> = r.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let eid = event["id"].as_str().unwrap();

    let qr = app
        .get(&format!("/api/tickets/{}/qr", ids[0]))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let token = qr.body["qrCode"].as_str().unwrap().to_owned();
    assert_eq!(qr.body["ticketId"], ids[0].as_str());
    assert_eq!(qr.body["eventId"], eid);
    // The PNG decodes back to the token; the SVG is an SVG.
    let png = app
        .client
        .get(format!("{}/api/tickets/{}/qr?format=png", app.base, ids[0]))
        .bearer_auth(&fan.token)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(
        crate::helpers::decode_png(&png.bytes().await.unwrap()),
        token
    );
    let svg = app
        .get(&format!("/api/tickets/{}/qr?format=svg", ids[0]))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(svg.text.contains("<svg"));
    app.get(&format!("/api/tickets/{}/qr?format=gif", ids[0]))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(422, "validation_failed");

    // Fans and other clubs' staff cannot scan.
    app.post("/api/tickets/checkin")
        .token(&fan.token)
        .json(&json!({"qrCode": token}))
        .send()
        .await
        .expect_problem(403, "forbidden");
    let om_staff = app.staff(Some("OM")).await;
    app.post("/api/tickets/checkin")
        .token(&om_staff.token)
        .json(&json!({"qrCode": token, "eventId": eid}))
        .send()
        .await
        .expect_problem(403, "forbidden");

    let first = scan(
        &app,
        &staff,
        json!({"qrCode": token, "eventId": eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["ticket"]["id"], ids[0].as_str());
    // A retry of the same scan repeats its answer.
    let retry = scan(
        &app,
        &staff,
        json!({"qrCode": token, "eventId": eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    assert_eq!(retry["status"], "ok");
    assert_eq!(retry["replayed"], true);
    // Another scan is refused, naming the first one.
    let again = scan(
        &app,
        &staff,
        json!({"qrCode": token, "eventId": eid, "gate": "B2"}),
    )
    .await;
    assert_eq!(again["status"], "already_redeemed");
    assert_eq!(again["firstScan"]["gate"], "A1");
    // Exit, then re-entry.
    let out = scan(&app, &staff, json!({"qrCode": token, "type": "exit"})).await;
    assert_eq!(out["status"], "ok");
    let back = scan(&app, &staff, json!({"qrCode": token, "gate": "C3"})).await;
    assert_eq!(back["status"], "ok", "{back}");
    let t = app
        .get(&format!("/api/tickets/{}", ids[0]))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(t.body["ticket"]["status"], "used");

    // Two scans of one ticket at the same moment: exactly one ok.
    let token2 = app
        .get(&format!("/api/tickets/{}/qr", ids[1]))
        .token(&fan.token)
        .send()
        .await
        .body["qrCode"]
        .clone();
    let both = futures::future::join_all((0..6).map(|i| {
        app.post("/api/tickets/checkin")
            .token(&staff.token)
            .json(&json!({"qrCode": token2, "gate": format!("G{i}")}))
            .send()
    }))
    .await;
    let oks = both.iter().filter(|r| r.body["status"] == "ok").count();
    assert_eq!(
        oks,
        1,
        "{:?}",
        both.iter()
            .map(|r| r.body["status"].clone())
            .collect::<Vec<_>>()
    );
    assert!(
        both.iter()
            .all(|r| r.body["status"] == "ok" || r.body["status"] == "already_redeemed")
    );

    // Forgeries and wrong matches.
    let mut forged = token.clone().into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": forged, "eventId": eid})).await["status"],
        "invalid"
    );
    assert_eq!(
        scan(
            &app,
            &staff,
            json!({"qrCode": "QR-1A2B3C4D", "eventId": eid})
        )
        .await["status"],
        "invalid"
    );
    let token3 = app
        .get(&format!("/api/tickets/{}/qr", ids[2]))
        .token(&fan.token)
        .send()
        .await
        .body["qrCode"]
        .clone();
    let (other, other_staff) = psg_match(&app, 5, "10.00", 4, 96).await;
    let wrong = scan(
        &app,
        &other_staff,
        json!({"qrCode": token3, "eventId": other["id"]}),
    )
    .await;
    assert_eq!(wrong["status"], "wrong_event");
    // The wrong-event scan did not use the ticket.
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": token3, "eventId": eid})).await["status"],
        "ok"
    );
    // Public keys verify tokens offline.
    let keys = app.get("/api/keys").send().await.expect(200);
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(keys.body["keys"][0]["publicKey"].as_str().unwrap())
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
    let claims = paiecashfan::tickets::signing::verify_ticket(&token, &[vk]).unwrap();
    assert_eq!(claims.ticket_id.to_string(), ids[0]);
}

async fn transfer_revokes_the_old_qr_and_extends_the_chain(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 30, "10.00", 4, 72).await;
    let alice = rich_fan(&app, "Alice").await;
    let bob = app.fan("Bob", "OM").await;
    let t = buy(&app, &alice, &event, 1).await.expect(201).body["ticket"].clone();
    let id = t["id"].as_str().unwrap();
    let old_qr = t["qrCode"].as_str().unwrap().to_owned();

    let r = app
        .post(&format!("/api/tickets/{id}/transfer"))
        .token(&alice.token)
        .json(&json!({"recipientEmail": bob.email}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["ticket"]["version"], 2);
    assert_eq!(r.body["ticket"]["holderName"], "Bob");
    app.get(&format!("/api/tickets/{id}"))
        .token(&alice.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    let mine = app
        .get(&format!("/api/tickets/{id}"))
        .token(&bob.token)
        .send()
        .await
        .expect(200);
    let new_qr = mine.body["ticket"]["qrCode"].as_str().unwrap().to_owned();
    assert_ne!(new_qr, old_qr);
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": old_qr})).await["status"],
        "revoked"
    );
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": new_qr})).await["status"],
        "ok"
    );
    // A used ticket cannot be passed on.
    app.post(&format!("/api/tickets/{id}/transfer"))
        .token(&bob.token)
        .json(&json!({"recipientId": alice.id}))
        .send()
        .await
        .expect_problem(409, "not_transferable");

    // Bob sees the link he is part of, not whom Alice got the ticket from.
    let bobs = app
        .get(&format!("/api/tickets/{id}/provenance"))
        .token(&bob.token)
        .send()
        .await
        .expect(200);
    let bobs = bobs.body["entries"].as_array().unwrap();
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["kind"], "transferred");
    assert_eq!(bobs[0]["to"], bob.id.as_str());
    // The club's staff see the chain: issued to Alice, transferred to Bob;
    // signed, linked, verifiable.
    let p = app
        .get(&format!("/api/tickets/{id}/provenance"))
        .token(&staff.token)
        .send()
        .await
        .expect(200);
    let entries = p.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["kind"], "issued");
    assert_eq!(entries[1]["kind"], "transferred");
    assert_eq!(entries[1]["prevHash"], entries[0]["hash"]);
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p.body["publicKey"].as_str().unwrap())
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
    use paiecashfan::tickets::signing::{ChainEntry, verify_chain};
    let chain: Vec<(ChainEntry, String, String)> = entries
        .iter()
        .map(|e| {
            (
                ChainEntry {
                    seq: e["seq"].as_i64().unwrap(),
                    kind: e["kind"].as_str().unwrap().into(),
                    ticket_id: id.into(),
                    version: e["version"].as_i64().unwrap(),
                    from: e["from"].as_str().map(str::to_owned),
                    to: e["to"].as_str().map(str::to_owned),
                    at: e["atMs"].as_i64().unwrap(),
                    prev_hash: e["prevHash"].as_str().unwrap().into(),
                },
                e["hash"].as_str().unwrap().into(),
                e["signature"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(verify_chain(&chain, &vk));
    let mut tampered = chain.clone();
    tampered[1].0.to = Some(alice.id.clone());
    assert!(!verify_chain(&tampered, &vk));
    // Alice was an owner: she reads both links she was part of; a stranger
    // reads nothing.
    let alices = app
        .get(&format!("/api/tickets/{id}/provenance"))
        .token(&alice.token)
        .send()
        .await
        .expect(200);
    assert_eq!(alices.body["entries"].as_array().unwrap().len(), 2);
    let stranger = app.fan("Stranger", "OL").await;
    app.get(&format!("/api/tickets/{id}/provenance"))
        .token(&stranger.token)
        .send()
        .await
        .expect_problem(404, "not_found");

    // EIP-721 metadata.
    let m = app
        .get(&format!("/api/tickets/{id}/metadata"))
        .send()
        .await
        .expect(200);
    assert!(
        m.body["name"]
            .as_str()
            .unwrap()
            .contains("Paris Saint-Germain vs Olympique de Marseille")
    );
    assert!(
        m.body["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let traits: HashSet<&str> = m.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["trait_type"].as_str().unwrap())
        .collect();
    for k in [
        "match",
        "competition",
        "kickoff",
        "venue",
        "category",
        "serial",
    ] {
        assert!(traits.contains(k), "{k}");
    }
    let n = app
        .get("/api/notifications")
        .token(&bob.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["notifications"][0]["kind"], "ticket.received");
}

async fn refunds_return_the_money_and_free_the_seat(engine: Engine) {
    let app = spawn_app(engine.clone()).await;
    let (event, staff) = psg_match(&app, 3, "33.33", 4, 72).await;
    let eid = event["id"].as_str().unwrap().to_owned();
    let fan = rich_fan(&app, "Refunder").await;
    let t = buy(&app, &fan, &event, 1).await.expect(201).body["ticket"].clone();
    let id = t["id"].as_str().unwrap();
    assert_eq!(balance(&app, &fan).await, "466.67");
    let r = app
        .post(&format!("/api/tickets/{id}/refund"))
        .token(&fan.token)
        .header("idempotency-key", "refund-1")
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["refunded"], "33.33");
    assert_eq!(
        r.body["newBalance"], "500.00",
        "every cent, commission included"
    );
    assert_eq!(r.body["ticket"]["status"], "refunded");
    // A retry replays; a second refund is refused.
    let replay = app
        .post(&format!("/api/tickets/{id}/refund"))
        .token(&fan.token)
        .header("idempotency-key", "refund-1")
        .send()
        .await
        .expect(200);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    app.post(&format!("/api/tickets/{id}/refund"))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(409, "not_refundable");
    assert_eq!(balance(&app, &fan).await, "500.00");
    let e = app
        .get(&format!("/api/tickets/events/{eid}"))
        .send()
        .await
        .expect(200);
    assert_eq!(
        e.body["event"]["categories"][0]["available"], 3,
        "the seat is free again"
    );
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": t["qrCode"]})).await["status"],
        "refunded"
    );

    // A ticket received from someone else cannot be cashed in.
    let t2 = buy(&app, &fan, &event, 1).await.expect(201).body["ticket"].clone();
    let friend = app.fan("Friend", "PSG").await;
    app.post(&format!(
        "/api/tickets/{}/transfer",
        t2["id"].as_str().unwrap()
    ))
    .token(&fan.token)
    .json(&json!({"recipientId": friend.id}))
    .send()
    .await
    .expect(200);
    app.post(&format!(
        "/api/tickets/{}/refund",
        t2["id"].as_str().unwrap()
    ))
    .token(&friend.token)
    .send()
    .await
    .expect_problem(409, "not_refundable");
    verify_ok(&app).await;

    // After the cut-off: refused.
    let late = spawn_with(engine, |v| {
        v.insert("TICKET_REFUND_CUTOFF_HOURS".into(), "100".into());
    })
    .await;
    let (event, _) = psg_match(&late, 3, "10.00", 4, 72).await;
    let fan = rich_fan(&late, "Late").await;
    let t = buy(&late, &fan, &event, 1).await.expect(201).body["ticket"].clone();
    late.post(&format!(
        "/api/tickets/{}/refund",
        t["id"].as_str().unwrap()
    ))
    .token(&fan.token)
    .send()
    .await
    .expect_problem(409, "refund_window_closed");
}

async fn offline_gate_kit_and_batch_upload(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 30, "10.00", 4, 72).await;
    let eid = event["id"].as_str().unwrap().to_owned();
    let fan = rich_fan(&app, "Offline").await;
    let other = app.fan("Receiver", "PSG").await;
    let bought = buy(&app, &fan, &event, 4).await.expect(201).body["tickets"].clone();
    let t: Vec<(String, String)> = bought
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["qrCode"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    let kit = app
        .get(&format!("/api/tickets/events/{eid}/gate-kit"))
        .token(&staff.token)
        .send()
        .await
        .expect(200);
    assert_eq!(kit.body["full"], true);
    let keys = app.get("/api/keys").send().await.expect(200);
    assert_eq!(kit.body["keys"], keys.body["keys"]);
    assert!(kit.body["revoked"].as_array().unwrap().is_empty());
    let since = kit.body["nextSince"].as_i64().unwrap();
    app.get(&format!("/api/tickets/events/{eid}/gate-kit"))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");

    // Changes after the sync: a transfer, a refund, an online scan.
    app.post(&format!("/api/tickets/{}/transfer", t[0].0))
        .token(&fan.token)
        .json(&json!({"recipientId": other.id}))
        .send()
        .await
        .expect(200);
    app.post(&format!("/api/tickets/{}/refund", t[1].0))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        scan(&app, &staff, json!({"qrCode": t[2].1, "gate": "online"})).await["status"],
        "ok"
    );
    let delta = app
        .get(&format!("/api/tickets/events/{eid}/gate-kit?since={since}"))
        .token(&staff.token)
        .send()
        .await
        .expect(200);
    let revoked = delta.body["revoked"].as_array().unwrap();
    assert!(
        revoked
            .iter()
            .any(|r| r["ticketId"] == t[0].0.as_str() && r["validVersion"] == 2)
    );
    assert!(
        revoked
            .iter()
            .any(|r| r["ticketId"] == t[1].0.as_str() && r["validVersion"].is_null())
    );
    let used = delta.body["used"].as_array().unwrap();
    assert!(used.iter().any(|u| u["ticketId"] == t[2].0.as_str()));
    assert!(
        !revoked
            .iter()
            .chain(used)
            .any(|x| x["ticketId"] == t[3].0.as_str()),
        "unchanged tickets are not resent"
    );

    // An offline device scanned ticket 3 twice and ticket 2 before the online scan.
    let ago = |mins: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(mins))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let upload = json!({"eventId": eid, "gate": "offline-1", "scans": [
        {"qrCode": t[3].1, "scannedAt": ago(5), "nonce": "d1-1"},
        {"qrCode": t[3].1, "scannedAt": ago(10), "nonce": "d1-2"},
        {"qrCode": t[2].1, "scannedAt": ago(30), "nonce": "d1-3"},
        {"qrCode": t[0].1, "scannedAt": ago(1), "nonce": "d1-4"},
    ]});
    let r = app
        .post("/api/tickets/checkin/batch")
        .token(&staff.token)
        .json(&upload)
        .send()
        .await
        .expect(200);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "every scan is reported");
    let by_nonce = |n: &str| results.iter().find(|x| x["nonce"] == n).unwrap().clone();
    assert_eq!(
        by_nonce("d1-2")["status"],
        "ok",
        "the earliest scan of ticket 3 wins"
    );
    assert_eq!(by_nonce("d1-1")["status"], "already_redeemed");
    assert_eq!(
        by_nonce("d1-3")["status"],
        "ok",
        "earlier than the online scan"
    );
    assert_eq!(by_nonce("d1-4")["status"], "revoked");
    assert_eq!(r.body["duplicates"], 1);
    // The first scan of ticket 2 is now the offline one.
    let again = scan(&app, &staff, json!({"qrCode": t[2].1})).await;
    assert_eq!(again["firstScan"]["gate"], "offline-1");
    // Uploading the same batch again changes nothing and reports the same.
    let r2 = app
        .post("/api/tickets/checkin/batch")
        .token(&staff.token)
        .json(&upload)
        .send()
        .await
        .expect(200);
    assert!(
        r2.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["replayed"] == true)
    );
    app.post("/api/tickets/checkin/batch")
        .token(&staff.token)
        .json(&json!({"eventId": eid, "scans": [{"qrCode": "x", "scannedAt": "yesterday", "nonce": "n"}]}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn fans_cannot_touch_other_fans_tickets(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "10.00", 4, 72).await;
    let owner = rich_fan(&app, "Owner").await;
    let thief = rich_fan(&app, "Thief").await;
    let id = buy(&app, &owner, &event, 1).await.expect(201).body["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/tickets/{id}"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("/api/tickets/{id}/qr"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("/api/tickets/{id}/qr?format=png"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/api/tickets/{id}/transfer"))
        .token(&thief.token)
        .json(&json!({"recipientId": thief.id}))
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/api/tickets/{id}/refund"))
        .token(&thief.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    assert_eq!(my_ticket_count(&app, &thief).await, 0);
    app.get("/api/tickets/my-tickets")
        .send()
        .await
        .expect_problem(401, "unauthorized");
    assert_eq!(balance(&app, &owner).await, "490.00");
}

async fn staff_manage_their_clubs_matches_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 2, "10.00", 4, 72).await;
    let eid = event["id"].as_str().unwrap().to_owned();
    let om = app.staff(Some("OM")).await;
    let fan = rich_fan(&app, "Plain Fan").await;
    let body = json!({"homeClub": "PSG", "awayTeam": "Real Madrid", "competition": "Friendly", "venue": "Parc",
        "kickoff": rfc3339_in(48), "categories": [{"name": "A", "price": "5.00", "capacity": 10}]});
    app.post("/api/admin/events")
        .token(&om.token)
        .json(&body)
        .send()
        .await
        .expect_problem(403, "forbidden");
    app.post("/api/admin/events")
        .token(&fan.token)
        .json(&body)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let admin = app.staff(None).await;
    let r = app
        .post("/api/admin/events")
        .token(&admin.token)
        .json(&body)
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["event"]["awayTeam"], "Real Madrid");
    assert!(r.body["event"]["awayClub"].is_null());

    let mut bad = body.clone();
    bad["saleEndsAt"] = json!(rfc3339_in(49));
    app.post("/api/admin/events")
        .token(&staff.token)
        .json(&bad)
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let mut bad = body.clone();
    bad["categories"][0]["price"] = json!("5.001");
    app.post("/api/admin/events")
        .token(&staff.token)
        .json(&bad)
        .send()
        .await
        .expect_problem(422, "validation_failed");

    // Sell out, then try to shrink below what is sold.
    buy(&app, &fan, &event, 2).await.expect(201);
    let cat = event["categories"][0]["id"].as_str().unwrap();
    app.patch(&format!("/api/admin/events/{eid}/categories/{cat}"))
        .token(&staff.token)
        .json(&json!({"capacity": 1}))
        .send()
        .await
        .expect_problem(409, "capacity_below_sold");
    let r = app
        .patch(&format!("/api/admin/events/{eid}/categories/{cat}"))
        .token(&staff.token)
        .json(&json!({"capacity": 4, "price": "12.00"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["event"]["categories"][0]["available"], 2);
    app.patch(&format!("/api/admin/events/{eid}/categories/{cat}"))
        .token(&om.token)
        .json(&json!({"capacity": 100}))
        .send()
        .await
        .expect_problem(403, "forbidden");
    app.post(&format!("/api/admin/events/{eid}/categories"))
        .token(&staff.token)
        .json(&json!({"name": "Auteuil", "price": "1.00", "capacity": 1}))
        .send()
        .await
        .expect_problem(409, "category_exists");
    let r = app
        .patch(&format!("/api/admin/events/{eid}"))
        .token(&staff.token)
        .json(&json!({"venue": "Parc des Princes, Paris"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["event"]["venue"], "Parc des Princes, Paris");
    // Closing the sale stops purchases.
    app.patch(&format!("/api/admin/events/{eid}"))
        .token(&staff.token)
        .json(&json!({"saleEndsAt": rfc3339_in(-1), "saleStartsAt": rfc3339_in(-2)}))
        .send()
        .await
        .expect(200);
    buy(&app, &fan, &event, 1)
        .await
        .expect_problem(409, "sale_closed");
}
