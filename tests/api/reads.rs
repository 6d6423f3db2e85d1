//! Public reads answered from memory: what a purchase or an admin's edit
//! changes shows within the stated bound (at once on the instance that made
//! it; on the others through Redis, or within `READ_MODEL_MAX_AGE_MS`), lists
//! carry an `ETag` that a client revalidates with a 304, and nothing private
//! may sit in a shared cache.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, deposit, psg_home_match, redis_url, spawn_with};

both_engines!(
    seats_on_the_list_follow_a_purchase_here_at_once_and_elsewhere_within_the_bound,
    stock_on_the_list_follows_a_checkout_here_at_once_and_elsewhere_within_the_bound,
    the_lists_are_answered_from_memory_until_a_change_is_known,
    an_admin_edit_and_sales_cross_instances_through_redis,
    a_matching_etag_gets_304_and_a_change_gets_a_new_one,
    each_version_of_a_list_has_its_own_etag,
    private_answers_are_never_kept_by_a_shared_cache,
);

/// The default bound, with room for a slow test machine.
const BOUND: Duration = Duration::from_millis(1000 + 700);

/// A PSG home match with 30 seats in one category.
async fn psg_match(app: &TestApp) -> String {
    let categories = json!([{"name": "Auteuil", "price": "40.00", "capacity": 30}]);
    let (event, _) = psg_home_match(app, 72, 4, categories).await;
    event["id"].as_str().unwrap().to_owned()
}

/// Seats left in the match, as the public list shows it.
async fn seats_listed(app: &TestApp, event: &str) -> i64 {
    let list = app
        .get("/api/tickets/events?club=PSG")
        .send()
        .await
        .expect(200);
    let e = list.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == event)
        .unwrap_or_else(|| panic!("{event} is not on the list: {}", list.text));
    e["seatsAvailable"].as_i64().unwrap()
}

/// A PSG product with `stock` units and its staff.
async fn psg_product(app: &TestApp, stock: i64) -> (String, Fan) {
    let staff = app.staff(Some("PSG")).await;
    let r = app
        .post("/api/admin/products")
        .token(&staff.token)
        .json(
            &json!({"clubId": "PSG", "name": "Fanion", "category": "accessories", "price": "10.00",
                      "variants": [{"size": null, "stock": stock}]}),
        )
        .send()
        .await
        .expect(201);
    (r.body["product"]["id"].as_str().unwrap().to_owned(), staff)
}

/// The product as the public catalogue lists it.
async fn listed_product(app: &TestApp, id: &str) -> Value {
    let list = app
        .get("/api/shop/products?club=PSG&limit=100")
        .send()
        .await
        .expect(200);
    list.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not listed: {}", list.text))
}

/// Polls `read` until it gives `want`; returns how long that took, or
/// fails once `within` has passed.
async fn shows_within<F, Fut, T>(within: Duration, want: T, mut read: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    T: PartialEq + std::fmt::Debug,
{
    let started = Instant::now();
    loop {
        let seen = read().await;
        if seen == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {seen:?} after {within:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn seats_on_the_list_follow_a_purchase_here_at_once_and_elsewhere_within_the_bound(
    engine: Engine,
) {
    let a = spawn_with(engine, |_| {}).await;
    let b = a.sibling(|_| {}).await;
    let event = psg_match(&a).await;
    assert_eq!(seats_listed(&a, &event).await, 30);
    assert_eq!(seats_listed(&b, &event).await, 30);
    let fan = a.fan("Drop Fan", "PSG").await;
    deposit(&a, &fan, "200.00").await;
    a.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event, "category": "Auteuil", "quantity": 2}))
        .send()
        .await
        .expect(201);
    // The instance that sold them knows at once.
    assert_eq!(seats_listed(&a, &event).await, 28);
    let single = a
        .get(&format!("/api/tickets/events/{event}"))
        .send()
        .await
        .expect(200);
    assert_eq!(single.body["event"]["seatsAvailable"], 28);
    // The other, without Redis, within its snapshot's age.
    shows_within(BOUND, 28, || seats_listed(&b, &event)).await;
}

async fn stock_on_the_list_follows_a_checkout_here_at_once_and_elsewhere_within_the_bound(
    engine: Engine,
) {
    let a = spawn_with(engine, |_| {}).await;
    let b = a.sibling(|_| {}).await;
    let (product, _) = psg_product(&a, 3).await;
    assert_eq!(
        listed_product(&b, &product).await["variants"][0]["stock"],
        3
    );
    let fan = a.fan("Shopper", "PSG").await;
    deposit(&a, &fan, "50.00").await;
    a.post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": product, "quantity": 3}))
        .send()
        .await
        .expect(200);
    a.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201);
    let here = listed_product(&a, &product).await;
    assert_eq!(here["variants"][0]["stock"], 0);
    assert_eq!(here["inStock"], false);
    shows_within(BOUND, json!(false), || async {
        listed_product(&b, &product).await["inStock"].clone()
    })
    .await;
}

/// A change written behind the server's back (not through its API) is not
/// seen while the snapshot is current: the lists come from memory, not from
/// the database. The next change the server makes brings both.
async fn the_lists_are_answered_from_memory_until_a_change_is_known(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("READ_MODEL_MAX_AGE_MS".into(), "600000".into());
    })
    .await;
    let event = psg_match(&app).await;
    let (product, staff) = psg_product(&app, 5).await;
    assert_eq!(seats_listed(&app, &event).await, 30);
    assert_eq!(
        listed_product(&app, &product).await["variants"][0]["stock"],
        5
    );
    let mut tx = app.state.db.begin_write().await.unwrap();
    for (sql, id) in [
        (
            "UPDATE ticket_categories SET sold = 10 WHERE event_id = $1",
            &event,
        ),
        (
            "UPDATE product_variants SET stock = 1 WHERE product_id = $1",
            &product,
        ),
    ] {
        sqlx::query(sql).bind(id).execute(tx.conn()).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(seats_listed(&app, &event).await, 30);
    assert_eq!(
        listed_product(&app, &product).await["variants"][0]["stock"],
        5
    );
    app.patch(&format!("/api/admin/products/{product}"))
        .token(&staff.token)
        .json(&json!({"price": "12.00"}))
        .send()
        .await
        .expect(200);
    let p = listed_product(&app, &product).await;
    assert_eq!(
        (p["price"].as_str(), p["variants"][0]["stock"].as_i64()),
        (Some("12.00"), Some(1))
    );
    // Events are another topic: still the snapshot taken before.
    assert_eq!(seats_listed(&app, &event).await, 30);
}

async fn an_admin_edit_and_sales_cross_instances_through_redis(engine: Engine) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: cross-instance invalidation not tested");
        return;
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    // Snapshots that never age out within the test: only the fan-out can
    // tell B what changed.
    let a = spawn_with(engine, |v| {
        v.insert("REDIS_URL".into(), redis.clone());
        v.insert("REDIS_PREFIX".into(), prefix.clone());
        v.insert("READ_MODEL_MAX_AGE_MS".into(), "600000".into());
    })
    .await;
    let b = a.sibling(|_| {}).await;
    let (product, staff) = psg_product(&a, 5).await;
    assert_eq!(listed_product(&a, &product).await["price"], "10.00");
    assert_eq!(listed_product(&b, &product).await["price"], "10.00");
    // B's subscription is in place before the change.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.patch(&format!("/api/admin/products/{product}"))
        .token(&staff.token)
        .json(&json!({"price": "15.00"}))
        .send()
        .await
        .expect(200);
    assert_eq!(listed_product(&a, &product).await["price"], "15.00");
    let single = a
        .get(&format!("/api/shop/products/{product}"))
        .send()
        .await
        .expect(200);
    assert_eq!(single.body["product"]["price"], "15.00");
    shows_within(Duration::from_millis(1000), json!("15.00"), || async {
        listed_product(&b, &product).await["price"].clone()
    })
    .await;

    // Sales travel too, a burst at a time (at most every 100 ms).
    let event = psg_match(&a).await;
    assert_eq!(seats_listed(&b, &event).await, 30);
    let fan = a.fan("Drop Fan", "PSG").await;
    deposit(&a, &fan, "200.00").await;
    for _ in 0..2 {
        a.post("/api/tickets/purchase")
            .token(&fan.token)
            .json(&json!({"eventId": event, "category": "Auteuil", "quantity": 1}))
            .send()
            .await
            .expect(201);
    }
    shows_within(Duration::from_millis(1000), 28, || seats_listed(&b, &event)).await;

    // The same for a plan: each topic travels on its own.
    let admin = a.staff(None).await;
    a.patch("/api/admin/esim/plans/europe-starter")
        .token(&admin.token)
        .json(&json!({"price": "7.50"}))
        .send()
        .await
        .expect(200);
    shows_within(Duration::from_millis(1000), json!("7.50"), || async {
        let r = b.get("/api/esim/plans").send().await.expect(200);
        r.body["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "europe-starter")
            .map(|p| p["price"].clone())
            .unwrap_or_default()
    })
    .await;
}

fn etag(r: &crate::helpers::Resp) -> String {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no ETag: {:?}", r.headers))
        .to_owned()
}

async fn a_matching_etag_gets_304_and_a_change_gets_a_new_one(engine: Engine) {
    let app = spawn_with(engine, |_| {}).await;
    for path in [
        "/api/clubs",
        "/api/shop/products?category=all",
        "/api/tickets/events",
        "/api/esim/plans",
    ] {
        let first = app.get(path).send().await.expect(200);
        assert_eq!(
            first.headers["cache-control"], "public, max-age=1",
            "{path}"
        );
        assert_eq!(first.headers["vary"], "paiecashfan-version", "{path}");
        assert_eq!(first.headers["content-type"], "application/json", "{path}");
        let tag = etag(&first);
        let again = app
            .get(path)
            .header("if-none-match", &tag)
            .send()
            .await
            .expect(304);
        assert!(again.text.is_empty(), "{path}: a 304 has no body");
        assert_eq!(etag(&again), tag, "{path}");
        assert_eq!(again.headers["cache-control"], "public, max-age=1");
        // A list of tags, weak or not, as caches send them.
        app.get(path)
            .header("if-none-match", &format!("\"other\", W/{tag}"))
            .send()
            .await
            .expect(304);
        let other = app
            .get(path)
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .expect(200);
        assert_eq!(other.body, first.body, "{path}");
    }

    let before = app.get("/api/esim/plans").send().await.expect(200);
    let admin = app.staff(None).await;
    app.patch("/api/admin/esim/plans/europe-starter")
        .token(&admin.token)
        .json(&json!({"price": "8.99"}))
        .send()
        .await
        .expect(200);
    let after = app
        .get("/api/esim/plans")
        .header("if-none-match", &etag(&before))
        .send()
        .await
        .expect(200);
    assert_ne!(etag(&after), etag(&before));
    assert!(after.text.contains("\"8.99\""), "{}", after.text);
    app.get("/api/esim/plans")
        .header("if-none-match", &etag(&after))
        .send()
        .await
        .expect(304);
}

async fn each_version_of_a_list_has_its_own_etag(engine: Engine) {
    let app = spawn_with(engine, |_| {}).await;
    let current = app.get("/api/shop/products").send().await.expect(200);
    let v1 = app
        .get("/api/shop/products")
        .header("paiecashfan-version", "1.0")
        .send()
        .await
        .expect(200);
    assert_ne!(etag(&current), etag(&v1));
    assert!(v1.body["products"][0]["price"].is_number(), "{}", v1.text);
    // v1.0's tag revalidates v1.0's answer, not the current one.
    app.get("/api/shop/products")
        .header("paiecashfan-version", "1.0")
        .header("if-none-match", &etag(&v1))
        .send()
        .await
        .expect(304);
    app.get("/api/shop/products")
        .header("if-none-match", &etag(&v1))
        .send()
        .await
        .expect(200);
}

async fn private_answers_are_never_kept_by_a_shared_cache(engine: Engine) {
    let app = spawn_with(engine, |_| {}).await;
    let fan = app.fan("Private Person", "PSG").await;
    deposit(&app, &fan, "20.00").await;
    for path in [
        "/api/wallet/balance",
        "/api/wallet/transactions",
        "/api/tickets/my-tickets",
        "/api/shop/cart",
        "/api/shop/orders",
        "/api/auth/me",
        "/api/notifications",
    ] {
        let r = app.get(path).token(&fan.token).send().await.expect(200);
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        assert!(r.headers.get("etag").is_none(), "{path}");
    }
    let login = app
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(200);
    assert_eq!(login.headers["cache-control"], "no-store");
    let refused = app.get("/api/wallet/balance").send().await.expect(401);
    assert_eq!(refused.headers["cache-control"], "no-store");
    // A public list asked with a token is still the same for everyone.
    let list = app
        .get("/api/esim/plans")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(list.headers["cache-control"], "public, max-age=1");
}
