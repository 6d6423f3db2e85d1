use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, Resp, TestApp, account_balance, balance, deposit, psg_home_match, rfc3339_in,
    spawn_app, spawn_with, verify_ok,
};

both_engines!(
    // The demo matches.
    the_three_demo_matches_are_on_sale_with_their_categories,
    matches_are_listed_by_club_in_the_clubs_currency,
    a_match_is_read_by_its_id_and_an_unknown_one_is_404,
    // Buying.
    a_stale_price_is_refused_with_the_current_one,
    a_fan_buys_two_tickets_each_with_its_own_qr_code,
    a_ticket_is_bought_by_category_id_too,
    the_per_fan_limit_stops_the_fifth_ticket,
    a_fan_short_of_money_gets_no_ticket_and_pays_nothing,
    the_club_is_paid_its_share_of_the_tickets,
    unknown_matches_categories_and_bad_prices_are_refused,
    concurrent_buyers_never_oversell,
    // Retried purchases.
    a_double_clicked_purchase_buys_once,
    a_later_retry_gets_the_same_tickets_and_qr_codes,
    a_purchase_key_cannot_be_reused_for_another_purchase,
    a_retry_after_the_limit_is_reached_still_gets_its_first_answer,
    // At the gate.
    a_fan_reads_the_qr_code_of_their_ticket,
    the_qr_code_png_reads_back_on_a_phone_and_the_svg_is_an_svg,
    an_unknown_qr_code_format_is_refused,
    fans_and_other_clubs_staff_cannot_scan,
    a_scan_retried_with_its_nonce_gets_the_same_answer,
    a_nonce_replays_only_the_scan_it_was_made_for,
    an_upload_reusing_a_nonce_still_uses_both_tickets,
    an_uploaded_exit_older_than_the_entry_keeps_the_ticket_inside,
    a_used_ticket_is_refused_at_the_second_scan,
    a_fan_who_steps_out_gets_back_in,
    two_gates_scanning_one_ticket_at_once_let_in_one_fan,
    a_forged_or_made_up_qr_code_is_invalid,
    a_ticket_for_another_match_is_refused_and_stays_unused,
    the_public_keys_verify_a_qr_code_offline,
    // Passing a ticket on.
    a_transferred_ticket_reaches_the_new_owner_with_a_new_qr_code,
    the_old_qr_code_is_revoked_after_a_transfer,
    a_used_ticket_cannot_be_passed_on,
    the_new_owner_sees_only_their_link_of_the_chain,
    staff_see_a_signed_chain_from_issue_to_transfer,
    a_former_owner_sees_their_links_and_a_stranger_sees_nothing,
    a_tickets_public_metadata_describes_the_match,
    the_recipient_is_notified_of_a_received_ticket,
    // Refunds.
    a_refund_returns_every_cent,
    refunding_each_seat_returns_the_clubs_and_the_platforms_every_cent,
    a_refund_is_paid_once_whatever_the_retries,
    a_refunded_ticket_frees_its_seat_and_no_longer_opens_the_gate,
    a_ticket_received_from_a_friend_cannot_be_cashed_in,
    no_refund_after_the_cutoff,
    // Offline gates.
    gate_staff_download_the_full_gate_kit,
    fans_cannot_download_a_gate_kit,
    the_gate_kit_update_carries_only_what_changed,
    an_offline_gates_upload_keeps_the_earliest_scan_of_each_ticket,
    an_earlier_offline_scan_becomes_the_first_scan,
    uploading_the_same_scans_again_changes_nothing,
    an_upload_with_a_bad_scan_time_is_refused,
    a_scan_dated_ahead_of_the_server_counts_at_the_upload,
    a_scan_dated_long_before_the_ticket_was_bought_cannot_win_earliest,
    concurrent_scans_with_one_nonce_admit_one_ticket,
    // Other fans' tickets.
    another_fans_ticket_cannot_be_seen_moved_or_refunded,
    my_tickets_need_a_sign_in,
    // Staff and their matches.
    other_clubs_staff_and_fans_cannot_create_a_match,
    an_admin_creates_a_match_against_a_team_outside_the_league,
    a_match_whose_sale_ends_after_kickoff_or_with_a_bad_price_is_refused,
    a_category_cannot_shrink_below_the_seats_sold,
    other_clubs_staff_cannot_change_a_category,
    a_category_name_is_used_once_per_match,
    staff_change_a_matchs_venue,
    closing_the_sale_stops_purchases,
);

/// A PSG home match created by PSG staff; returns (event, staff).
async fn psg_match(
    app: &TestApp,
    capacity: i64,
    price: &str,
    per_fan: i64,
    kickoff_in_hours: i64,
) -> (Value, Fan) {
    let categories = json!([
        {"name": "Auteuil", "price": price, "capacity": capacity},
        {"name": "Loge", "price": "200.00", "capacity": 2},
    ]);
    psg_home_match(app, kickoff_in_hours, per_fan, categories).await
}

async fn rich_fan(app: &TestApp, name: &str) -> Fan {
    let f = app.fan(name, "PSG").await;
    deposit(app, &f, "500.00").await;
    f
}

async fn buy(app: &TestApp, fan: &Fan, event: &Value, quantity: i64) -> Resp {
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

// The demo matches.

/// The matches listed for `club`.
async fn club_matches(app: &TestApp, club: &str) -> Vec<Value> {
    app.get(&format!("/api/tickets/events?club={club}"))
        .send()
        .await
        .expect(200)
        .body["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn the_three_demo_matches_are_on_sale_with_their_categories(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/tickets/events").send().await.expect(200);
    let events = r.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "v1.0's three matches and two more");
    let louis_ii: Vec<_> = events
        .iter()
        .filter(|e| e["venue"] == "Stade Louis II, Monaco")
        .map(|e| {
            let standard = e["categories"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["name"] == "standard"))
                .map(|c| c["price"].clone());
            (e["awayTeam"].clone(), e["competition"].clone(), standard)
        })
        .collect();
    for (away, competition, from) in [
        ("Paris Saint-Germain", "Ligue 1", "49.99"),
        ("Manchester City", "UEFA Champions League", "149.99"),
        ("Olympique Lyonnais", "Ligue 1", "59.99"),
    ] {
        assert!(
            louis_ii.contains(&(json!(away), json!(competition), Some(json!(from)))),
            "{away} in {louis_ii:?}"
        );
    }
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
}

async fn matches_are_listed_by_club_in_the_clubs_currency(engine: Engine) {
    let app = spawn_app(engine).await;
    let psg = club_matches(&app, "PSG").await;
    assert_eq!(psg.len(), 1);
    assert_eq!(psg[0]["homeClub"], "AS_MONACO");
    assert_eq!(psg[0]["awayClub"], "PSG");
    assert_eq!(psg[0]["currency"], "EUR");
    let wydad = club_matches(&app, "WYDAD_AC").await;
    assert_eq!(wydad[0]["currency"], "MAD");
}

async fn a_match_is_read_by_its_id_and_an_unknown_one_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let psg = club_matches(&app, "PSG").await;
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

// Buying.

/// Two Auteuil tickets at the 40.00 the fan was shown, held by Léa Fan.
async fn buy_two_for_lea(app: &TestApp, fan: &Fan, event: &Value) -> Resp {
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": "Auteuil", "quantity": 2, "price": 40, "holderName": "Léa Fan"}))
        .send()
        .await
        .expect(201)
}

async fn a_stale_price_is_refused_with_the_current_one(engine: Engine) {
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
}

async fn a_fan_buys_two_tickets_each_with_its_own_qr_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    let r = buy_two_for_lea(&app, &fan, &event).await;
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
}

async fn a_ticket_is_bought_by_category_id_too(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    buy_two_for_lea(&app, &fan, &event).await;
    let cat_id = event["categories"][0]["id"].as_str().unwrap();
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event["id"], "category": cat_id}))
        .send()
        .await
        .expect(201);
    assert_eq!(my_ticket_count(&app, &fan).await, 3);
    assert_eq!(available(&app, &event).await, 27);
}

async fn the_per_fan_limit_stops_the_fifth_ticket(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    buy(&app, &fan, &event, 3).await.expect(201);
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
}

async fn a_fan_short_of_money_gets_no_ticket_and_pays_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    buy(&app, &fan, &event, 4).await.expect(201);
    // Not enough money: nothing sold, nothing charged.
    let poor = app.fan("Poor", "PSG").await;
    deposit(&app, &poor, "39.99").await;
    buy(&app, &poor, &event, 1)
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &poor).await, "39.99");
    assert_eq!(available(&app, &event).await, 26);
}

async fn the_club_is_paid_its_share_of_the_tickets(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
    let psg = account_balance(&app, "club_revenue", "PSG", "EUR").await;
    let fees = account_balance(&app, "platform_fees", "platform", "EUR").await;
    buy_two_for_lea(&app, &fan, &event).await;
    // The buyer's history shows one payment to the club at the price shown
    // (two seats at 40.00); the club kept 90%, the platform's 10% came from it.
    let h = app
        .get("/api/wallet/transactions")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let ticket_tx: Vec<(&Value, &Value)> = h.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["direction"] == "out")
        .map(|t| (&t["counterparty"]["name"], &t["amount"]))
        .collect();
    assert_eq!(
        ticket_tx,
        vec![(&json!("Paris Saint-Germain"), &json!("80.00"))],
        "{}",
        h.text
    );
    assert_eq!(
        account_balance(&app, "club_revenue", "PSG", "EUR").await - psg,
        7200
    );
    assert_eq!(
        account_balance(&app, "platform_fees", "platform", "EUR").await - fees,
        800
    );
    verify_ok(&app).await;
}

async fn unknown_matches_categories_and_bad_prices_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "40.00", 4, 72).await;
    let fan = rich_fan(&app, "Buyer").await;
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

// Retried purchases.

async fn buy_with_key(app: &TestApp, fan: &Fan, event: &Value, key: &str, quantity: i64) -> Resp {
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .header("idempotency-key", key)
        .json(&json!({"eventId": event["id"], "category": "Auteuil", "quantity": quantity}))
        .send()
        .await
}

/// A fan who double-clicked "buy 2" with the key `buy-1`: the tickets the
/// answers held, and how many purchases ran.
struct DoubleClick {
    event: Value,
    fan: Fan,
    ticket_ids: HashSet<String>,
    ran: usize,
}

async fn double_click(app: &TestApp) -> DoubleClick {
    let (event, _) = psg_match(app, 10, "25.00", 4, 72).await;
    let fan = rich_fan(app, "Retrier").await;
    // One purchase runs; the other is told it is in flight, or (arriving
    // after it) replays it.
    let (a, b) = futures::join!(
        buy_with_key(app, &fan, &event, "buy-1", 2),
        buy_with_key(app, &fan, &event, "buy-1", 2)
    );
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
    DoubleClick {
        event,
        fan,
        ticket_ids,
        ran,
    }
}

async fn a_double_clicked_purchase_buys_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let d = double_click(&app).await;
    assert_eq!(d.ran, 1, "one purchase ran");
    assert_eq!(
        d.ticket_ids.len(),
        2,
        "every answer holds the same two tickets"
    );
}

async fn a_later_retry_gets_the_same_tickets_and_qr_codes(engine: Engine) {
    let app = spawn_app(engine).await;
    let d = double_click(&app).await;
    let again = buy_with_key(&app, &d.fan, &d.event, "buy-1", 2)
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    for t in again.body["tickets"].as_array().unwrap() {
        assert!(d.ticket_ids.contains(t["id"].as_str().unwrap()));
        assert!(t["qrCode"].as_str().unwrap().starts_with("PCF1."));
    }
}

async fn a_purchase_key_cannot_be_reused_for_another_purchase(engine: Engine) {
    let app = spawn_app(engine).await;
    let d = double_click(&app).await;
    // Refused, even for a purchase that would fit.
    buy_with_key(&app, &d.fan, &d.event, "buy-1", 1)
        .await
        .expect_problem(422, "idempotency_key_reused");
}

async fn a_retry_after_the_limit_is_reached_still_gets_its_first_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    let d = double_click(&app).await;
    let (fan, event) = (&d.fan, &d.event);
    buy_with_key(&app, fan, event, "buy-2", 2).await.expect(201);
    let late = buy_with_key(&app, fan, event, "buy-1", 2).await.expect(201);
    assert_eq!(late.headers["idempotent-replayed"], "true");

    assert_eq!(balance(&app, fan).await, "400.00");
    assert_eq!(my_ticket_count(&app, fan).await, 4);
    assert_eq!(available(&app, event).await, 6);
    verify_ok(&app).await;
}

// At the gate.

/// A PSG match, its staff, and a fan holding `n` tickets for it.
struct Sold {
    eid: String,
    staff: Fan,
    fan: Fan,
    ids: Vec<String>,
}

async fn sold(app: &TestApp, n: i64) -> Sold {
    let (event, staff) = psg_match(app, 30, "10.00", 4, 72).await;
    let fan = rich_fan(app, "Gate Fan").await;
    let r = buy(app, &fan, &event, n).await.expect(201);
    let ids: Vec<String> = r.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    Sold {
        eid: event["id"].as_str().unwrap().to_owned(),
        staff,
        fan,
        ids,
    }
}

/// The QR code of a ticket, as its holder's app shows it.
async fn qr_code(app: &TestApp, fan: &Fan, id: &str) -> String {
    app.get(&format!("/api/tickets/{id}/qr"))
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["qrCode"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_fan_reads_the_qr_code_of_their_ticket(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let qr = app
        .get(&format!("/api/tickets/{}/qr", s.ids[0]))
        .token(&s.fan.token)
        .send()
        .await
        .expect(200);
    assert!(qr.body["qrCode"].is_string());
    assert_eq!(qr.body["ticketId"], s.ids[0].as_str());
    assert_eq!(qr.body["eventId"], s.eid.as_str());
}

async fn the_qr_code_png_reads_back_on_a_phone_and_the_svg_is_an_svg(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    let png = app
        .client
        .get(format!(
            "{}/api/tickets/{}/qr?format=png",
            app.base, s.ids[0]
        ))
        .bearer_auth(&s.fan.token)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(
        crate::helpers::decode_png(&png.bytes().await.unwrap()),
        token
    );
    let svg = app
        .get(&format!("/api/tickets/{}/qr?format=svg", s.ids[0]))
        .token(&s.fan.token)
        .send()
        .await
        .expect(200);
    assert!(svg.text.contains("<svg"));
}

async fn an_unknown_qr_code_format_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    app.get(&format!("/api/tickets/{}/qr?format=gif", s.ids[0]))
        .token(&s.fan.token)
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn fans_and_other_clubs_staff_cannot_scan(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    app.post("/api/tickets/checkin")
        .token(&s.fan.token)
        .json(&json!({"qrCode": token}))
        .send()
        .await
        .expect_problem(403, "forbidden");
    let om_staff = app.staff(Some("OM")).await;
    app.post("/api/tickets/checkin")
        .token(&om_staff.token)
        .json(&json!({"qrCode": token, "eventId": s.eid}))
        .send()
        .await
        .expect_problem(403, "forbidden");
}

/// The first scan of the fan's first ticket, at gate A1 (nonce `n-1`): its
/// QR code and the scan's answer.
async fn first_scan(app: &TestApp, s: &Sold) -> (String, Value) {
    let token = qr_code(app, &s.fan, &s.ids[0]).await;
    let first = scan(
        app,
        &s.staff,
        json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    (token, first)
}

async fn a_scan_retried_with_its_nonce_gets_the_same_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let (token, first) = first_scan(&app, &s).await;
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["ticket"]["id"], s.ids[0].as_str());
    let retry = scan(
        &app,
        &s.staff,
        json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    assert_eq!(retry["status"], "ok");
    assert_eq!(retry["replayed"], true);
}

async fn a_nonce_replays_only_the_scan_it_was_made_for(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 2).await;
    let (token, first) = first_scan(&app, &s).await;
    assert_eq!(first["status"], "ok", "{first}");
    let second = qr_code(&app, &s.fan, &s.ids[1]).await;
    // The same nonce with another code, another kind of scan or another
    // scanner is not a retry: refused, and it does not get the first
    // scan's "ok".
    let other_staff = app.staff(Some("PSG")).await;
    for (staff, body) in [
        (
            &s.staff,
            json!({"qrCode": second, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
        ),
        (
            &s.staff,
            json!({"qrCode": "not a ticket", "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
        ),
        (
            &s.staff,
            json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1", "type": "exit"}),
        ),
        (
            &other_staff,
            json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
        ),
    ] {
        app.post("/api/tickets/checkin")
            .token(&staff.token)
            .json(&body)
            .send()
            .await
            .expect_problem(422, "nonce_reused");
    }
    // Nothing was recorded for them: the second ticket is still unused,
    // and the first is still inside.
    let fresh = scan(
        &app,
        &s.staff,
        json!({"qrCode": second, "eventId": s.eid, "nonce": "n-2"}),
    )
    .await;
    assert_eq!(fresh["reason"], "welcome", "{fresh}");
    let retry = scan(
        &app,
        &s.staff,
        json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    assert_eq!(
        (retry["status"].as_str(), retry["replayed"].as_bool()),
        (Some("ok"), Some(true))
    );
    // A scan recorded before scans had fingerprints (or by an instance not
    // yet upgraded) still replays to the same scanner, kind and ticket.
    crate::helpers::exec_sql(
        &app,
        "UPDATE ticket_checkins SET scan_hash = NULL WHERE nonce = $1",
        "n-1",
    )
    .await;
    let legacy = scan(
        &app,
        &s.staff,
        json!({"qrCode": token, "eventId": s.eid, "gate": "A1", "nonce": "n-1"}),
    )
    .await;
    assert_eq!(legacy["replayed"], true, "{legacy}");
    app.post("/api/tickets/checkin")
        .token(&s.staff.token)
        .json(&json!({"qrCode": second, "eventId": s.eid, "nonce": "n-1"}))
        .send()
        .await
        .expect_problem(422, "nonce_reused");
    // In an upload the scan already happened: it is decided and recorded
    // all the same, without the nonce, and says so.
    let own = app
        .post("/api/tickets/checkin/batch")
        .token(&s.staff.token)
        .json(&json!({"eventId": s.eid, "scans": [
            {"qrCode": second, "scannedAt": secs_ago(5), "nonce": "n-1"},
            // Later than its online scan: a duplicate.
            {"qrCode": token, "scannedAt": secs_ago(-2), "nonce": "n-3"},
        ]}))
        .send()
        .await
        .expect(200);
    let first = &own.body["results"][0];
    // Scanned before its online scan: the earliest, as any upload.
    assert_eq!(first["status"], "ok", "{}", own.body);
    assert_eq!(first["nonce"], "n-1");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("nonce already used"),
        "{first}"
    );
    assert_eq!(own.body["results"][1]["status"], "already_redeemed");
    assert_eq!(own.body["accepted"], 1);
}

async fn an_upload_reusing_a_nonce_still_uses_both_tickets(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    let r = upload(
        &app,
        &o,
        &json!({"eventId": o.eid, "scans": [
            {"qrCode": o.t[0].1, "scannedAt": secs_ago(60), "nonce": "dup"},
            {"qrCode": o.t[1].1, "scannedAt": secs_ago(50), "nonce": "dup"},
        ]}),
    )
    .await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);
    // The device let both holders in: neither code gets in again.
    for (_, code) in &o.t[..2] {
        let again = scan(&app, &o.staff, json!({"qrCode": code, "eventId": o.eid})).await;
        assert_eq!(again["status"], "already_redeemed", "{again}");
    }
}

async fn an_uploaded_exit_older_than_the_entry_keeps_the_ticket_inside(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    let live = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(live["status"], "ok");
    let r = upload(
        &app,
        &o,
        &json!({"eventId": o.eid, "scans": [
            {"qrCode": o.t[0].1, "scannedAt": secs_ago(30), "nonce": "x-1", "type": "exit"},
            {"qrCode": o.t[0].1, "scannedAt": "2000-01-01T00:00:00Z", "nonce": "x-2", "type": "exit"},
        ]}),
    )
    .await;
    assert_eq!(r.body["accepted"], 2, "recorded: {}", r.body);
    // Neither exit happened after the entry: the ticket is still inside, so
    // a copy is refused.
    let copy = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(copy["status"], "already_redeemed", "{copy}");
    // A real exit after the entry lets the holder back in.
    let out = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid, "type": "exit"}),
    )
    .await;
    assert_eq!(out["reason"], "exit recorded; re-entry allowed");
    let back = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(back["reason"], "re-entry after exit");
}

async fn a_used_ticket_is_refused_at_the_second_scan(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let (token, first) = first_scan(&app, &s).await;
    assert_eq!(first["status"], "ok", "{first}");
    // Refused, naming the first scan.
    let again = scan(
        &app,
        &s.staff,
        json!({"qrCode": token, "eventId": s.eid, "gate": "B2"}),
    )
    .await;
    assert_eq!(again["status"], "already_redeemed");
    assert_eq!(again["firstScan"]["gate"], "A1");
}

async fn a_fan_who_steps_out_gets_back_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let (token, first) = first_scan(&app, &s).await;
    assert_eq!(first["status"], "ok", "{first}");
    // Exit, then re-entry.
    let out = scan(&app, &s.staff, json!({"qrCode": token, "type": "exit"})).await;
    assert_eq!(out["status"], "ok");
    let back = scan(&app, &s.staff, json!({"qrCode": token, "gate": "C3"})).await;
    assert_eq!(back["status"], "ok", "{back}");
    let t = app
        .get(&format!("/api/tickets/{}", s.ids[0]))
        .token(&s.fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(t.body["ticket"]["status"], "used");
}

async fn two_gates_scanning_one_ticket_at_once_let_in_one_fan(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    let both = futures::future::join_all((0..6).map(|i| {
        app.post("/api/tickets/checkin")
            .token(&s.staff.token)
            .json(&json!({"qrCode": token, "gate": format!("G{i}")}))
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
}

async fn a_forged_or_made_up_qr_code_is_invalid(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    let mut forged = token.into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        scan(&app, &s.staff, json!({"qrCode": forged, "eventId": s.eid})).await["status"],
        "invalid"
    );
    assert_eq!(
        scan(
            &app,
            &s.staff,
            json!({"qrCode": "QR-1A2B3C4D", "eventId": s.eid})
        )
        .await["status"],
        "invalid"
    );
}

async fn a_ticket_for_another_match_is_refused_and_stays_unused(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    let (other, other_staff) = psg_match(&app, 5, "10.00", 4, 96).await;
    let wrong = scan(
        &app,
        &other_staff,
        json!({"qrCode": token, "eventId": other["id"]}),
    )
    .await;
    assert_eq!(wrong["status"], "wrong_event");
    // The wrong-event scan did not use the ticket.
    assert_eq!(
        scan(&app, &s.staff, json!({"qrCode": token, "eventId": s.eid})).await["status"],
        "ok"
    );
}

fn verifying_key(public_key: &Value) -> ed25519_dalek::VerifyingKey {
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(public_key.as_str().unwrap())
        .unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap()
}

async fn the_public_keys_verify_a_qr_code_offline(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 1).await;
    let token = qr_code(&app, &s.fan, &s.ids[0]).await;
    let keys = app.get("/api/keys").send().await.expect(200);
    let vk = verifying_key(&keys.body["keys"][0]["publicKey"]);
    let claims = paiecashfan::tickets::signing::verify_ticket(&token, &[vk]).unwrap();
    assert_eq!(claims.ticket_id.to_string(), s.ids[0]);
}

// Passing a ticket on.

/// Alice's ticket, passed on to Bob by e-mail.
struct Transferred {
    staff: Fan,
    alice: Fan,
    bob: Fan,
    id: String,
    old_qr: String,
    answer: Resp,
}

async fn transferred(app: &TestApp) -> Transferred {
    let (event, staff) = psg_match(app, 30, "10.00", 4, 72).await;
    let alice = rich_fan(app, "Alice").await;
    let bob = app.fan("Bob", "OM").await;
    let t = buy(app, &alice, &event, 1).await.expect(201).body["ticket"].clone();
    let id = t["id"].as_str().unwrap().to_owned();
    let old_qr = t["qrCode"].as_str().unwrap().to_owned();
    let answer = app
        .post(&format!("/api/tickets/{id}/transfer"))
        .token(&alice.token)
        .json(&json!({"recipientEmail": bob.email}))
        .send()
        .await
        .expect(200);
    Transferred {
        staff,
        alice,
        bob,
        id,
        old_qr,
        answer,
    }
}

/// The ticket's QR code as Bob's app shows it now.
async fn bobs_qr(app: &TestApp, tr: &Transferred) -> String {
    let mine = app
        .get(&format!("/api/tickets/{}", tr.id))
        .token(&tr.bob.token)
        .send()
        .await
        .expect(200);
    mine.body["ticket"]["qrCode"].as_str().unwrap().to_owned()
}

/// The ticket's provenance as `who` may read it.
async fn provenance(app: &TestApp, tr: &Transferred, who: &Fan) -> Resp {
    app.get(&format!("/api/tickets/{}/provenance", tr.id))
        .token(&who.token)
        .send()
        .await
}

async fn a_transferred_ticket_reaches_the_new_owner_with_a_new_qr_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    assert_eq!(tr.answer.body["ticket"]["version"], 2);
    assert_eq!(tr.answer.body["ticket"]["holderName"], "Bob");
    app.get(&format!("/api/tickets/{}", tr.id))
        .token(&tr.alice.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    let new_qr = bobs_qr(&app, &tr).await;
    assert_ne!(new_qr, tr.old_qr);
}

async fn the_old_qr_code_is_revoked_after_a_transfer(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    let new_qr = bobs_qr(&app, &tr).await;
    assert_eq!(
        scan(&app, &tr.staff, json!({"qrCode": tr.old_qr})).await["status"],
        "revoked"
    );
    assert_eq!(
        scan(&app, &tr.staff, json!({"qrCode": new_qr})).await["status"],
        "ok"
    );
}

async fn a_used_ticket_cannot_be_passed_on(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    let new_qr = bobs_qr(&app, &tr).await;
    assert_eq!(
        scan(&app, &tr.staff, json!({"qrCode": new_qr})).await["status"],
        "ok"
    );
    app.post(&format!("/api/tickets/{}/transfer", tr.id))
        .token(&tr.bob.token)
        .json(&json!({"recipientId": tr.alice.id}))
        .send()
        .await
        .expect_problem(409, "not_transferable");
}

async fn the_new_owner_sees_only_their_link_of_the_chain(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    // Bob sees the link he is part of, not whom Alice got the ticket from.
    let bobs = provenance(&app, &tr, &tr.bob).await.expect(200);
    let bobs = bobs.body["entries"].as_array().unwrap();
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["kind"], "transferred");
    assert_eq!(bobs[0]["to"], tr.bob.id.as_str());
}

/// Provenance entries as a verifier rebuilds them: (entry, hash, signature).
fn chain_of(
    id: &str,
    entries: &[Value],
) -> Vec<(paiecashfan::tickets::signing::ChainEntry, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                paiecashfan::tickets::signing::ChainEntry {
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
        .collect()
}

async fn staff_see_a_signed_chain_from_issue_to_transfer(engine: Engine) {
    use paiecashfan::tickets::signing::verify_chain;
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    // Issued to Alice, transferred to Bob; signed, linked, verifiable.
    let p = provenance(&app, &tr, &tr.staff).await.expect(200);
    let entries = p.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["kind"], "issued");
    assert_eq!(entries[1]["kind"], "transferred");
    assert_eq!(entries[1]["prevHash"], entries[0]["hash"]);
    let vk = verifying_key(&p.body["publicKey"]);
    let chain = chain_of(&tr.id, entries);
    assert!(verify_chain(&chain, &vk));
    let mut tampered = chain.clone();
    tampered[1].0.to = Some(tr.alice.id.clone());
    assert!(!verify_chain(&tampered, &vk));
}

async fn a_former_owner_sees_their_links_and_a_stranger_sees_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    // Alice was an owner: she reads both links she was part of.
    let alices = provenance(&app, &tr, &tr.alice).await.expect(200);
    assert_eq!(alices.body["entries"].as_array().unwrap().len(), 2);
    let stranger = app.fan("Stranger", "OL").await;
    provenance(&app, &tr, &stranger)
        .await
        .expect_problem(404, "not_found");
}

async fn a_tickets_public_metadata_describes_the_match(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    // EIP-721 metadata.
    let m = app
        .get(&format!("/api/tickets/{}/metadata", tr.id))
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
}

async fn the_recipient_is_notified_of_a_received_ticket(engine: Engine) {
    let app = spawn_app(engine).await;
    let tr = transferred(&app).await;
    let n = app
        .get("/api/notifications")
        .token(&tr.bob.token)
        .send()
        .await
        .expect(200);
    assert_eq!(n.body["notifications"][0]["kind"], "ticket.received");
}

// Refunds.

/// A match of 3 seats at 33.33, its staff, and a fan holding one ticket.
struct Refundable {
    event: Value,
    staff: Fan,
    fan: Fan,
    ticket: Value,
}

async fn refundable(app: &TestApp) -> Refundable {
    let (event, staff) = psg_match(app, 3, "33.33", 4, 72).await;
    let fan = rich_fan(app, "Refunder").await;
    let ticket = buy(app, &fan, &event, 1).await.expect(201).body["ticket"].clone();
    Refundable {
        event,
        staff,
        fan,
        ticket,
    }
}

async fn refund(app: &TestApp, fan: &Fan, ticket: &Value, key: Option<&str>) -> Resp {
    let mut req = app
        .post(&format!(
            "/api/tickets/{}/refund",
            ticket["id"].as_str().unwrap()
        ))
        .token(&fan.token);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    req.send().await
}

async fn a_refund_returns_every_cent(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = refundable(&app).await;
    assert_eq!(balance(&app, &r.fan).await, "466.67");
    let answer = refund(&app, &r.fan, &r.ticket, Some("refund-1"))
        .await
        .expect(200);
    assert_eq!(answer.body["refunded"], "33.33");
    assert_eq!(
        answer.body["newBalance"], "500.00",
        "every cent, commission included"
    );
    assert_eq!(answer.body["ticket"]["status"], "refunded");
}

/// Three seats at 45.05 bought together, then refunded one by one: the
/// commission was taken per seat (4.50 each, not 10% of 135.15 = 13.51), so
/// the club and the platform end exactly where they started.
async fn refunding_each_seat_returns_the_clubs_and_the_platforms_every_cent(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "45.05", 4, 72).await;
    let fan = rich_fan(&app, "Trio").await;
    let club = || account_balance(&app, "club_revenue", "PSG", "EUR");
    let fees = || account_balance(&app, "platform_fees", "platform", "EUR");
    let before = (club().await, fees().await);
    let tickets = buy(&app, &fan, &event, 3).await.expect(201).body["tickets"].clone();
    assert_eq!(club().await - before.0, 3 * 4505 - 3 * 450);
    assert_eq!(fees().await - before.1, 3 * 450);
    for t in tickets.as_array().unwrap() {
        refund(&app, &fan, t, None).await.expect(200);
    }
    assert_eq!((club().await, fees().await), before);
    assert_eq!(balance(&app, &fan).await, "500.00");
    verify_ok(&app).await;
}

async fn a_refund_is_paid_once_whatever_the_retries(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = refundable(&app).await;
    refund(&app, &r.fan, &r.ticket, Some("refund-1"))
        .await
        .expect(200);
    // A retry replays; a second refund is refused.
    let replay = refund(&app, &r.fan, &r.ticket, Some("refund-1"))
        .await
        .expect(200);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    refund(&app, &r.fan, &r.ticket, None)
        .await
        .expect_problem(409, "not_refundable");
    assert_eq!(balance(&app, &r.fan).await, "500.00");
}

async fn a_refunded_ticket_frees_its_seat_and_no_longer_opens_the_gate(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = refundable(&app).await;
    refund(&app, &r.fan, &r.ticket, Some("refund-1"))
        .await
        .expect(200);
    let e = app
        .get(&format!(
            "/api/tickets/events/{}",
            r.event["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    assert_eq!(
        e.body["event"]["categories"][0]["available"], 3,
        "the seat is free again"
    );
    assert_eq!(
        scan(&app, &r.staff, json!({"qrCode": r.ticket["qrCode"]})).await["status"],
        "refunded"
    );
}

async fn a_ticket_received_from_a_friend_cannot_be_cashed_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = refundable(&app).await;
    let t2 = buy(&app, &r.fan, &r.event, 1).await.expect(201).body["ticket"].clone();
    let friend = app.fan("Friend", "PSG").await;
    app.post(&format!(
        "/api/tickets/{}/transfer",
        t2["id"].as_str().unwrap()
    ))
    .token(&r.fan.token)
    .json(&json!({"recipientId": friend.id}))
    .send()
    .await
    .expect(200);
    refund(&app, &friend, &t2, None)
        .await
        .expect_problem(409, "not_refundable");
    verify_ok(&app).await;
}

async fn no_refund_after_the_cutoff(engine: Engine) {
    let late = spawn_with(engine, |v| {
        v.insert("TICKET_REFUND_CUTOFF_HOURS".into(), "100".into());
    })
    .await;
    let (event, _) = psg_match(&late, 3, "10.00", 4, 72).await;
    let fan = rich_fan(&late, "Late").await;
    let t = buy(&late, &fan, &event, 1).await.expect(201).body["ticket"].clone();
    refund(&late, &fan, &t, None)
        .await
        .expect_problem(409, "refund_window_closed");
}

// Offline gates.

/// A match, its staff, a fan holding four tickets (id, QR code), and
/// another fan to pass one on to.
struct Offline {
    eid: String,
    staff: Fan,
    fan: Fan,
    other: Fan,
    t: Vec<(String, String)>,
}

async fn offline(app: &TestApp) -> Offline {
    let (event, staff) = psg_match(app, 30, "10.00", 4, 72).await;
    let fan = rich_fan(app, "Offline").await;
    let other = app.fan("Receiver", "PSG").await;
    let bought = buy(app, &fan, &event, 4).await.expect(201).body["tickets"].clone();
    let t = bought
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
    Offline {
        eid: event["id"].as_str().unwrap().to_owned(),
        staff,
        fan,
        other,
        t,
    }
}

/// The gate kit, whole or (`since`) what changed after a sync.
async fn gate_kit(app: &TestApp, o: &Offline, since: Option<i64>) -> Resp {
    let query = since.map(|s| format!("?since={s}")).unwrap_or_default();
    app.get(&format!("/api/tickets/events/{}/gate-kit{query}", o.eid))
        .token(&o.staff.token)
        .send()
        .await
        .expect(200)
}

/// After the gate synced: ticket 0 is passed on, ticket 1 refunded, ticket
/// 2 scanned online.
async fn changes_after_the_sync(app: &TestApp, o: &Offline) {
    app.post(&format!("/api/tickets/{}/transfer", o.t[0].0))
        .token(&o.fan.token)
        .json(&json!({"recipientId": o.other.id}))
        .send()
        .await
        .expect(200);
    app.post(&format!("/api/tickets/{}/refund", o.t[1].0))
        .token(&o.fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        scan(app, &o.staff, json!({"qrCode": o.t[2].1, "gate": "online"})).await["status"],
        "ok"
    );
}

/// An RFC 3339 time this many seconds ago (negative: ahead).
fn secs_ago(secs: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::seconds(secs))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// What an offline device scanned meanwhile (its clock a little behind the
/// server's): ticket 3 twice, ticket 2 before the online scan, and ticket
/// 0's old code.
fn offline_scans(o: &Offline) -> Value {
    let ago = secs_ago;
    json!({"eventId": o.eid, "gate": "offline-1", "scans": [
        {"qrCode": o.t[3].1, "scannedAt": ago(50), "nonce": "d1-1"},
        {"qrCode": o.t[3].1, "scannedAt": ago(100), "nonce": "d1-2"},
        {"qrCode": o.t[2].1, "scannedAt": ago(200), "nonce": "d1-3"},
        {"qrCode": o.t[0].1, "scannedAt": ago(10), "nonce": "d1-4"},
    ]})
}

async fn upload(app: &TestApp, o: &Offline, scans: &Value) -> Resp {
    app.post("/api/tickets/checkin/batch")
        .token(&o.staff.token)
        .json(scans)
        .send()
        .await
        .expect(200)
}

async fn gate_staff_download_the_full_gate_kit(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    let kit = gate_kit(&app, &o, None).await;
    assert_eq!(kit.body["full"], true);
    let keys = app.get("/api/keys").send().await.expect(200);
    assert_eq!(kit.body["keys"], keys.body["keys"]);
    assert!(kit.body["revoked"].as_array().unwrap().is_empty());
    assert!(kit.body["nextSince"].is_i64());
}

async fn fans_cannot_download_a_gate_kit(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    app.get(&format!("/api/tickets/events/{}/gate-kit", o.eid))
        .token(&o.fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
}

async fn the_gate_kit_update_carries_only_what_changed(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    let since = gate_kit(&app, &o, None).await.body["nextSince"]
        .as_i64()
        .unwrap();
    changes_after_the_sync(&app, &o).await;
    let delta = gate_kit(&app, &o, Some(since)).await;
    let revoked = delta.body["revoked"].as_array().unwrap();
    assert!(
        revoked
            .iter()
            .any(|r| r["ticketId"] == o.t[0].0.as_str() && r["validVersion"] == 2)
    );
    assert!(
        revoked
            .iter()
            .any(|r| r["ticketId"] == o.t[1].0.as_str() && r["validVersion"].is_null())
    );
    let used = delta.body["used"].as_array().unwrap();
    assert!(used.iter().any(|u| u["ticketId"] == o.t[2].0.as_str()));
    assert!(
        !revoked
            .iter()
            .chain(used)
            .any(|x| x["ticketId"] == o.t[3].0.as_str()),
        "unchanged tickets are not resent"
    );
}

async fn an_offline_gates_upload_keeps_the_earliest_scan_of_each_ticket(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    changes_after_the_sync(&app, &o).await;
    let r = upload(&app, &o, &offline_scans(&o)).await;
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
}

async fn an_earlier_offline_scan_becomes_the_first_scan(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    changes_after_the_sync(&app, &o).await;
    upload(&app, &o, &offline_scans(&o)).await;
    let again = scan(&app, &o.staff, json!({"qrCode": o.t[2].1})).await;
    assert_eq!(again["firstScan"]["gate"], "offline-1");
}

async fn uploading_the_same_scans_again_changes_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    changes_after_the_sync(&app, &o).await;
    let scans = offline_scans(&o);
    upload(&app, &o, &scans).await;
    let r2 = upload(&app, &o, &scans).await;
    assert!(
        r2.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["replayed"] == true)
    );
}

async fn an_upload_with_a_bad_scan_time_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    app.post("/api/tickets/checkin/batch")
        .token(&o.staff.token)
        .json(&json!({"eventId": o.eid, "scans": [{"qrCode": "x", "scannedAt": "yesterday", "nonce": "n"}]}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_scan_dated_ahead_of_the_server_counts_at_the_upload(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    let ahead = json!({"eventId": o.eid, "gate": "G", "scans": [
        {"qrCode": o.t[0].1, "scannedAt": secs_ago(60), "nonce": "f-1"},
        {"qrCode": o.t[1].1, "scannedAt": secs_ago(-3600), "nonce": "f-2"},
    ]});
    let r = upload(&app, &o, &ahead).await;
    assert_eq!(r.body["accepted"], 2, "{}", r.body);
    let f2 = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["nonce"] == "f-2")
        .unwrap()
        .clone();
    assert!(
        f2["reason"].as_str().unwrap().contains("clock was off"),
        "{f2}"
    );
    // Recorded: the device let the holder in. At the upload's time, not an
    // hour ahead.
    let again = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[1].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(again["status"], "already_redeemed");
    let first = time::OffsetDateTime::parse(
        again["firstScan"]["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        first < time::OffsetDateTime::now_utc() + time::Duration::minutes(1),
        "{again}"
    );
}

async fn a_scan_dated_long_before_the_ticket_was_bought_cannot_win_earliest(engine: Engine) {
    let app = spawn_app(engine).await;
    let o = offline(&app).await;
    // Admitted online; then an upload dated years back would be "earlier".
    let live = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid, "gate": "A"}),
    )
    .await;
    assert_eq!(live["status"], "ok");
    let old = json!({"eventId": o.eid, "gate": "G", "scans": [
        {"qrCode": o.t[0].1, "scannedAt": "2000-01-01T00:00:00Z", "nonce": "o-1"},
        {"qrCode": o.t[1].1, "scannedAt": "2000-01-01T00:00:00Z", "nonce": "o-2"},
    ]});
    let r = upload(&app, &o, &old).await;
    let by_nonce = |n: &str| {
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["nonce"] == n)
            .unwrap()
            .clone()
    };
    // Ticket 0: the online scan stays the first. Ticket 1: the device let
    // its holder in, so it is used now, whatever the device's clock said.
    assert_eq!(by_nonce("o-1")["status"], "already_redeemed", "{}", r.body);
    assert_eq!(by_nonce("o-2")["status"], "ok", "{}", r.body);
    let again = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[0].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(again["firstScan"]["gate"], "A");
    let other = scan(
        &app,
        &o.staff,
        json!({"qrCode": o.t[1].1, "eventId": o.eid}),
    )
    .await;
    assert_eq!(
        other["status"], "already_redeemed",
        "a copy is refused: {other}"
    );
}

async fn concurrent_scans_with_one_nonce_admit_one_ticket(engine: Engine) {
    let app = spawn_app(engine).await;
    let s = sold(&app, 4).await;
    let mut codes = Vec::new();
    for id in &s.ids {
        codes.push(qr_code(&app, &s.fan, id).await);
    }
    let answers = futures::future::join_all(codes.iter().map(|code| {
        app.post("/api/tickets/checkin")
            .token(&s.staff.token)
            .json(&json!({"qrCode": code, "eventId": s.eid, "nonce": "same"}))
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    for r in answers.iter().filter(|r| r.status.as_u16() != 200) {
        assert!(
            [("nonce_reused", 422), ("scan_in_flight", 409)]
                .contains(&(r.code(), r.status.as_u16())),
            "{}",
            r.body
        );
    }
    // Exactly one ticket is used: the others still get in.
    let mut welcomed = 0;
    for code in &codes {
        let again = scan(&app, &s.staff, json!({"qrCode": code, "eventId": s.eid})).await;
        if again["status"] == "ok" {
            welcomed += 1;
        }
    }
    assert_eq!(welcomed, 3);
}

// Other fans' tickets.

async fn another_fans_ticket_cannot_be_seen_moved_or_refunded(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 30, "10.00", 4, 72).await;
    let owner = rich_fan(&app, "Owner").await;
    let thief = rich_fan(&app, "Thief").await;
    let id = buy(&app, &owner, &event, 1).await.expect(201).body["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api/tickets/{id}"),
        format!("/api/tickets/{id}/qr"),
        format!("/api/tickets/{id}/qr?format=png"),
    ] {
        app.get(&path)
            .token(&thief.token)
            .send()
            .await
            .expect_problem(404, "not_found");
    }
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
    assert_eq!(balance(&app, &owner).await, "490.00");
}

async fn my_tickets_need_a_sign_in(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/tickets/my-tickets")
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

// Staff and their matches.

/// A friendly against a team outside the league, at the Parc.
fn friendly() -> Value {
    json!({"homeClub": "PSG", "awayTeam": "Real Madrid", "competition": "Friendly", "venue": "Parc",
        "kickoff": rfc3339_in(48), "categories": [{"name": "A", "price": "5.00", "capacity": 10}]})
}

async fn create_match(app: &TestApp, who: &Fan, body: &Value) -> Resp {
    app.post("/api/admin/events")
        .token(&who.token)
        .json(body)
        .send()
        .await
}

/// Where a match's first category is changed.
fn first_category(event: &Value) -> String {
    format!(
        "/api/admin/events/{}/categories/{}",
        event["id"].as_str().unwrap(),
        event["categories"][0]["id"].as_str().unwrap()
    )
}

async fn other_clubs_staff_and_fans_cannot_create_a_match(engine: Engine) {
    let app = spawn_app(engine).await;
    let om = app.staff(Some("OM")).await;
    let fan = rich_fan(&app, "Plain Fan").await;
    create_match(&app, &om, &friendly())
        .await
        .expect_problem(403, "forbidden");
    create_match(&app, &fan, &friendly())
        .await
        .expect_problem(403, "forbidden");
}

async fn an_admin_creates_a_match_against_a_team_outside_the_league(engine: Engine) {
    let app = spawn_app(engine).await;
    let admin = app.staff(None).await;
    let r = create_match(&app, &admin, &friendly()).await.expect(201);
    assert_eq!(r.body["event"]["awayTeam"], "Real Madrid");
    assert!(r.body["event"]["awayClub"].is_null());
}

async fn a_match_whose_sale_ends_after_kickoff_or_with_a_bad_price_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let staff = app.staff(Some("PSG")).await;
    let mut bad = friendly();
    bad["saleEndsAt"] = json!(rfc3339_in(49));
    create_match(&app, &staff, &bad)
        .await
        .expect_problem(422, "validation_failed");
    let mut bad = friendly();
    bad["categories"][0]["price"] = json!("5.001");
    create_match(&app, &staff, &bad)
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_category_cannot_shrink_below_the_seats_sold(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 2, "10.00", 4, 72).await;
    let fan = rich_fan(&app, "Plain Fan").await;
    // Sell out, then try to shrink below what is sold.
    buy(&app, &fan, &event, 2).await.expect(201);
    app.patch(&first_category(&event))
        .token(&staff.token)
        .json(&json!({"capacity": 1}))
        .send()
        .await
        .expect_problem(409, "capacity_below_sold");
    let r = app
        .patch(&first_category(&event))
        .token(&staff.token)
        .json(&json!({"capacity": 4, "price": "12.00"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["event"]["categories"][0]["available"], 2);
}

async fn other_clubs_staff_cannot_change_a_category(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, _) = psg_match(&app, 2, "10.00", 4, 72).await;
    let om = app.staff(Some("OM")).await;
    app.patch(&first_category(&event))
        .token(&om.token)
        .json(&json!({"capacity": 100}))
        .send()
        .await
        .expect_problem(403, "forbidden");
}

async fn a_category_name_is_used_once_per_match(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 2, "10.00", 4, 72).await;
    let eid = event["id"].as_str().unwrap();
    app.post(&format!("/api/admin/events/{eid}/categories"))
        .token(&staff.token)
        .json(&json!({"name": "Auteuil", "price": "1.00", "capacity": 1}))
        .send()
        .await
        .expect_problem(409, "category_exists");
}

async fn staff_change_a_matchs_venue(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 2, "10.00", 4, 72).await;
    let eid = event["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/admin/events/{eid}"))
        .token(&staff.token)
        .json(&json!({"venue": "Parc des Princes, Paris"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["event"]["venue"], "Parc des Princes, Paris");
}

async fn closing_the_sale_stops_purchases(engine: Engine) {
    let app = spawn_app(engine).await;
    let (event, staff) = psg_match(&app, 2, "10.00", 4, 72).await;
    let eid = event["id"].as_str().unwrap();
    let fan = rich_fan(&app, "Plain Fan").await;
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
