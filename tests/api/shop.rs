use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, balance, deposit, spawn_app, verify_ok};

both_engines!(
    catalogue_filters_and_pages,
    cart_add_change_remove,
    checkout_pays_the_clubs_and_takes_the_stock,
    checkout_refuses_without_charging,
    concurrent_checkouts_never_oversell,
    cancel_refunds_and_restocks,
    staff_manage_their_clubs_products_and_orders,
);

async fn products(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/shop/products{query}"))
        .send()
        .await
        .expect(200)
        .body["products"]
        .as_array()
        .unwrap()
        .clone()
}

/// A PSG product with one size and `stock` units, created by PSG staff.
async fn psg_product(app: &TestApp, price: &str, stock: i64) -> (Value, Fan) {
    let staff = app.staff(Some("PSG")).await;
    let r = app
        .post("/api/admin/products")
        .token(&staff.token)
        .json(
            &json!({"clubId": "PSG", "name": "Fanion", "category": "accessories", "price": price,
                      "variants": [{"size": null, "stock": stock}]}),
        )
        .send()
        .await
        .expect(201);
    (r.body["product"].clone(), staff)
}

async fn add(app: &TestApp, fan: &Fan, product: &Value, quantity: i64) -> crate::helpers::Resp {
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": product["id"], "quantity": quantity}))
        .send()
        .await
}

async fn catalogue_filters_and_pages(engine: Engine) {
    let app = spawn_app(engine).await;
    let all = products(&app, "?category=all&limit=100").await;
    assert_eq!(all.len(), 6, "v1.0's six products");
    assert_eq!(products(&app, "").await.len(), 6);
    let monaco = products(&app, "?club=AS_MONACO").await;
    assert_eq!(monaco.len(), 2);
    assert!(
        monaco
            .iter()
            .all(|p| p["clubId"] == "AS_MONACO" && p["currency"] == "EUR")
    );
    let acc = products(&app, "?category=accessories").await;
    assert_eq!(acc.len(), 2);
    let found = products(&app, "?q=MAILLOT").await;
    assert_eq!(found.len(), 2);
    assert!(
        products(&app, "?q=%25").await.is_empty(),
        "a % is searched literally"
    );
    let wydad = products(&app, "?club=WYDAD_AC").await;
    assert_eq!(wydad[0]["currency"], "MAD");
    assert_eq!(wydad[0]["price"], "350.00");
    let jersey = &monaco[0];
    assert_eq!(jersey["variants"].as_array().unwrap().len(), 4);
    assert_eq!(jersey["inStock"], true);
    // Pages.
    let p1 = app
        .get("/api/shop/products?limit=4")
        .send()
        .await
        .expect(200);
    let next = p1.body["nextCursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/api/shop/products?limit=4&cursor={next}"))
        .send()
        .await
        .expect(200);
    assert_eq!(p2.body["products"].as_array().unwrap().len(), 2);
    assert!(p2.body["nextCursor"].is_null());
    let p3 = app
        .get("/api/shop/products?limit=4&offset=4")
        .send()
        .await
        .expect(200);
    assert_eq!(p3.body["products"], p2.body["products"]);
    let id = jersey["id"].as_str().unwrap();
    app.get(&format!("/api/shop/products/{id}"))
        .send()
        .await
        .expect(200);
    app.get("/api/shop/products/nope")
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get("/api/shop/products?limit=1000")
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn cart_add_change_remove(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Shopper", "PSG").await;
    let jersey = products(&app, "?club=PSG").await[0].clone();
    // Several sizes: the size must be chosen.
    add(&app, &fan, &jersey, 1)
        .await
        .expect_problem(422, "validation_failed");
    let m = jersey["variants"][1]["id"].as_str().unwrap();
    let r = app
        .post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": jersey["id"], "variantId": m, "quantity": 2}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["cart"]["total"], "199.98");
    assert_eq!(r.body["cart"]["itemCount"], 2);
    // Adding again sums; a line holds at most 10, and never more than the stock (8).
    let r = app
        .post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": jersey["id"], "variantId": m, "quantity": 3}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["cart"]["items"][0]["quantity"], 5);
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": jersey["id"], "variantId": m, "quantity": 4}))
        .send()
        .await
        .expect_problem(409, "out_of_stock");
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": jersey["id"], "variantId": m, "quantity": 11}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let item = r.body["cart"]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(&format!("/api/shop/cart/items/{item}"))
        .token(&fan.token)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["cart"]["total"], "99.99");
    app.patch(&format!("/api/shop/cart/items/{item}"))
        .token(&fan.token)
        .json(&json!({"quantity": 0}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Someone else's line is not theirs to touch.
    let other = app.fan("Other", "PSG").await;
    app.req(
        reqwest::Method::DELETE,
        &format!("/api/shop/cart/items/{item}"),
    )
    .token(&other.token)
    .send()
    .await
    .expect_problem(404, "not_found");
    let r = app
        .req(
            reqwest::Method::DELETE,
            &format!("/api/shop/cart/items/{item}"),
        )
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(r.body["cart"]["items"].as_array().unwrap().is_empty());
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": "nope", "quantity": 1}))
        .send()
        .await
        .expect_problem(404, "not_found");
    app.get("/api/shop/cart")
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn checkout_pays_the_clubs_and_takes_the_stock(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Collector", "AS_MONACO").await;
    deposit(&app, &fan, "300.00").await;
    let scarf = products(&app, "?club=OM").await[0].clone();
    let cap = products(&app, "?club=OL").await[0].clone();
    add(&app, &fan, &scarf, 2).await.expect(200);
    add(&app, &fan, &cap, 1).await.expect(200);
    let r = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .header("idempotency-key", "checkout-1")
        .json(&json!({"total": "79.97"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["newBalance"], "220.03");
    let order = &r.body["order"];
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"], "79.97");
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    // A retry replays the same order and charges nothing more.
    let again = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .header("idempotency-key", "checkout-1")
        .json(&json!({"total": "79.97"}))
        .send()
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["order"]["id"], order["id"]);
    assert_eq!(balance(&app, &fan).await, "220.03");
    // Cart emptied, stock taken.
    let cart = app
        .get("/api/shop/cart")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert!(cart.body["cart"]["items"].as_array().unwrap().is_empty());
    let scarf_now = app
        .get(&format!(
            "/api/shop/products/{}",
            scarf["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    assert_eq!(scarf_now.body["product"]["variants"][0]["stock"], 28);
    // Both clubs were paid their share (90%), the platform its commission.
    let h = app
        .get("/api/wallet/transactions")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let out: Vec<&Value> = h.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["direction"] == "out")
        .collect();
    assert!(
        out.iter().any(
            |t| t["counterparty"]["name"] == "Olympique de Marseille" && t["amount"] == "44.99"
        )
    );
    assert!(
        out.iter()
            .any(|t| t["counterparty"]["name"] == "Olympique Lyonnais" && t["amount"] == "27.00")
    );
    assert!(out.iter().any(|t| t["counterparty"]["type"] == "platform"));
    let sum: i64 = out
        .iter()
        .map(|t| {
            let (a, b) = t["amount"].as_str().unwrap().split_once('.').unwrap();
            a.parse::<i64>().unwrap() * 100 + b.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(sum, 7997);
    let orders = app
        .get("/api/shop/orders")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(orders.body["orders"][0]["id"], order["id"]);
    verify_ok(&app).await;
}

async fn checkout_refuses_without_charging(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, staff) = psg_product(&app, "10.00", 3).await;
    let fan = app.fan("Careful Buyer", "PSG").await;
    deposit(&app, &fan, "25.00").await;
    app.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect_problem(422, "cart_empty");
    add(&app, &fan, &product, 2).await.expect(200);
    app.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({"total": "19.99"}))
        .send()
        .await
        .expect_problem(409, "price_changed");
    // The price goes up after the fan filled the cart: the guard catches it.
    app.patch(&format!(
        "/api/admin/products/{}",
        product["id"].as_str().unwrap()
    ))
    .token(&staff.token)
    .json(&json!({"price": "15.00"}))
    .send()
    .await
    .expect(200);
    let r = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({"total": "20.00"}))
        .send()
        .await
        .expect_problem(409, "price_changed");
    assert_eq!(r.body["currentTotal"], "30.00");
    // Not enough money: nothing charged, stock untouched, cart kept.
    app.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect_problem(409, "insufficient_funds");
    // Stock sold elsewhere meanwhile: out_of_stock names the line.
    let rival = app.fan("Rival", "PSG").await;
    deposit(&app, &rival, "100.00").await;
    add(&app, &rival, &product, 2).await.expect(200);
    app.post("/api/shop/checkout")
        .token(&rival.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201);
    let item = app
        .get("/api/shop/cart")
        .token(&fan.token)
        .send()
        .await
        .body["cart"]["items"][0]["id"]
        .clone();
    let r = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect_problem(409, "out_of_stock");
    assert_eq!(r.body["itemId"], item);
    assert_eq!(r.body["available"], 1);
    assert_eq!(balance(&app, &fan).await, "25.00");
    let p = app
        .get(&format!(
            "/api/shop/products/{}",
            product["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    assert_eq!(p.body["product"]["variants"][0]["stock"], 1);
    verify_ok(&app).await;
}

async fn concurrent_checkouts_never_oversell(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, _) = psg_product(&app, "5.00", 5).await;
    let mut fans = Vec::new();
    for i in 0..12 {
        let f = app.fan(&format!("Rush {i}"), "PSG").await;
        deposit(&app, &f, "20.00").await;
        add(&app, &f, &product, 1).await.expect(200);
        fans.push(f);
    }
    let results = futures::future::join_all(fans.iter().map(|f| {
        app.post("/api/shop/checkout")
            .token(&f.token)
            .json(&json!({}))
            .send()
    }))
    .await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "out_of_stock");
    }
    assert_eq!(ok, 5);
    let p = app
        .get(&format!(
            "/api/shop/products/{}",
            product["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    assert_eq!(p.body["product"]["variants"][0]["stock"], 0);
    assert_eq!(p.body["product"]["inStock"], false);
    let mut charged = 0;
    for f in &fans {
        if balance(&app, f).await == "15.00" {
            charged += 1;
        }
    }
    assert_eq!(charged, 5, "only the buyers were charged");
    verify_ok(&app).await;
}

async fn cancel_refunds_and_restocks(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, staff) = psg_product(&app, "33.33", 4).await;
    let fan = app.fan("Regret", "PSG").await;
    deposit(&app, &fan, "100.00").await;
    add(&app, &fan, &product, 2).await.expect(200);
    let order = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201)
        .body["order"]
        .clone();
    let id = order["id"].as_str().unwrap();
    assert_eq!(balance(&app, &fan).await, "33.34");
    // Another fan can neither see nor cancel it.
    let other = app.fan("Nosy", "PSG").await;
    app.get(&format!("/api/shop/orders/{id}"))
        .token(&other.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/api/shop/orders/{id}/cancel"))
        .token(&other.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    let r = app
        .post(&format!("/api/shop/orders/{id}/cancel"))
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["order"]["status"], "cancelled");
    assert_eq!(
        r.body["newBalance"], "100.00",
        "every cent back, commission included"
    );
    let p = app
        .get(&format!(
            "/api/shop/products/{}",
            product["id"].as_str().unwrap()
        ))
        .send()
        .await
        .expect(200);
    assert_eq!(p.body["product"]["variants"][0]["stock"], 4);
    app.post(&format!("/api/shop/orders/{id}/cancel"))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(409, "not_cancellable");
    // Once shipped, it cannot be cancelled.
    add(&app, &fan, &product, 1).await.expect(200);
    let second = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201)
        .body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/api/admin/orders/{second}/status"))
        .token(&staff.token)
        .json(&json!({"status": "shipped"}))
        .send()
        .await
        .expect(200);
    app.post(&format!("/api/shop/orders/{second}/cancel"))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(409, "not_cancellable");
    verify_ok(&app).await;
}

async fn staff_manage_their_clubs_products_and_orders(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Fan", "PSG").await;
    let om = app.staff(Some("OM")).await;
    let body = json!({"clubId": "PSG", "name": "Mug", "category": "home", "price": "12.50", "variants": [{"stock": 5}]});
    app.post("/api/admin/products")
        .token(&fan.token)
        .json(&body)
        .send()
        .await
        .expect_problem(403, "forbidden");
    app.post("/api/admin/products")
        .token(&om.token)
        .json(&body)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let mut bad = body.clone();
    bad["price"] = json!("12.505");
    let (product, psg) = psg_product(&app, "10.00", 2).await;
    app.post("/api/admin/products")
        .token(&psg.token)
        .json(&bad)
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let created = app
        .post("/api/admin/products")
        .token(&psg.token)
        .json(&body)
        .send()
        .await
        .expect(201);
    assert_eq!(created.body["product"]["price"], "12.50");
    let pid = product["id"].as_str().unwrap();
    app.patch(&format!("/api/admin/products/{pid}"))
        .token(&om.token)
        .json(&json!({"price": "1.00"}))
        .send()
        .await
        .expect_problem(403, "forbidden");
    // Sizes and stock.
    let vid = product["variants"][0]["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/admin/products/{pid}"))
        .token(&psg.token)
        .json(&json!({"variants": [{"id": vid, "stock": 9}]}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["product"]["variants"][0]["stock"], 9);
    // Deactivated: gone from the list, cannot be added.
    app.req(
        reqwest::Method::DELETE,
        &format!("/api/admin/products/{pid}"),
    )
    .token(&psg.token)
    .send()
    .await
    .expect(200);
    assert!(
        products(&app, "?club=PSG&limit=100")
            .await
            .iter()
            .all(|p| p["id"] != pid)
    );
    add(&app, &fan, &product, 1)
        .await
        .expect_problem(404, "not_found");
    // Order status: staff of a club in the order only, valid steps only.
    deposit(&app, &fan, "50.00").await;
    add(&app, &fan, &created.body["product"], 1)
        .await
        .expect(200);
    let oid = app
        .post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201)
        .body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = |token: &str, s: &str| {
        app.post(&format!("/api/admin/orders/{oid}/status"))
            .token(token)
            .json(&json!({"status": s}))
    };
    status(&om.token, "shipped")
        .send()
        .await
        .expect_problem(403, "forbidden");
    status(&fan.token, "shipped")
        .send()
        .await
        .expect_problem(403, "forbidden");
    status(&psg.token, "delivered")
        .send()
        .await
        .expect_problem(409, "invalid_transition");
    status(&psg.token, "shipped").send().await.expect(200);
    let r = status(&psg.token, "delivered").send().await.expect(200);
    assert_eq!(r.body["order"]["status"], "delivered");
    status(&psg.token, "lost")
        .send()
        .await
        .expect_problem(422, "validation_failed");
}
