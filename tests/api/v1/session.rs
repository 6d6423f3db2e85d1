//! A v1.0 fan's session end to end, and the demo data v1.0 relied on.

use reqwest::Method;
use serde_json::{Value, json};

use super::V1;
use crate::both_engines;
use crate::helpers::{Engine, spawn_app, verify_ok};

both_engines!(
    a_v1_session_from_signup_to_history,
    a_purchase_without_a_category_buys_standard_seats,
    a_product_sold_by_size_still_needs_one,
    amounts_computed_in_floating_point_charge_the_cents_they_stand_for,
);

async fn a_v1_session_from_signup_to_history(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);
    let me = v1.register("Louis Deux").await;
    assert_eq!(me["wallet"]["balance"], json!(0));
    let friend = app.fan("Friend", "AS_MONACO").await;

    let d = v1
        .post(
            "/wallet/deposit",
            json!({"amount": 300, "method": "card"}),
            201,
        )
        .await;
    assert_eq!(d["newBalance"], json!(300));

    let e = v1
        .post("/esim/activate", json!({"planId": "europe-unlimited"}), 201)
        .await;
    assert_eq!(e["newBalance"], json!(280.01));
    let code = e["esim"]["qrCode"].as_str().unwrap_or_default().to_owned();
    assert!(code.starts_with("LPA:1$"), "{code}");
    let active = v1.get("/esim/active").await;
    assert_eq!(active["esim"]["qrCode"], code.as_str());
    // The same eSIM read in the current version: the code is its activation code.
    let id = active["esim"]["id"].as_str().unwrap_or_default();
    let token = v1.token.clone().unwrap_or_default();
    let now = app
        .get(&format!("/api/esim/{id}"))
        .token(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(now.body["esim"]["activationCode"], code.as_str());

    let scarf = v1.product("Écharpe Supporter").await;
    v1.post(
        "/shop/cart/add",
        json!({"productId": scarf["id"], "quantity": 1}),
        200,
    )
    .await;
    let cart = v1.get("/shop/cart").await;
    assert_eq!(cart["cart"]["items"][0]["productId"], scarf["id"]);
    // The total the screen shows: price x quantity, from the product list.
    let total = scarf["price"].as_f64().unwrap_or_default()
        * cart["cart"]["items"][0]["quantity"]
            .as_f64()
            .unwrap_or_default();
    let c = v1
        .post("/shop/checkout", json!({"total": total}), 201)
        .await;
    assert_eq!(c["order"]["total"], json!(14.99));
    assert_eq!(c["newBalance"], json!(265.02));

    let events = v1.get("/tickets/events?club=AS_MONACO").await;
    let psg = events["events"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|e| e["title"] == "AS Monaco vs Paris Saint-Germain")
        })
        .cloned()
        .unwrap_or_default();
    let t = v1
        .post(
            "/tickets/purchase",
            json!({"eventId": psg["id"], "category": "standard", "price": psg["priceFrom"]}),
            201,
        )
        .await;
    assert_eq!(t["ticket"]["category"], "standard");
    assert_eq!(t["ticket"]["price"], json!(49.99));
    assert_eq!(t["newBalance"], json!(215.03));

    let s = v1
        .post(
            "/wallet/send",
            json!({"recipientId": friend.id, "amount": 15, "currency": "EUR"}),
            201,
        )
        .await;
    assert_eq!(s["newBalance"], json!(200.03));

    let h = v1.get("/wallet/transactions?limit=20&offset=0").await;
    let amounts: Vec<Value> = h["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["amount"].clone())
        .collect();
    // Newest first: the transfer, the ticket, the order, the eSIM, the
    // deposit, each at the price the fan was shown.
    assert_eq!(
        amounts,
        vec![
            json!(-15),
            json!(-49.99),
            json!(-14.99),
            json!(-19.99),
            json!(300)
        ],
        "{h}"
    );
    assert_eq!(h["total"], json!(amounts.len()));
    verify_ok(&app).await;
}

/// The id of the first event whose `key` is `value`.
fn event_where(events: &Value, key: &str, value: &str) -> String {
    events
        .as_array()
        .and_then(|l| l.iter().find(|e| e[key] == value))
        .and_then(|e| e["id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn a_purchase_without_a_category_buys_standard_seats(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Standard", "AS_MONACO").await;
    crate::helpers::deposit(&app, &fan, "200.00").await;
    let events = app.get("/api/tickets/events").send().await.expect(200).body["events"].clone();
    let city = event_where(&events, "awayTeam", "Manchester City");
    let r = app
        .post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": city}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["ticket"]["category"], "standard");
    assert_eq!(r.body["ticket"]["price"], "149.99");
    // The Marseille match sells named stands only: the category is needed.
    let om = event_where(&events, "homeClub", "OM");
    let r = app
        .post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": om}))
        .send()
        .await;
    let r = r.expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "category", "{}", r.text);
    assert_eq!(crate::helpers::balance(&app, &fan).await, "50.01");
}

async fn a_product_sold_by_size_still_needs_one(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);
    v1.demo().await;
    let hoodie = v1.product("Sweat à capuche").await;
    let (status, err) = v1
        .call(
            Method::POST,
            "/shop/cart/add",
            Some(json!({"productId": hoodie["id"], "quantity": 1})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["errors"][0]["field"], "variantId", "{err}");
    assert!(err["error"].is_string());
}

/// A v1.0 screen adds prices up in JavaScript: 7 caps at 24.99 are
/// 174.92999999999998, 0.1 + 0.2 is 0.30000000000000004. Version 1.0 reads
/// such a number as the cents it stands for; a third decimal someone typed
/// is still refused, and the current version reads every number as written.
async fn amounts_computed_in_floating_point_charge_the_cents_they_stand_for(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);
    v1.register("Float").await;
    let friend = app.fan("Friend", "AS_MONACO").await;
    let js = |x: f64| serde_json::Number::from_f64(x).map(Value::Number);
    let noisy = js(0.1 + 0.2);
    assert_eq!(
        noisy.as_ref().map(Value::to_string).as_deref(),
        Some("0.30000000000000004")
    );

    let d = v1
        .post(
            "/wallet/deposit",
            json!({"amount": 300, "method": "card"}),
            201,
        )
        .await;
    assert_eq!(d["newBalance"], json!(300));
    let d = v1
        .post(
            "/wallet/deposit",
            json!({"amount": noisy, "method": "card"}),
            201,
        )
        .await;
    assert_eq!(d["transaction"]["amount"], json!(0.3));
    assert_eq!(d["newBalance"], json!(300.3));

    let cap = v1.product("Casquette Officielle").await;
    assert_eq!(cap["price"], json!(24.99));
    v1.post(
        "/shop/cart/add",
        json!({"productId": cap["id"], "quantity": 7}),
        200,
    )
    .await;
    let total = cap["price"].as_f64().unwrap_or_default() * 7.0;
    assert_eq!(total.to_string(), "174.92999999999998");
    // In the current version the same number has too many decimals.
    let token = v1.token.clone().unwrap_or_default();
    let r = app
        .post("/api/shop/checkout")
        .token(&token)
        .json(&json!({"total": total}))
        .send()
        .await;
    let r = r.expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "total", "{}", r.text);
    // A third decimal someone typed: refused in 1.0 too.
    let (status, err) = v1
        .call(
            Method::POST,
            "/shop/checkout",
            Some(json!({"total": 174.935})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    let c = v1
        .post("/shop/checkout", json!({"total": total}), 201)
        .await;
    assert_eq!(c["order"]["total"], json!(174.93));
    assert_eq!(c["newBalance"], json!(125.37));

    let events = v1.get("/tickets/events?club=AS_MONACO").await;
    let psg = events["events"]
        .as_array()
        .and_then(|l| l.first())
        .cloned()
        .unwrap_or_default();
    let price = psg["priceFrom"].as_f64().unwrap_or_default();
    let off_by_a_bit = f64::from_bits(price.to_bits() + 3);
    assert_ne!(off_by_a_bit, price);
    let t = v1
        .post(
            "/tickets/purchase",
            json!({"eventId": psg["id"], "category": "standard", "price": js(off_by_a_bit)}),
            201,
        )
        .await;
    assert_eq!(t["ticket"]["price"], psg["priceFrom"]);

    let before = t["newBalance"].as_f64().unwrap_or_default();
    for (body, why) in [
        (
            r#"{"recipientId":"ID","amount":10.004,"currency":"EUR"}"#,
            "a typed third decimal",
        ),
        (
            r#"{"recipientId":"ID","amount":0.30000000000000004,"amount":5,"currency":"EUR"}"#,
            "a member sent twice",
        ),
    ] {
        let body = body.replace("ID", &friend.id);
        let (status, err) = v1.send(Method::POST, "/wallet/send", Some(body)).await;
        assert!(status == 400 || status == 422, "{why}: {status} {err}");
        assert!(err["error"].is_string(), "{why}: {err}");
    }
    let s = v1
        .post(
            "/wallet/send",
            json!({"recipientId": friend.id, "amount": noisy, "currency": "EUR"}),
            201,
        )
        .await;
    assert_eq!(s["transaction"]["amount"], json!(-0.3));
    let after = s["newBalance"].as_f64().unwrap_or_default();
    assert_eq!(((before - after) * 100.0).round() as i64, 30);
    assert_eq!(crate::helpers::balance(&app, &friend).await, "0.30");
    verify_ok(&app).await;
}
