//! Every v1.0 route as the v1.0 client calls it, each field and JSON type.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ESIM, TICKET, TRANSACTION, USER, V1, shape};
use crate::both_engines;
use crate::helpers::{Engine, spawn_app, verify_ok};

both_engines!(a_v1_client_reads_every_v1_field_with_its_type);

async fn a_v1_client_reads_every_v1_field_with_its_type(engine: Engine) {
    let app = spawn_app(engine).await;
    let mut v1 = V1::new(&app);

    // auth
    let r = v1.register("Vee One").await;
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
    let demo = v1.demo().await;
    shape(
        &demo,
        &[
            ("message", "string"),
            ("token", "string"),
            ("user", "object"),
        ],
    );
    shape(&demo["user"], USER);
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
            ("favoritePlayer", "object"),
            ("shoppingStyle", "object"),
            ("nextPurchaseProbability", "number"),
            ("engagementMultiplier", "number"),
            ("predictedValue", "number"),
            ("predictedLevel", "string"),
        ],
    );
    for favourite in ["favoriteTeam", "favoritePlayer"] {
        shape(
            &i[favourite],
            &[("name", "string"), ("confidence", "number")],
        );
    }
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
