//! Dated API versions: a v1.0 front end (no version header, v1.0's demo ids,
//! numbers for amounts) gets every field and JSON type of ../shared/API-v1.md;
//! the current version answers today's shapes; unknown versions are refused.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, TestApp, spawn_app, spawn_with, verify_ok};

both_engines!(
    a_v1_client_reads_every_v1_field_with_its_type,
    the_current_version_answers_todays_shapes,
    a_v1_session_from_signup_to_history,
    every_answer_names_its_version_and_unknown_ones_are_refused,
    the_default_version_is_configurable,
    the_signup_bonus_comes_from_the_promotions_account,
    a_purchase_without_a_category_buys_standard_seats,
    a_product_sold_by_size_still_needs_one,
);

const CURRENT: &str = paiecashfan::versions::CURRENT;

/// A front end built against v1.0: its `PaieCashFanAPIClient` sends JSON and
/// a bearer token, nothing else.
struct V1<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    token: Option<String>,
}

impl<'a> V1<'a> {
    fn new(app: &'a TestApp) -> Self {
        V1 {
            app,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}/api{path}", self.app.base))
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()
                .get("paiecashfan-version")
                .and_then(|v| v.to_str().ok()),
            Some("1.0"),
            "{path}"
        );
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value, expect: u16) -> Value {
        let (status, out) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, expect, "POST {path}: {out}");
        out
    }
}

/// Asserts the JSON type of each member: `string`, `number`, `boolean`,
/// `array`, `object`, or `ms` (a whole number of milliseconds in this
/// century).
#[track_caller]
fn shape(v: &Value, fields: &[(&str, &str)]) {
    for (name, kind) in fields {
        let f = &v[*name];
        let ok = match *kind {
            "string" => f.is_string(),
            "number" => f.is_number(),
            "boolean" => f.is_boolean(),
            "array" => f.is_array(),
            "object" => f.is_object(),
            "ms" => f
                .as_i64()
                .is_some_and(|n| (946_684_800_000..4_102_444_800_000).contains(&n)),
            other => panic!("unknown kind {other}"),
        };
        assert!(ok, "{name} should be {kind}, is {f} in {v}");
    }
}

const USER: &[(&str, &str)] = &[
    ("id", "string"),
    ("email", "string"),
    ("name", "string"),
    ("clubId", "string"),
];
const TRANSACTION: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("type", "string"),
    ("amount", "number"),
    ("currency", "string"),
    ("timestamp", "ms"),
    ("status", "string"),
];
const ESIM: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("planId", "string"),
    ("activatedAt", "ms"),
    ("expiresAt", "ms"),
    ("dataTotal", "number"),
    ("dataUsed", "number"),
    ("status", "string"),
    ("qrCode", "string"),
];
const TICKET: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("eventId", "string"),
    ("category", "string"),
    ("price", "number"),
    ("qrCode", "string"),
    ("nft", "boolean"),
    ("blockchain", "object"),
    ("purchasedAt", "ms"),
    ("status", "string"),
];

fn email() -> String {
    format!("v1-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn a_v1_client_reads_every_v1_field_with_its_type(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);

    // auth
    let r = v1
        .post(
            "/auth/register",
            json!({"email": email(), "password": "secret-123", "name": "Vee One", "clubId": "AS_MONACO"}),
            201,
        )
        .await;
    shape(
        &r,
        &[
            ("message", "string"),
            ("token", "string"),
            ("user", "object"),
            ("wallet", "object"),
        ],
    );
    shape(&r["user"], USER);
    shape(&r["wallet"], &[("id", "string"), ("balance", "number")]);
    let demo = v1
        .post(
            "/auth/login",
            json!({"email": "demo@paiecashfan.com", "password": "demo123"}),
            200,
        )
        .await;
    shape(
        &demo,
        &[
            ("message", "string"),
            ("token", "string"),
            ("user", "object"),
        ],
    );
    shape(&demo["user"], USER);
    v1.token = demo["token"].as_str().map(str::to_owned);
    let new_fan = r["user"]["id"].as_str().unwrap_or_default().to_owned();

    // wallet
    let b = v1.get("/wallet/balance").await;
    shape(
        &b,
        &[
            ("balance", "number"),
            ("currency", "string"),
            ("assets", "array"),
        ],
    );
    assert_eq!(b["balance"], json!(500));
    shape(
        &b["assets"][0],
        &[
            ("symbol", "string"),
            ("balance", "number"),
            ("valueEUR", "number"),
        ],
    );
    let d = v1
        .post(
            "/wallet/deposit",
            json!({"amount": 20.5, "method": "card"}),
            201,
        )
        .await;
    shape(
        &d,
        &[
            ("message", "string"),
            ("transaction", "object"),
            ("newBalance", "number"),
        ],
    );
    shape(&d["transaction"], TRANSACTION);
    shape(&d["transaction"], &[("method", "string")]);
    assert_eq!(d["transaction"]["amount"], json!(20.5));
    assert_eq!(d["newBalance"], json!(520.5));
    let s = v1
        .post(
            "/wallet/send",
            json!({"recipientId": new_fan, "amount": 10.25, "currency": "EUR"}),
            201,
        )
        .await;
    shape(
        &s,
        &[
            ("message", "string"),
            ("transaction", "object"),
            ("newBalance", "number"),
        ],
    );
    shape(&s["transaction"], TRANSACTION);
    shape(&s["transaction"], &[("recipient", "string")]);
    assert_eq!(s["transaction"]["amount"], json!(-10.25));
    assert_eq!(s["transaction"]["recipient"], json!(new_fan));
    assert_eq!(s["newBalance"], json!(510.25));
    let t = v1.get("/wallet/transactions?limit=2&offset=0").await;
    shape(&t, &[("transactions", "array"), ("total", "number")]);
    assert_eq!(t["total"], json!(3));
    assert_eq!(t["transactions"].as_array().map(Vec::len), Some(2));
    for tx in t["transactions"].as_array().into_iter().flatten() {
        shape(tx, TRANSACTION);
    }

    // eSIM
    let plans = v1.get("/esim/plans").await;
    let list = plans["plans"].as_array().cloned().unwrap_or_default();
    for p in &list {
        shape(
            p,
            &[
                ("id", "string"),
                ("name", "string"),
                ("region", "string"),
                ("data", "string"),
                ("duration", "number"),
                ("countries", "number"),
                ("price", "number"),
                ("currency", "string"),
            ],
        );
    }
    let plan = |id: &str| {
        list.iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    for (id, data, countries, price) in [
        ("europe-starter", "30 GB", 20, json!(9.99)),
        ("europe-unlimited", "100 GB", 35, json!(19.99)),
        ("global-unlimited", "Illimité", 120, json!(49.99)),
        ("asia-pacific", "50 GB", 15, json!(29.99)),
    ] {
        let p = plan(id);
        assert_eq!(p["data"], data, "{p}");
        assert_eq!(p["countries"], countries, "{p}");
        assert_eq!(p["price"], price, "{p}");
        assert_eq!(p["duration"], 30, "{p}");
        assert_eq!(p["currency"], "EUR");
    }
    assert_eq!(plan("europe-unlimited")["popular"], true);
    assert_eq!(
        plan("global-unlimited")["features"],
        json!(["5G", "hotspot"])
    );
    let a = v1
        .post("/esim/activate", json!({"planId": "europe-starter"}), 201)
        .await;
    shape(
        &a,
        &[
            ("message", "string"),
            ("esim", "object"),
            ("newBalance", "number"),
        ],
    );
    shape(&a["esim"], ESIM);
    assert_eq!(a["esim"]["planId"], "europe-starter");
    assert_eq!(a["esim"]["status"], "active");
    assert_eq!(a["esim"]["dataTotal"], json!(30));
    assert_eq!(a["newBalance"], json!(500.26));
    let active = v1.get("/esim/active").await;
    shape(&active["esim"], ESIM);

    // shop
    let products = v1.get("/shop/products?club=AS_MONACO&category=all").await;
    let products = products["products"].as_array().cloned().unwrap_or_default();
    for p in &products {
        shape(
            p,
            &[
                ("id", "string"),
                ("name", "string"),
                ("club", "string"),
                ("category", "string"),
                ("price", "number"),
                ("image", "string"),
                ("stock", "number"),
            ],
        );
        assert_eq!(p["club"], "AS_MONACO");
    }
    let product = |name: &str| {
        products
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let jersey = product("Maillot Domicile 2025/26");
    assert_eq!(
        (&jersey["price"], &jersey["oldPrice"], &jersey["discount"]),
        (&json!(79.99), &json!(99.99), &json!(20))
    );
    assert_eq!(product("NFT Édition Limitée")["stock"], 10);
    assert_eq!(product("NFT Édition Limitée")["nft"], true);
    assert_eq!(product("Veste d'Entraînement")["category"], "training");
    for name in [
        "Casquette Officielle",
        "Écharpe Supporter",
        "Ballon Officiel",
    ] {
        assert_eq!(product(name)["category"], "accessories");
    }
    let cap = product("Casquette Officielle");
    let add = v1
        .post(
            "/shop/cart/add",
            json!({"productId": cap["id"], "quantity": 2}),
            200,
        )
        .await;
    shape(
        &add,
        &[
            ("message", "string"),
            ("cart", "object"),
            ("itemCount", "number"),
        ],
    );
    let cart = v1.get("/shop/cart").await;
    let item = &cart["cart"]["items"][0];
    shape(
        item,
        &[
            ("productId", "string"),
            ("quantity", "number"),
            ("addedAt", "ms"),
        ],
    );
    let c = v1
        .post("/shop/checkout", json!({"total": 49.98}), 201)
        .await;
    shape(
        &c,
        &[
            ("message", "string"),
            ("order", "object"),
            ("newBalance", "number"),
        ],
    );
    shape(
        &c["order"],
        &[
            ("id", "string"),
            ("userId", "string"),
            ("items", "array"),
            ("total", "number"),
            ("status", "string"),
            ("createdAt", "ms"),
        ],
    );
    assert_eq!(c["order"]["status"], "confirmed");
    assert_eq!(c["order"]["total"], json!(49.98));

    // tickets
    let events = v1.get("/tickets/events?club=AS_MONACO").await;
    let events = events["events"].as_array().cloned().unwrap_or_default();
    for e in &events {
        shape(
            e,
            &[
                ("id", "string"),
                ("title", "string"),
                ("club", "string"),
                ("date", "ms"),
                ("venue", "string"),
                ("competition", "string"),
                ("priceFrom", "number"),
                ("seatsAvailable", "number"),
                ("image", "string"),
            ],
        );
    }
    let titles: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e["venue"] == "Stade Louis II, Monaco")
        .map(|e| {
            (
                e["title"].as_str().unwrap_or_default().to_owned(),
                e["priceFrom"].clone(),
            )
        })
        .collect();
    for (title, from) in [
        ("AS Monaco vs Paris Saint-Germain", json!(49.99)),
        ("AS Monaco vs Manchester City", json!(149.99)),
        ("AS Monaco vs Olympique Lyonnais", json!(59.99)),
    ] {
        assert!(
            titles.contains(&(title.to_owned(), from)),
            "{title} in {titles:?}"
        );
    }
    let psg = events
        .iter()
        .find(|e| e["title"] == "AS Monaco vs Paris Saint-Germain")
        .cloned()
        .unwrap_or_default();
    let p = v1
        .post(
            "/tickets/purchase",
            json!({"eventId": psg["id"], "category": "standard", "price": 49.99}),
            201,
        )
        .await;
    shape(
        &p,
        &[
            ("message", "string"),
            ("ticket", "object"),
            ("newBalance", "number"),
        ],
    );
    shape(&p["ticket"], TICKET);
    shape(
        &p["ticket"]["blockchain"],
        &[
            ("network", "string"),
            ("tokenId", "number"),
            ("contractAddress", "string"),
        ],
    );
    let mine = v1.get("/tickets/my-tickets").await;
    for t in mine["tickets"].as_array().into_iter().flatten() {
        shape(t, TICKET);
    }
    let id = p["ticket"]["id"].as_str().unwrap_or_default();
    let qr = v1.get(&format!("/tickets/{id}/qr")).await;
    shape(
        &qr,
        &[
            ("qrCode", "string"),
            ("ticketId", "string"),
            ("eventId", "string"),
        ],
    );
    assert_eq!(qr["qrCode"], p["ticket"]["qrCode"]);

    // social
    let convs = v1.get("/social/conversations").await;
    let conv = &convs["conversations"][0];
    shape(conv, &[("id", "string"), ("participants", "array")]);
    let m = v1
        .post(
            "/social/messages",
            json!({"conversationId": conv["id"], "message": "Daghe Munegu!"}),
            201,
        )
        .await;
    assert_eq!(m["message"], "Message envoyé");
    shape(
        &m["data"],
        &[
            ("id", "string"),
            ("conversationId", "string"),
            ("userId", "string"),
            ("message", "string"),
            ("timestamp", "ms"),
            ("read", "boolean"),
        ],
    );
    let feed = v1.get("/social/feed?page=1&limit=10").await;
    shape(
        &feed,
        &[("feed", "array"), ("page", "number"), ("total", "number")],
    );
    for post in feed["feed"].as_array().into_iter().flatten() {
        shape(
            post,
            &[
                ("id", "string"),
                ("type", "string"),
                ("author", "object"),
                ("content", "string"),
                ("likes", "number"),
                ("comments", "number"),
                ("timestamp", "ms"),
            ],
        );
        shape(
            &post["author"],
            &[("id", "string"), ("name", "string"), ("avatar", "string")],
        );
    }

    // AI
    let recs = v1.get("/ai/recommendations").await;
    for r in recs["recommendations"].as_array().into_iter().flatten() {
        shape(
            r,
            &[
                ("id", "string"),
                ("type", "string"),
                ("title", "string"),
                ("subtitle", "string"),
                ("content", "string"),
                ("tags", "array"),
                ("confidence", "number"),
            ],
        );
    }
    let i = v1.get("/ai/insights").await;
    let i = &i["insights"];
    shape(
        i,
        &[
            ("favoriteTeam", "object"),
            ("shoppingStyle", "object"),
            ("nextPurchaseProbability", "number"),
            ("engagementMultiplier", "number"),
            ("predictedValue", "number"),
            ("predictedLevel", "string"),
        ],
    );
    shape(
        &i["favoriteTeam"],
        &[("name", "string"), ("confidence", "number")],
    );
    shape(
        &i["shoppingStyle"],
        &[("style", "string"), ("confidence", "number")],
    );
    let p = v1.get("/ai/predictions").await;
    let p = &p["predictions"];
    shape(
        &p["nextPurchase"],
        &[
            ("probability", "number"),
            ("category", "string"),
            ("estimatedAmount", "number"),
            ("timeframe", "string"),
        ],
    );
    shape(
        &p["engagement"],
        &[
            ("currentLevel", "number"),
            ("predictedLevel", "number"),
            ("trend", "string"),
        ],
    );
    shape(
        &p["lifetime"],
        &[
            ("currentValue", "number"),
            ("predictedValue", "number"),
            ("timeframe", "string"),
        ],
    );

    // system
    let h = v1.get("/health").await;
    shape(
        &h,
        &[
            ("status", "string"),
            ("version", "string"),
            ("timestamp", "ms"),
            ("services", "object"),
        ],
    );
    assert_eq!(h["status"], "healthy");
    for s in ["auth", "wallet", "esim", "shop", "tickets", "social", "ai"] {
        assert_eq!(h["services"][s], "operational", "{h}");
    }
    let st = v1.get("/stats").await;
    shape(
        &st,
        &[
            ("users", "number"),
            ("wallets", "number"),
            ("transactions", "number"),
            ("esimActive", "number"),
            ("products", "number"),
            ("orders", "number"),
            ("events", "number"),
            ("tickets", "number"),
        ],
    );
    assert_eq!(st["esimActive"], 1);
    assert_eq!(st["tickets"], 1);

    // An error is problem details that still carry v1.0's `error`.
    let (status, err) = v1
        .call(
            Method::POST,
            "/wallet/send",
            Some(json!({"recipientId": new_fan, "amount": 100000, "currency": "EUR"})),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert!(err["error"].is_string(), "{err}");
    verify_ok(&app).await;
}

async fn the_current_version_answers_todays_shapes(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post("/api/auth/login")
        .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["paiecashfan-version"], CURRENT);
    assert!(r.body.get("message").is_none(), "{}", r.text);
    let token = r.body["token"].as_str().unwrap_or_default().to_owned();
    let get = |path: &'static str| {
        let app = &app;
        let token = token.clone();
        async move { app.get(path).token(&token).send().await.expect(200).body }
    };
    let b = get("/api/wallet/balance").await;
    assert_eq!(b["balance"], "500.00");
    assert!(b.get("assets").is_none());
    let t = get("/api/wallet/transactions").await;
    assert_eq!(t["transactions"][0]["amount"], "500.00");
    assert!(t["transactions"][0]["createdAt"].is_string());
    assert!(t["transactions"][0].get("timestamp").is_none());
    let plans = get("/api/esim/plans").await;
    assert!(plans["plans"][0]["countries"].is_array());
    assert!(plans["plans"][0]["price"].is_string());
    let products = get("/api/shop/products?club=AS_MONACO").await;
    let jersey = products["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "Maillot Domicile 2025/26"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(jersey["price"], "79.99");
    assert_eq!(jersey["compareAtPrice"], "99.99");
    assert!(jersey.get("oldPrice").is_none() && jersey.get("club").is_none());
    let events = get("/api/tickets/events?club=AS_MONACO").await;
    assert!(events["events"][0]["date"].is_string());
    assert!(events["events"][0]["priceFrom"].is_string());
    assert!(events["events"][0].get("title").is_none());
    let h = get("/api/health").await;
    assert_eq!(h["status"], "ok");
    assert!(h["timestamp"].is_string() && h.get("services").is_none());
    let s = get("/api/stats").await;
    assert!(s.get("esimActive").is_none() && s["activeEsims"].is_number());
    let i = get("/api/ai/insights").await;
    assert!(i["insights"]["predictedValue"].is_string());
}

async fn a_v1_session_from_signup_to_history(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);
    let me = v1
        .post(
            "/auth/register",
            json!({"email": email(), "password": "secret-123", "name": "Louis Deux", "clubId": "AS_MONACO"}),
            201,
        )
        .await;
    assert_eq!(me["wallet"]["balance"], json!(0));
    v1.token = me["token"].as_str().map(str::to_owned);
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

    let products = v1.get("/shop/products?club=AS_MONACO&category=all").await;
    let scarf = products["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "Écharpe Supporter"))
        .cloned()
        .unwrap_or_default();
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
    // Newest first: the transfer, the ticket, the order, the eSIM (each
    // purchase as the club's share and the platform's commission), the deposit.
    assert_eq!(amounts[0], json!(-15), "{h}");
    assert_eq!(amounts.last(), Some(&json!(300)), "{amounts:?}");
    let cents = |v: &Value| (v.as_f64().unwrap_or(f64::NAN) * 100.0).round() as i64;
    let spent: i64 = amounts.iter().map(cents).filter(|c| *c < 0).sum();
    assert_eq!(spent, -(1500 + 4999 + 1499 + 1999), "{amounts:?}");
    assert_eq!(amounts.iter().map(cents).sum::<i64>(), 20003);
    assert_eq!(h["total"], json!(amounts.len()));
    verify_ok(&app).await;
}

async fn every_answer_names_its_version_and_unknown_ones_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let plain = reqwest::Client::new();
    let r = plain
        .get(format!("{}/api/no/such/route", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["paiecashfan-version"], "1.0");
    for named in [CURRENT, "1.0"] {
        let r = plain
            .get(format!("{}/api/clubs", app.base))
            .header("PaieCashFan-Version", named)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["paiecashfan-version"], named);
    }
    let r = app
        .get("/api/health")
        .header("PaieCashFan-Version", "2019-01-01")
        .send()
        .await
        .expect_problem(400, "unknown_api_version");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(CURRENT)
    );
    assert_eq!(r.body["knownVersions"], json!(["1.0", CURRENT]));
    // A refused version changes nothing: the transfer is not made.
    let a = app.fan("Sender", "PSG").await;
    let b = app.fan("Receiver", "PSG").await;
    crate::helpers::deposit(&app, &a, "10.00").await;
    app.post("/api/wallet/send")
        .token(&a.token)
        .header("PaieCashFan-Version", "v2")
        .json(&json!({"recipientId": b.id, "amount": "5.00"}))
        .send()
        .await
        .expect_problem(400, "unknown_api_version");
    assert_eq!(crate::helpers::balance(&app, &a).await, "10.00");
}

async fn the_default_version_is_configurable(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("API_DEFAULT_VERSION".into(), CURRENT.into());
    })
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["paiecashfan-version"], CURRENT);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let refused = paiecashfan::config::Config::from_map(
        &[
            ("JWT_SECRET", "a-test-secret-of-enough-bytes"),
            ("API_DEFAULT_VERSION", "2.0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    );
    assert!(refused.is_err());
}

async fn the_signup_bonus_comes_from_the_promotions_account(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("SIGNUP_BONUS".into(), "EUR:100".into());
    })
    .await;
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": email(), "password": "secret-123", "name": "Lucky", "clubId": "AS_MONACO"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["wallet"]["balance"], "100.00");
    assert_eq!(r.body["wallet"]["currency"], "EUR");
    let token = r.body["token"].as_str().unwrap_or_default();
    let h = app
        .get("/api/wallet/transactions")
        .token(token)
        .send()
        .await
        .expect(200);
    let t = &h.body["transactions"][0];
    assert_eq!(
        (&t["type"], &t["amount"]),
        (&json!("bonus"), &json!("100.00"))
    );
    assert_eq!(t["counterparty"]["type"], "platform");
    // The money has a source: the promotions account owes what it gave.
    let (promo,): (i64,) = sqlx::query_as(
        "SELECT balance FROM accounts WHERE kind = 'promotions' AND currency = 'EUR'",
    )
    .fetch_one(app.state.db.reader())
    .await
    .expect("promotions account");
    // Every fan got it, the demo fans seeded at start too.
    let (fans,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'fan'")
        .fetch_one(app.state.db.reader())
        .await
        .expect("fans");
    assert_eq!(promo, -10_000 * fans);
    verify_ok(&app).await;

    // Without SIGNUP_BONUS a new wallet starts empty.
    let plain = spawn_app(Engine::Sqlite).await;
    let r = plain
        .post("/api/auth/register")
        .json(&json!({"email": email(), "password": "secret-123", "name": "Plain", "clubId": "WYDAD_AC"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["wallet"]["balance"], "0.00");
    assert_eq!(r.body["wallet"]["currency"], "MAD");
}

async fn a_purchase_without_a_category_buys_standard_seats(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Standard", "AS_MONACO").await;
    crate::helpers::deposit(&app, &fan, "200.00").await;
    let events = app.get("/api/tickets/events").send().await.expect(200).body["events"].clone();
    let city = events
        .as_array()
        .and_then(|l| l.iter().find(|e| e["awayTeam"] == "Manchester City"))
        .and_then(|e| e["id"].as_str())
        .unwrap_or_default()
        .to_owned();
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
    let om = events
        .as_array()
        .and_then(|l| l.iter().find(|e| e["homeClub"] == "OM"))
        .and_then(|e| e["id"].as_str())
        .unwrap_or_default()
        .to_owned();
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
    let demo = v1
        .post(
            "/auth/login",
            json!({"email": "demo@paiecashfan.com", "password": "demo123"}),
            200,
        )
        .await;
    v1.token = demo["token"].as_str().map(str::to_owned);
    let products = v1.get("/shop/products?club=AS_MONACO&category=all").await;
    let hoodie = products["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "Sweat à capuche"))
        .cloned()
        .unwrap_or_default();
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
