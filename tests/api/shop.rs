use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, Resp, TestApp, account_balance, balance, deposit, spawn_app, verify_ok,
};

both_engines!(
    // The catalogue.
    the_six_demo_products_are_listed,
    products_are_listed_by_club_in_the_clubs_currency,
    products_are_listed_by_category,
    products_are_searched_by_name_and_a_percent_is_just_a_percent,
    a_jersey_lists_its_sizes_and_is_in_stock,
    products_page_with_a_cursor_or_an_offset,
    a_product_is_read_by_its_id_and_an_unknown_one_is_404,
    a_page_over_the_limit_is_refused,
    // The cart.
    a_product_with_sizes_needs_a_size_in_the_cart,
    a_fan_puts_a_jersey_in_the_cart,
    adding_again_sums_up_to_the_stock_and_the_line_limit,
    a_cart_lines_quantity_is_changed_but_never_to_zero,
    a_cart_line_is_removed_by_its_owner_only,
    adding_an_unknown_product_is_404,
    the_cart_needs_a_sign_in,
    // Checkout.
    checkout_pays_for_the_cart,
    a_retried_checkout_replays_the_same_order,
    checkout_empties_the_cart_and_takes_the_stock,
    each_club_is_paid_its_share_of_an_order,
    the_fan_finds_the_order_in_their_orders,
    an_empty_cart_cannot_be_checked_out,
    a_checkout_at_a_stale_total_is_refused,
    a_price_rise_after_filling_the_cart_is_caught,
    a_fan_short_of_money_is_charged_nothing,
    stock_sold_elsewhere_meanwhile_is_named_and_nothing_is_charged,
    concurrent_checkouts_never_oversell,
    // Cancelling.
    another_fan_can_neither_see_nor_cancel_an_order,
    cancelling_refunds_every_cent_and_restocks,
    an_order_is_cancelled_once,
    a_shipped_order_cannot_be_cancelled,
    // Staff.
    fans_and_other_clubs_staff_cannot_add_products,
    a_product_with_a_bad_price_is_refused,
    club_staff_add_a_product,
    other_clubs_staff_cannot_change_a_product,
    staff_change_the_stock_of_a_size,
    a_deactivated_product_leaves_the_shop,
    only_the_clubs_staff_move_an_order_along,
    an_order_moves_by_valid_steps_only,
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

async fn add(app: &TestApp, fan: &Fan, product: &Value, quantity: i64) -> Resp {
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": product["id"], "quantity": quantity}))
        .send()
        .await
}

async fn checkout(app: &TestApp, fan: &Fan, body: Value) -> Resp {
    app.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&body)
        .send()
        .await
}

/// The product as its public page shows it.
async fn product(app: &TestApp, product: &Value) -> Value {
    app.get(&format!(
        "/api/shop/products/{}",
        product["id"].as_str().unwrap()
    ))
    .send()
    .await
    .expect(200)
    .body["product"]
        .clone()
}

// The catalogue.

async fn the_six_demo_products_are_listed(engine: Engine) {
    let app = spawn_app(engine).await;
    let all = products(&app, "?category=all&limit=100").await;
    assert_eq!(all.len(), 11, "v1.0's six products and five more");
    assert_eq!(products(&app, "").await.len(), 11);
    let v1: Vec<&Value> = all
        .iter()
        .filter(|p| p["clubId"] == "AS_MONACO" && p["variants"][0]["size"].is_null())
        .collect();
    assert_eq!(v1.len(), 6, "v1.0's six, sold without a size");
    let jersey = v1.iter().find(|p| p["name"] == "Maillot Domicile 2025/26");
    assert_eq!(
        jersey.map(|j| (&j["price"], &j["compareAtPrice"])),
        Some((&json!("79.99"), &json!("99.99")))
    );
}

async fn products_are_listed_by_club_in_the_clubs_currency(engine: Engine) {
    let app = spawn_app(engine).await;
    let monaco = products(&app, "?club=AS_MONACO").await;
    assert_eq!(monaco.len(), 7);
    assert!(
        monaco
            .iter()
            .all(|p| p["clubId"] == "AS_MONACO" && p["currency"] == "EUR")
    );
    let wydad = products(&app, "?club=WYDAD_AC").await;
    assert_eq!(wydad[0]["currency"], "MAD");
    assert_eq!(wydad[0]["price"], "350.00");
}

async fn products_are_listed_by_category(engine: Engine) {
    let app = spawn_app(engine).await;
    let acc = products(&app, "?category=accessories").await;
    assert_eq!(acc.len(), 5);
    assert!(acc.iter().all(|p| p["category"] == "accessories"));
}

async fn products_are_searched_by_name_and_a_percent_is_just_a_percent(engine: Engine) {
    let app = spawn_app(engine).await;
    let found = products(&app, "?q=MAILLOT").await;
    assert_eq!(found.len(), 2);
    assert!(
        products(&app, "?q=%25").await.is_empty(),
        "a % is searched literally"
    );
}

async fn a_jersey_lists_its_sizes_and_is_in_stock(engine: Engine) {
    let app = spawn_app(engine).await;
    let psg = products(&app, "?club=PSG").await;
    let jersey = &psg[0];
    assert_eq!(jersey["variants"].as_array().unwrap().len(), 4);
    assert_eq!(jersey["inStock"], true);
}

async fn products_page_with_a_cursor_or_an_offset(engine: Engine) {
    let app = spawn_app(engine).await;
    let p1 = app
        .get("/api/shop/products?limit=8")
        .send()
        .await
        .expect(200);
    let next = p1.body["nextCursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/api/shop/products?limit=8&cursor={next}"))
        .send()
        .await
        .expect(200);
    assert_eq!(p2.body["products"].as_array().unwrap().len(), 3);
    assert!(p2.body["nextCursor"].is_null());
    let p3 = app
        .get("/api/shop/products?limit=8&offset=8")
        .send()
        .await
        .expect(200);
    assert_eq!(p3.body["products"], p2.body["products"]);
}

async fn a_product_is_read_by_its_id_and_an_unknown_one_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let jersey = products(&app, "?club=AS_MONACO").await[0].clone();
    product(&app, &jersey).await;
    app.get("/api/shop/products/nope")
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn a_page_over_the_limit_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/shop/products?limit=1000")
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

// The cart.

/// A PSG fan and the PSG jersey (size M is its second size, 8 in stock).
async fn shopper_and_jersey(app: &TestApp) -> (Fan, Value) {
    let fan = app.fan("Shopper", "PSG").await;
    let jersey = products(app, "?club=PSG").await[0].clone();
    (fan, jersey)
}

/// `quantity` jerseys in size M.
async fn add_m(app: &TestApp, fan: &Fan, jersey: &Value, quantity: i64) -> Resp {
    let m = jersey["variants"][1]["id"].as_str().unwrap();
    app.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": jersey["id"], "variantId": m, "quantity": quantity}))
        .send()
        .await
}

/// Five jerseys in size M in the cart: the cart line's id.
async fn five_in_the_cart(app: &TestApp, fan: &Fan, jersey: &Value) -> String {
    add_m(app, fan, jersey, 2).await.expect(200);
    let r = add_m(app, fan, jersey, 3).await.expect(200);
    r.body["cart"]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_product_with_sizes_needs_a_size_in_the_cart(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, jersey) = shopper_and_jersey(&app).await;
    add(&app, &fan, &jersey, 1)
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_fan_puts_a_jersey_in_the_cart(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, jersey) = shopper_and_jersey(&app).await;
    let r = add_m(&app, &fan, &jersey, 2).await.expect(200);
    assert_eq!(r.body["cart"]["total"], "199.98");
    assert_eq!(r.body["cart"]["itemCount"], 2);
}

async fn adding_again_sums_up_to_the_stock_and_the_line_limit(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, jersey) = shopper_and_jersey(&app).await;
    add_m(&app, &fan, &jersey, 2).await.expect(200);
    // Adding again sums; a line holds at most 10, and never more than the stock (8).
    let r = add_m(&app, &fan, &jersey, 3).await.expect(200);
    assert_eq!(r.body["cart"]["items"][0]["quantity"], 5);
    add_m(&app, &fan, &jersey, 4)
        .await
        .expect_problem(409, "out_of_stock");
    add_m(&app, &fan, &jersey, 11)
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_cart_lines_quantity_is_changed_but_never_to_zero(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, jersey) = shopper_and_jersey(&app).await;
    let item = five_in_the_cart(&app, &fan, &jersey).await;
    let change = |quantity: i64| {
        app.patch(&format!("/api/shop/cart/items/{item}"))
            .token(&fan.token)
            .json(&json!({"quantity": quantity}))
            .send()
    };
    let r = change(1).await.expect(200);
    assert_eq!(r.body["cart"]["total"], "99.99");
    change(0).await.expect_problem(422, "validation_failed");
}

async fn a_cart_line_is_removed_by_its_owner_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, jersey) = shopper_and_jersey(&app).await;
    let item = five_in_the_cart(&app, &fan, &jersey).await;
    let remove = |who: &Fan| {
        app.req(
            reqwest::Method::DELETE,
            &format!("/api/shop/cart/items/{item}"),
        )
        .token(&who.token)
        .send()
    };
    // Someone else's line is not theirs to touch.
    let other = app.fan("Other", "PSG").await;
    remove(&other).await.expect_problem(404, "not_found");
    let r = remove(&fan).await.expect(200);
    assert!(r.body["cart"]["items"].as_array().unwrap().is_empty());
}

async fn adding_an_unknown_product_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = shopper_and_jersey(&app).await;
    add(&app, &fan, &json!({"id": "nope"}), 1)
        .await
        .expect_problem(404, "not_found");
}

async fn the_cart_needs_a_sign_in(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/shop/cart")
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

// Checkout.

/// A Monaco fan with 300.00 and, in the cart, two OM scarves and an OL cap.
struct Collector {
    fan: Fan,
    scarf: Value,
}

async fn collector(app: &TestApp) -> Collector {
    let fan = app.fan("Collector", "AS_MONACO").await;
    deposit(app, &fan, "300.00").await;
    let scarf = products(app, "?club=OM").await[0].clone();
    let cap = products(app, "?club=OL").await[0].clone();
    add(app, &fan, &scarf, 2).await.expect(200);
    add(app, &fan, &cap, 1).await.expect(200);
    Collector { fan, scarf }
}

/// The collector's checkout at 79.97, with the key `checkout-1`.
async fn checkout_1(app: &TestApp, c: &Collector) -> Resp {
    app.post("/api/shop/checkout")
        .token(&c.fan.token)
        .header("idempotency-key", "checkout-1")
        .json(&json!({"total": "79.97"}))
        .send()
        .await
        .expect(201)
}

async fn checkout_pays_for_the_cart(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = collector(&app).await;
    let r = checkout_1(&app, &c).await;
    assert_eq!(r.body["newBalance"], "220.03");
    let order = &r.body["order"];
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"], "79.97");
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
}

async fn a_retried_checkout_replays_the_same_order(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = collector(&app).await;
    let order = checkout_1(&app, &c).await.body["order"].clone();
    // Charging nothing more.
    let again = checkout_1(&app, &c).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["order"]["id"], order["id"]);
    assert_eq!(balance(&app, &c.fan).await, "220.03");
}

async fn checkout_empties_the_cart_and_takes_the_stock(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = collector(&app).await;
    checkout_1(&app, &c).await;
    let cart = app
        .get("/api/shop/cart")
        .token(&c.fan.token)
        .send()
        .await
        .expect(200);
    assert!(cart.body["cart"]["items"].as_array().unwrap().is_empty());
    assert_eq!(product(&app, &c.scarf).await["variants"][0]["stock"], 28);
}

async fn each_club_is_paid_its_share_of_an_order(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = collector(&app).await;
    let earned = |club: &'static str| account_balance(&app, "club_revenue", club, "EUR");
    let before = (earned("OM").await, earned("OL").await);
    let fees_before = account_balance(&app, "platform_fees", "platform", "EUR").await;
    checkout_1(&app, &c).await;
    // The fan paid each club the price shown (2 scarves at 24.99, a cap at
    // 29.99): one line per club, no commission in the fan's history.
    let h = app
        .get("/api/wallet/transactions")
        .token(&c.fan.token)
        .send()
        .await
        .expect(200);
    let mut out: Vec<(String, String)> = h.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["direction"] == "out")
        .map(|t| {
            (
                t["counterparty"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["amount"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    assert_eq!(
        out,
        vec![
            ("Olympique Lyonnais".to_owned(), "29.99".to_owned()),
            ("Olympique de Marseille".to_owned(), "49.98".to_owned()),
        ]
    );
    // Each club kept 90%; the platform's 10% came from the clubs.
    assert_eq!(earned("OM").await - before.0, 4499);
    assert_eq!(earned("OL").await - before.1, 2700);
    let fees = account_balance(&app, "platform_fees", "platform", "EUR").await;
    assert_eq!(fees - fees_before, 499 + 299);
    verify_ok(&app).await;
}

async fn the_fan_finds_the_order_in_their_orders(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = collector(&app).await;
    let order = checkout_1(&app, &c).await.body["order"].clone();
    let orders = app
        .get("/api/shop/orders")
        .token(&c.fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(orders.body["orders"][0]["id"], order["id"]);
    verify_ok(&app).await;
}

/// A PSG pennant at 10.00 (3 in stock), its staff, and a fan with 25.00 who
/// put two in the cart.
struct Careful {
    product: Value,
    staff: Fan,
    fan: Fan,
}

async fn careful_buyer(app: &TestApp) -> Careful {
    let (product, staff) = psg_product(app, "10.00", 3).await;
    let fan = app.fan("Careful Buyer", "PSG").await;
    deposit(app, &fan, "25.00").await;
    add(app, &fan, &product, 2).await.expect(200);
    Careful {
        product,
        staff,
        fan,
    }
}

/// The price goes up to 15.00 after the fan filled the cart.
async fn price_rise(app: &TestApp, c: &Careful) {
    app.patch(&format!(
        "/api/admin/products/{}",
        c.product["id"].as_str().unwrap()
    ))
    .token(&c.staff.token)
    .json(&json!({"price": "15.00"}))
    .send()
    .await
    .expect(200);
}

async fn an_empty_cart_cannot_be_checked_out(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Careful Buyer", "PSG").await;
    deposit(&app, &fan, "25.00").await;
    checkout(&app, &fan, json!({}))
        .await
        .expect_problem(409, "cart_empty");
}

async fn a_checkout_at_a_stale_total_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = careful_buyer(&app).await;
    checkout(&app, &c.fan, json!({"total": "19.99"}))
        .await
        .expect_problem(409, "price_changed");
}

async fn a_price_rise_after_filling_the_cart_is_caught(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = careful_buyer(&app).await;
    price_rise(&app, &c).await;
    let r = checkout(&app, &c.fan, json!({"total": "20.00"}))
        .await
        .expect_problem(409, "price_changed");
    assert_eq!(r.body["currentTotal"], "30.00");
}

async fn a_fan_short_of_money_is_charged_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = careful_buyer(&app).await;
    price_rise(&app, &c).await;
    // Stock untouched, cart kept.
    checkout(&app, &c.fan, json!({}))
        .await
        .expect_problem(409, "insufficient_funds");
    assert_eq!(balance(&app, &c.fan).await, "25.00");
    assert_eq!(product(&app, &c.product).await["variants"][0]["stock"], 3);
}

async fn stock_sold_elsewhere_meanwhile_is_named_and_nothing_is_charged(engine: Engine) {
    let app = spawn_app(engine).await;
    let c = careful_buyer(&app).await;
    price_rise(&app, &c).await;
    let rival = app.fan("Rival", "PSG").await;
    deposit(&app, &rival, "100.00").await;
    add(&app, &rival, &c.product, 2).await.expect(200);
    checkout(&app, &rival, json!({})).await.expect(201);
    let item = app
        .get("/api/shop/cart")
        .token(&c.fan.token)
        .send()
        .await
        .body["cart"]["items"][0]["id"]
        .clone();
    // out_of_stock names the line.
    let r = checkout(&app, &c.fan, json!({}))
        .await
        .expect_problem(409, "out_of_stock");
    assert_eq!(r.body["itemId"], item);
    assert_eq!(r.body["available"], 1);
    assert_eq!(balance(&app, &c.fan).await, "25.00");
    assert_eq!(product(&app, &c.product).await["variants"][0]["stock"], 1);
    verify_ok(&app).await;
}

async fn concurrent_checkouts_never_oversell(engine: Engine) {
    let app = spawn_app(engine).await;
    let (pennant, _) = psg_product(&app, "5.00", 5).await;
    let mut fans = Vec::new();
    for i in 0..12 {
        let f = app.fan(&format!("Rush {i}"), "PSG").await;
        deposit(&app, &f, "20.00").await;
        add(&app, &f, &pennant, 1).await.expect(200);
        fans.push(f);
    }
    let results =
        futures::future::join_all(fans.iter().map(|f| checkout(&app, f, json!({})))).await;
    let ok = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "out_of_stock");
    }
    assert_eq!(ok, 5);
    let p = product(&app, &pennant).await;
    assert_eq!(p["variants"][0]["stock"], 0);
    assert_eq!(p["inStock"], false);
    let mut charged = 0;
    for f in &fans {
        if balance(&app, f).await == "15.00" {
            charged += 1;
        }
    }
    assert_eq!(charged, 5, "only the buyers were charged");
    verify_ok(&app).await;
}

// Cancelling.

/// Two pennants at 33.33 (4 in stock) bought by a fan who had 100.00.
struct Regret {
    product: Value,
    staff: Fan,
    fan: Fan,
    order_id: String,
}

async fn regret(app: &TestApp) -> Regret {
    let (product, staff) = psg_product(app, "33.33", 4).await;
    let fan = app.fan("Regret", "PSG").await;
    deposit(app, &fan, "100.00").await;
    add(app, &fan, &product, 2).await.expect(200);
    let order_id = checkout(app, &fan, json!({})).await.expect(201).body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Regret {
        product,
        staff,
        fan,
        order_id,
    }
}

async fn cancel(app: &TestApp, fan: &Fan, order_id: &str) -> Resp {
    app.post(&format!("/api/shop/orders/{order_id}/cancel"))
        .token(&fan.token)
        .send()
        .await
}

async fn another_fan_can_neither_see_nor_cancel_an_order(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = regret(&app).await;
    let other = app.fan("Nosy", "PSG").await;
    app.get(&format!("/api/shop/orders/{}", r.order_id))
        .token(&other.token)
        .send()
        .await
        .expect_problem(404, "not_found");
    cancel(&app, &other, &r.order_id)
        .await
        .expect_problem(404, "not_found");
}

async fn cancelling_refunds_every_cent_and_restocks(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = regret(&app).await;
    assert_eq!(balance(&app, &r.fan).await, "33.34");
    let c = cancel(&app, &r.fan, &r.order_id).await.expect(200);
    assert_eq!(c.body["order"]["status"], "cancelled");
    assert_eq!(
        c.body["newBalance"], "100.00",
        "every cent back, commission included"
    );
    assert_eq!(product(&app, &r.product).await["variants"][0]["stock"], 4);
}

async fn an_order_is_cancelled_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = regret(&app).await;
    cancel(&app, &r.fan, &r.order_id).await.expect(200);
    cancel(&app, &r.fan, &r.order_id)
        .await
        .expect_problem(409, "not_cancellable");
}

async fn a_shipped_order_cannot_be_cancelled(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = regret(&app).await;
    app.post(&format!("/api/admin/orders/{}/status", r.order_id))
        .token(&r.staff.token)
        .json(&json!({"status": "shipped"}))
        .send()
        .await
        .expect(200);
    cancel(&app, &r.fan, &r.order_id)
        .await
        .expect_problem(409, "not_cancellable");
    verify_ok(&app).await;
}

// Staff.

/// A PSG mug, as staff would put it on sale.
fn mug() -> Value {
    json!({"clubId": "PSG", "name": "Mug", "category": "home", "price": "12.50", "variants": [{"stock": 5}]})
}

async fn add_product(app: &TestApp, who: &Fan, body: &Value) -> Resp {
    app.post("/api/admin/products")
        .token(&who.token)
        .json(body)
        .send()
        .await
}

async fn change_product(app: &TestApp, who: &Fan, product: &Value, body: Value) -> Resp {
    app.patch(&format!(
        "/api/admin/products/{}",
        product["id"].as_str().unwrap()
    ))
    .token(&who.token)
    .json(&body)
    .send()
    .await
}

async fn fans_and_other_clubs_staff_cannot_add_products(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Fan", "PSG").await;
    let om = app.staff(Some("OM")).await;
    add_product(&app, &fan, &mug())
        .await
        .expect_problem(403, "forbidden");
    add_product(&app, &om, &mug())
        .await
        .expect_problem(403, "forbidden");
}

async fn a_product_with_a_bad_price_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let psg = app.staff(Some("PSG")).await;
    let mut bad = mug();
    bad["price"] = json!("12.505");
    add_product(&app, &psg, &bad)
        .await
        .expect_problem(422, "validation_failed");
}

async fn club_staff_add_a_product(engine: Engine) {
    let app = spawn_app(engine).await;
    let psg = app.staff(Some("PSG")).await;
    let created = add_product(&app, &psg, &mug()).await.expect(201);
    assert_eq!(created.body["product"]["price"], "12.50");
}

async fn other_clubs_staff_cannot_change_a_product(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, _) = psg_product(&app, "10.00", 2).await;
    let om = app.staff(Some("OM")).await;
    change_product(&app, &om, &product, json!({"price": "1.00"}))
        .await
        .expect_problem(403, "forbidden");
}

async fn staff_change_the_stock_of_a_size(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, psg) = psg_product(&app, "10.00", 2).await;
    let vid = product["variants"][0]["id"].as_str().unwrap();
    let r = change_product(
        &app,
        &psg,
        &product,
        json!({"variants": [{"id": vid, "stock": 9}]}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["product"]["variants"][0]["stock"], 9);
}

async fn a_deactivated_product_leaves_the_shop(engine: Engine) {
    let app = spawn_app(engine).await;
    let (product, psg) = psg_product(&app, "10.00", 2).await;
    let fan = app.fan("Fan", "PSG").await;
    let pid = product["id"].as_str().unwrap();
    app.req(
        reqwest::Method::DELETE,
        &format!("/api/admin/products/{pid}"),
    )
    .token(&psg.token)
    .send()
    .await
    .expect(200);
    // Gone from the list, cannot be added.
    assert!(
        products(&app, "?club=PSG&limit=100")
            .await
            .iter()
            .all(|p| p["id"] != pid)
    );
    add(&app, &fan, &product, 1)
        .await
        .expect_problem(404, "not_found");
}

/// A PSG fan's paid order of one mug: (PSG staff, OM staff, fan, order id).
async fn mug_order(app: &TestApp) -> (Fan, Fan, Fan, String) {
    let psg = app.staff(Some("PSG")).await;
    let om = app.staff(Some("OM")).await;
    let fan = app.fan("Fan", "PSG").await;
    let created = add_product(app, &psg, &mug()).await.expect(201);
    deposit(app, &fan, "50.00").await;
    add(app, &fan, &created.body["product"], 1)
        .await
        .expect(200);
    let oid = checkout(app, &fan, json!({})).await.expect(201).body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (psg, om, fan, oid)
}

async fn set_status(app: &TestApp, who: &Fan, oid: &str, status: &str) -> Resp {
    app.post(&format!("/api/admin/orders/{oid}/status"))
        .token(&who.token)
        .json(&json!({"status": status}))
        .send()
        .await
}

async fn only_the_clubs_staff_move_an_order_along(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, om, fan, oid) = mug_order(&app).await;
    // Staff of a club in the order only.
    set_status(&app, &om, &oid, "shipped")
        .await
        .expect_problem(403, "forbidden");
    set_status(&app, &fan, &oid, "shipped")
        .await
        .expect_problem(403, "forbidden");
}

async fn an_order_moves_by_valid_steps_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let (psg, _, _, oid) = mug_order(&app).await;
    set_status(&app, &psg, &oid, "delivered")
        .await
        .expect_problem(409, "invalid_transition");
    set_status(&app, &psg, &oid, "shipped").await.expect(200);
    let r = set_status(&app, &psg, &oid, "delivered").await.expect(200);
    assert_eq!(r.body["order"]["status"], "delivered");
    set_status(&app, &psg, &oid, "lost")
        .await
        .expect_problem(422, "validation_failed");
}
