//! Recommendations, insights and predictions, as fans and staff use them.
//! Purchases here are made in the clubs the demo data leaves without any,
//! so every count is this test's own.

use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    BIN, Engine, Fan, TEST_JWT_SECRET, TestApp, deposit, rfc3339_in, spawn_app, spawn_with,
};

both_engines!(
    a_purchase_brings_what_other_fans_bought_with_it,
    a_new_fan_gets_their_clubs_best_sellers_and_a_follow_widens_them,
    sold_out_inactive_and_owned_items_are_never_recommended,
    an_away_match_abroad_brings_an_esim_for_that_country,
    insights_show_the_fans_own_evidence_and_nobody_elses,
    predictions_give_each_upcoming_match_probabilities_that_sum_to_one,
    staff_record_a_result_and_the_ratings_follow_it,
    the_model_is_rebuilt_by_admins_or_the_cli_and_served_by_every_instance,
    what_is_on_sale_is_read_at_most_once_per_ttl,
);

/// A product of `club` created by its staff; returns its id.
async fn product(
    app: &TestApp,
    club: &str,
    name: &str,
    category: &str,
    price: &str,
    stock: i64,
) -> String {
    let staff = app.staff(Some(club)).await;
    let r = app
        .post("/api/admin/products")
        .token(&staff.token)
        .json(
            &json!({"clubId": club, "name": name, "category": category, "price": price,
                      "variants": [{"size": null, "stock": stock}]}),
        )
        .send()
        .await
        .expect(201);
    r.body["product"]["id"].as_str().unwrap().to_owned()
}

async fn buy(app: &TestApp, fan: &Fan, products: &[&str]) {
    for p in products {
        app.post("/api/shop/cart/add")
            .token(&fan.token)
            .json(&json!({"productId": p, "quantity": 1}))
            .send()
            .await
            .expect(200);
    }
    app.post("/api/shop/checkout")
        .token(&fan.token)
        .json(&json!({}))
        .send()
        .await
        .expect(201);
}

async fn shopper(app: &TestApp, name: &str, club: &str) -> Fan {
    let f = app.fan(name, club).await;
    deposit(app, &f, "500.00").await;
    f
}

async fn rebuild(app: &TestApp) -> Value {
    let admin = app.staff(None).await;
    app.post("/api/admin/ai/rebuild")
        .token(&admin.token)
        .send()
        .await
        .expect(200)
        .body
}

async fn recommendations(app: &TestApp, fan: &Fan) -> Vec<Value> {
    app.get("/api/ai/recommendations?limit=20")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["recommendations"]
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(recs: &'a [Value], item: &str) -> Option<&'a Value> {
    recs.iter().find(|r| r["itemId"] == item)
}

async fn a_purchase_brings_what_other_fans_bought_with_it(engine: Engine) {
    let app = spawn_app(engine).await;
    let flag = product(&app, "OL", "Fanion des Gones", "accessories", "5.00", 50).await;
    let bottle = product(&app, "OL", "Gourde Lyon", "accessories", "7.00", 50).await;
    for i in 0..3 {
        let f = shopper(&app, &format!("Gone {i}"), "OL").await;
        buy(&app, &f, &[&flag, &bottle]).await;
    }
    let report = rebuild(&app).await;
    assert!(report["interactions"].as_u64().unwrap() >= 6, "{report}");
    assert!(report["fans"].as_u64().unwrap() >= 3, "{report}");

    // A Marseille fan: Lyon's shop is nothing to them yet.
    let fan = shopper(&app, "Curious", "OM").await;
    let before = recommendations(&app, &fan).await;
    assert!(
        find(&before, &bottle).is_none_or(|r| r["source"] != "co_purchase"),
        "{before:?}"
    );
    buy(&app, &fan, &[&flag]).await;
    let after = recommendations(&app, &fan).await;
    assert!(
        find(&after, &flag).is_none(),
        "what they own is not offered again"
    );
    let rec = find(&after, &bottle).expect("the bottle that goes with the flag");
    assert_eq!(rec["type"], "product");
    assert_eq!(rec["id"], format!("product:{bottle}"));
    assert_eq!(rec["source"], "co_purchase");
    assert_eq!(
        rec["reason"],
        "Fans who bought Fanion des Gones also bought this (3 fans)."
    );
    assert_eq!(
        after[0]["itemId"], bottle,
        "the strongest evidence first: {after:?}"
    );
    let c = rec["confidence"].as_f64().unwrap();
    assert!(c > 0.0 && c < 1.0);
    for r in &after {
        for field in ["title", "subtitle", "content", "reason"] {
            assert!(r[field].is_string(), "{field} in {r}");
        }
        assert!(r["tags"].is_array());
    }
}

async fn a_new_fan_gets_their_clubs_best_sellers_and_a_follow_widens_them(engine: Engine) {
    let app = spawn_app(engine).await;
    let scarf = product(&app, "PSG", "Écharpe Ultras", "accessories", "15.00", 50).await;
    let mug = product(&app, "PSG", "Mug Parc", "accessories", "9.00", 50).await;
    for i in 0..3 {
        let f = shopper(&app, &format!("Parisien {i}"), "PSG").await;
        buy(&app, &f, &[&scarf]).await;
    }
    let f = shopper(&app, "Parisien mug", "PSG").await;
    buy(&app, &f, &[&mug]).await;
    rebuild(&app).await;

    let newcomer = app.fan("New Parisien", "PSG").await;
    let recs = recommendations(&app, &newcomer).await;
    assert_eq!(recs[0]["itemId"], scarf, "{recs:?}");
    assert_eq!(recs[0]["source"], "club_popularity");
    assert_eq!(
        recs[0]["reason"],
        "Popular with Paris Saint-Germain fans: 3 have bought it."
    );
    let scarf_at = recs.iter().position(|r| r["itemId"] == scarf);
    let mug_at = recs.iter().position(|r| r["itemId"] == mug);
    assert!(scarf_at.is_some() && mug_at.is_some(), "{recs:?}");
    assert!(scarf_at < mug_at, "{recs:?}");

    // A Marseille fan sees Marseille first; following PSG brings PSG's
    // best seller and PSG's match.
    let om = app.fan("Minot", "OM").await;
    let recs = recommendations(&app, &om).await;
    assert_ne!(recs[0]["itemId"], scarf);
    assert!(
        recs.iter()
            .all(|r| r["title"] != "AS Monaco – Paris Saint-Germain")
    );
    app.post("/api/social/clubs/PSG/follow")
        .token(&om.token)
        .send()
        .await
        .expect(204);
    let recs = recommendations(&app, &om).await;
    let s = find(&recs, &scarf).expect("PSG's best seller");
    assert_eq!(s["source"], "club_popularity");
    assert_eq!(
        s["reason"],
        "Popular with Paris Saint-Germain fans: 3 have bought it."
    );
    let m = recs
        .iter()
        .find(|r| r["title"] == "AS Monaco – Paris Saint-Germain")
        .expect("the followed club's match");
    assert_eq!(m["type"], "event");
    assert_eq!(m["source"], "upcoming_match");
    let reason = m["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Paris Saint-Germain (you follow them) plays away at AS Monaco on "),
        "{reason}"
    );
}

/// Moves a match into the past, as if an hour ago had been its kick-off.
async fn played_already(app: &TestApp, event: &str) {
    let past = paiecashfan::db::now_ms() - 3_600_000;
    let mut tx = app.state.db.begin_write().await.unwrap();
    sqlx::query(
        "UPDATE events SET sale_starts_at = $1, sale_ends_at = $1, kickoff_at = $1 WHERE id = $2",
    )
    .bind(past)
    .bind(event)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn sold_out_inactive_and_owned_items_are_never_recommended(engine: Engine) {
    let app = spawn_app(engine).await;
    let last = product(&app, "OL", "Dernier fanion", "accessories", "5.00", 1).await;
    let cap = product(&app, "OL", "Bonnet Lyon", "accessories", "12.00", 20).await;
    let a = shopper(&app, "First", "OL").await;
    buy(&app, &a, &[&last]).await;
    let b = shopper(&app, "Second", "OL").await;
    buy(&app, &b, &[&cap]).await;
    rebuild(&app).await;

    let fan = app.fan("Third", "OL").await;
    let recs = recommendations(&app, &fan).await;
    assert!(find(&recs, &last).is_none(), "sold out: {recs:?}");
    assert!(find(&recs, &cap).is_some(), "{recs:?}");
    assert!(
        find(&recommendations(&app, &b).await, &cap).is_none(),
        "owned"
    );

    let staff = app.staff(Some("OL")).await;
    app.patch(&format!("/api/admin/products/{cap}"))
        .token(&staff.token)
        .json(&json!({"active": false}))
        .send()
        .await
        .expect(200);
    assert!(
        find(&recommendations(&app, &fan).await, &cap).is_none(),
        "inactive"
    );

    // A match already played is never offered, ticket or not.
    let events = recommendations(&app, &fan).await;
    let ol_match = events
        .iter()
        .find(|r| r["type"] == "event")
        .expect("Lyon's upcoming match")["itemId"]
        .as_str()
        .unwrap()
        .to_owned();
    played_already(&app, &ol_match).await;
    assert!(
        find(&recommendations(&app, &fan).await, &ol_match).is_none(),
        "past"
    );
}

async fn an_away_match_abroad_brings_an_esim_for_that_country(engine: Engine) {
    let app = spawn_app(engine).await;
    let staff = app.staff(Some("PSG")).await;
    let r = app
        .post("/api/admin/events")
        .token(&staff.token)
        .json(&json!({
            "homeClub": "PSG", "awayClub": "AS_MONACO", "competition": "Ligue 1", "venue": "Parc des Princes",
            "kickoff": rfc3339_in(72),
            "categories": [{"name": "Visiteurs", "price": "30.00", "capacity": 100}]
        }))
        .send()
        .await
        .expect(201);
    let event = r.body["event"]["id"].as_str().unwrap().to_owned();
    let fan = shopper(&app, "Monégasque", "AS_MONACO").await;

    // Their club plays in France: a plan for France is worth a look.
    let recs = recommendations(&app, &fan).await;
    let trip = recs
        .iter()
        .find(|r| r["source"] == "away_trip")
        .expect("a plan for the away match");
    assert_eq!(trip["type"], "esim_plan");
    let reason = trip["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Your club plays Paris Saint-Germain – AS Monaco in France on "),
        "{reason}"
    );

    // With a ticket, the trip is certain and the plan comes first.
    app.post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event, "category": "Visiteurs", "quantity": 1}))
        .send()
        .await
        .expect(201);
    let recs = recommendations(&app, &fan).await;
    assert_eq!(recs[0]["source"], "away_trip", "{recs:?}");
    let reason = recs[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("You travel to France for Paris Saint-Germain – AS Monaco on "),
        "{reason}"
    );
    assert!(reason.ends_with(": this plan covers France."), "{reason}");
    assert!(
        find(&recs, &event).is_none(),
        "the match they have a ticket for"
    );
    let plan = recs[0]["itemId"].as_str().unwrap().to_owned();
    let tags: Vec<&str> = recs[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&"FR"), "{tags:?}");

    // Once they hold an eSIM that covers France, no plan is pushed for it.
    app.post("/api/esim/activate")
        .token(&fan.token)
        .json(&json!({"planId": plan}))
        .send()
        .await
        .expect(201);
    let recs = recommendations(&app, &fan).await;
    assert!(recs.iter().all(|r| r["source"] != "away_trip"), "{recs:?}");
}

async fn insights(app: &TestApp, fan: &Fan) -> Value {
    app.get("/api/ai/insights")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["insights"]
        .clone()
}

async fn insights_show_the_fans_own_evidence_and_nobody_elses(engine: Engine) {
    let app = spawn_app(engine).await;
    let shirt = product(
        &app,
        "AS_MONACO",
        "Maillot signé Minamino",
        "jerseys",
        "120.00",
        5,
    )
    .await;
    let ball = product(
        &app,
        "AS_MONACO",
        "Ballon Louis-II",
        "equipment",
        "40.00",
        5,
    )
    .await;
    let staff = app.staff(Some("AS_MONACO")).await;
    let r = app
        .post("/api/admin/events")
        .token(&staff.token)
        .json(&json!({
            "homeClub": "AS_MONACO", "awayClub": "OL", "competition": "Ligue 1", "venue": "Stade Louis-II",
            "kickoff": rfc3339_in(72),
            "categories": [{"name": "Pesage", "price": "20.00", "capacity": 100}]
        }))
        .send()
        .await
        .expect(201);
    let event = r.body["event"]["id"].as_str().unwrap().to_owned();

    let fan = shopper(&app, "Collector", "AS_MONACO").await;
    buy(&app, &fan, &[&shirt]).await;
    let t = app
        .post("/api/tickets/purchase")
        .token(&fan.token)
        .json(&json!({"eventId": event, "category": "Pesage", "quantity": 2}))
        .send()
        .await
        .expect(201);
    let ticket = t.body["tickets"][0]["id"].as_str().unwrap().to_owned();
    let qr = app
        .get(&format!("/api/tickets/{ticket}/qr"))
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["qrCode"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/tickets/checkin")
        .token(&staff.token)
        .json(&json!({"qrCode": qr, "eventId": event, "gate": "A", "nonce": "n-1"}))
        .send()
        .await
        .expect(200);
    app.post("/api/social/posts")
        .token(&fan.token)
        .json(&json!({"content": "Dimanche, on y va !"}))
        .send()
        .await
        .expect(201);
    let other = shopper(&app, "Neighbour", "AS_MONACO").await;
    buy(&app, &other, &[&ball]).await;
    for text in ["Allez", "Daghe Munegu"] {
        app.post("/api/social/posts")
            .token(&other.token)
            .json(&json!({"content": text}))
            .send()
            .await
            .expect(201);
    }

    let i = insights(&app, &fan).await;
    assert_eq!(i["favoriteTeam"]["clubId"], "AS_MONACO");
    assert_eq!(i["favoriteTeam"]["name"], "AS Monaco");
    assert_eq!(i["favoriteTeam"]["evidence"]["registered"], true);
    assert_eq!(i["favoriteTeam"]["evidence"]["purchases"], 1);
    assert_eq!(i["favoriteTeam"]["evidence"]["tickets"], 2);
    assert_eq!(i["favoritePlayer"]["name"], "Takumi Minamino");
    assert_eq!(i["favoritePlayer"]["confidence"], 1.0);
    assert_eq!(
        i["favoritePlayer"]["products"],
        json!(["Maillot signé Minamino"])
    );
    assert_eq!(
        i["favoriteCategory"],
        json!({"category": "jerseys", "items": 1})
    );
    assert_eq!(
        i["shoppingStyle"]["evidence"],
        json!({"orders": 1, "tickets": 1, "esims": 0})
    );
    assert_eq!(i["shoppingStyle"]["style"], "balanced");
    assert_eq!(i["matchesAttended"], 1);
    assert_eq!(i["engagement"]["posts"], 1);
    // 10 for the match, 5 per purchase (2), 1 for the post.
    assert_eq!(i["level"]["points"], 21);
    assert_eq!(i["level"]["current"], "Rookie");
    assert_eq!(i["level"]["next"], "Supporter");
    assert_eq!(i["level"]["pointsToNext"], 29);
    assert_eq!(
        i["level"]["thresholds"][1],
        json!({"level": "Supporter", "minPoints": 50})
    );
    let spending = i["spending"].as_array().unwrap();
    assert_eq!(spending.len(), 1);
    assert_eq!(spending[0]["currency"], "EUR");
    assert_eq!(
        spending[0]["total"], "160.00",
        "the neighbour's ball is not mine"
    );
    assert_eq!(
        spending[0]["byCategory"],
        json!([{"key": "shop", "amount": "120.00", "payments": 1},
               {"key": "tickets", "amount": "40.00", "payments": 1}])
    );
    assert_eq!(spending[0]["byMonth"].as_array().unwrap().len(), 1);
    let p = i["nextPurchaseProbability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0, "{p}");
    assert!(i["engagementMultiplier"].as_f64().unwrap() > 0.0);
    assert!(i["predictedValue"].is_string());
    assert!(i["predictedLevel"].is_string());

    assert_eq!(
        i["engagement"]["posts"], 1,
        "the neighbour's posts are theirs"
    );
    let theirs = insights(&app, &other).await;
    assert_eq!(theirs["spending"][0]["total"], "40.00");
    assert_eq!(theirs["engagement"]["posts"], 2);
    assert!(theirs["favoritePlayer"].is_null());
    assert_eq!(theirs["matchesAttended"], 0);

    let newcomer = app.fan("Newcomer", "OM").await;
    let n = insights(&app, &newcomer).await;
    assert!(n["favoritePlayer"].is_null());
    assert_eq!(n["shoppingStyle"]["style"], "newcomer");
    assert_eq!(n["favoriteTeam"]["clubId"], "OM");
    assert_eq!(n["favoriteTeam"]["confidence"], 1.0);
    assert_eq!(n["spending"], json!([]));
    assert!(n["favoriteCategory"].is_null());
}

async fn predictions(app: &TestApp, fan: &Fan) -> Value {
    app.get("/api/ai/predictions")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["predictions"]
        .clone()
}

fn outcome_of<'a>(p: &'a Value, event: &str) -> &'a Value {
    p["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["eventId"] == event)
        .unwrap_or_else(|| panic!("no forecast for {event}: {p}"))
}

async fn predictions_give_each_upcoming_match_probabilities_that_sum_to_one(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Forecaster", "AS_MONACO").await;
    let p = predictions(&app, &fan).await;
    let matches = p["matches"].as_array().unwrap();
    assert!(!matches.is_empty());
    for m in matches {
        let sum =
            m["home"].as_f64().unwrap() + m["draw"].as_f64().unwrap() + m["away"].as_f64().unwrap();
        assert!((sum - 1.0).abs() < 1e-9, "{m}");
    }
    let demo = matches
        .iter()
        .find(|m| m["awayTeam"] == "Paris Saint-Germain")
        .expect("the demo match against PSG");
    assert_eq!(demo["homeTeam"], "AS Monaco");
    assert_eq!(demo["homeKnown"], true, "fitted on real Ligue 1 results");
    assert_eq!(demo["awayKnown"], true);
    assert!(
        p["matchModel"]["results"].as_u64().unwrap() > 900,
        "{}",
        p["matchModel"]
    );
    assert!(
        p["matchModel"]["method"]
            .as_str()
            .unwrap()
            .contains("Poisson")
    );
    let next = &p["nextPurchase"];
    let prob = next["probability"].as_f64().unwrap();
    assert!(prob > 0.0 && prob < 1.0, "{next}");
    assert_eq!(next["timeframe"], "30 days");
    assert!(
        next["method"]
            .as_str()
            .unwrap()
            .starts_with("Gamma-Poisson")
    );
    assert_eq!(next["evidence"]["purchasesLast180Days"], 0);
    assert_eq!(p["lifetime"]["currentValue"], "0.00");
    assert_eq!(p["engagement"]["trend"], "stable");

    // Buying makes the next purchase more likely.
    let shopper = shopper(&app, "Buyer", "AS_MONACO").await;
    let scarf = product(
        &app,
        "AS_MONACO",
        "Écharpe rouge",
        "accessories",
        "10.00",
        10,
    )
    .await;
    let before = predictions(&app, &shopper).await["nextPurchase"]["probability"]
        .as_f64()
        .unwrap();
    buy(&app, &shopper, &[&scarf]).await;
    let after = predictions(&app, &shopper).await;
    assert!(after["nextPurchase"]["probability"].as_f64().unwrap() > before);
    assert_eq!(after["nextPurchase"]["evidence"]["purchasesLast180Days"], 1);
    assert_eq!(after["lifetime"]["currentValue"], "10.00");
}

async fn staff_record_a_result_and_the_ratings_follow_it(engine: Engine) {
    let app = spawn_app(engine).await;
    let admin = app.staff(None).await;
    let r = app
        .post("/api/admin/events")
        .token(&admin.token)
        .json(&json!({
            "homeClub": "WYDAD_AC", "awayClub": "RAJA_CA", "competition": "Botola Pro", "venue": "Stade Mohammed V",
            "kickoff": rfc3339_in(48),
            "categories": [{"name": "Virage", "price": "50", "capacity": 100}]
        }))
        .send()
        .await
        .expect(201);
    let played = r.body["event"]["id"].as_str().unwrap().to_owned();
    let fan = app.fan("Wydadi", "WYDAD_AC").await;
    let before = predictions(&app, &fan).await;
    let upcoming = before["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["eventId"] != played.as_str() && m["awayTeam"] == "Raja CA")
        .expect("the demo derby")["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let home_before = outcome_of(&before, &upcoming)["home"].as_f64().unwrap();

    let post = |who: &Fan, event: &str, body: Value| {
        app.post(&format!("/api/admin/events/{event}/result"))
            .token(&who.token)
            .json(&body)
            .send()
    };
    post(&admin, &played, json!({"homeGoals": 2, "awayGoals": 0}))
        .await
        .expect_problem(409, "match_not_played");
    played_already(&app, &played).await;
    post(&fan, &played, json!({"homeGoals": 6, "awayGoals": 0}))
        .await
        .expect_problem(403, "forbidden");
    let other_staff = app.staff(Some("RAJA_CA")).await;
    post(
        &other_staff,
        &played,
        json!({"homeGoals": 6, "awayGoals": 0}),
    )
    .await
    .expect_problem(403, "forbidden");
    let bad = post(&admin, &played, json!({"homeGoals": -1, "awayGoals": 100}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 2);
    post(
        &admin,
        "no-such-event",
        json!({"homeGoals": 1, "awayGoals": 0}),
    )
    .await
    .expect_problem(404, "not_found");

    let wydad_staff = app.staff(Some("WYDAD_AC")).await;
    let r = post(
        &wydad_staff,
        &played,
        json!({"homeGoals": 6, "awayGoals": 0}),
    )
    .await
    .expect(201);
    assert_eq!(r.body["homeTeam"], "Wydad AC");
    assert_eq!(r.body["awayTeam"], "Raja CA");
    assert_eq!(r.body["homeGoals"], 6);
    assert!(r.body["homeRating"]["attack"].as_f64().unwrap() > 0.0);
    post(
        &wydad_staff,
        &played,
        json!({"homeGoals": 6, "awayGoals": 0}),
    )
    .await
    .expect(200);
    post(
        &wydad_staff,
        &played,
        json!({"homeGoals": 0, "awayGoals": 6}),
    )
    .await
    .expect_problem(409, "result_already_recorded");
    // Played and scored: its kickoff and sale cannot move (back on sale,
    // refundable again); the rest of the match can still be edited.
    for change in [
        json!({"kickoff": rfc3339_in(24 * 60), "saleEndsAt": rfc3339_in(24 * 59)}),
        json!({"saleStartsAt": rfc3339_in(-24)}),
    ] {
        app.patch(&format!("/api/admin/events/{played}"))
            .token(&wydad_staff.token)
            .json(&change)
            .send()
            .await
            .expect_problem(409, "match_played");
    }
    app.patch(&format!("/api/admin/events/{played}"))
        .token(&wydad_staff.token)
        .json(&json!({"venue": "Complexe Mohammed V"}))
        .send()
        .await
        .expect(200);

    let after = predictions(&app, &fan).await;
    let home_after = outcome_of(&after, &upcoming)["home"].as_f64().unwrap();
    assert!(
        home_after > home_before,
        "a 6-0 win makes Wydad likelier to win the next derby: {home_before} -> {home_after}"
    );
    assert_eq!(
        after["matchModel"]["results"].as_u64().unwrap(),
        before["matchModel"]["results"].as_u64().unwrap() + 1
    );
}

async fn the_model_is_rebuilt_by_admins_or_the_cli_and_served_by_every_instance(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = shopper(&app, "Watcher", "OL").await;
    app.post("/api/admin/ai/rebuild")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let staff = app.staff(Some("OL")).await;
    app.post("/api/admin/ai/rebuild")
        .token(&staff.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let scarf = product(&app, "OL", "Écharpe Gerland", "accessories", "8.00", 10).await;
    buy(&app, &fan, &[&scarf]).await;

    let out = tokio::process::Command::new(BIN)
        .args(["ai", "rebuild"])
        .env("DATABASE_URL", &app.db.url)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .output()
        .await
        .expect("ai rebuild");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(", 1 interactions,"), "{text}");

    // The running server picks the stored model up (its refresh runs every
    // 30 s; run it now).
    app.state.ai.refresh().await.unwrap();
    let r = app
        .get("/api/ai/recommendations")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["model"]["interactions"], 1);
    assert!(r.body["model"]["builtAt"].is_string());
    let newcomer = app.fan("Next", "OL").await;
    let recs = recommendations(&app, &newcomer).await;
    assert_eq!(find(&recs, &scarf).unwrap()["source"], "club_popularity");

    app.get("/api/ai/recommendations?limit=0")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.get("/api/ai/recommendations")
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn what_is_on_sale_is_read_at_most_once_per_ttl(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("AI_CATALOGUE_TTL_MS".into(), "1000".into());
    })
    .await;
    let flag = product(&app, "OL", "Fanion rouge et bleu", "accessories", "6.00", 2).await;
    let first = shopper(&app, "First", "OL").await;
    buy(&app, &first, &[&flag]).await;
    rebuild(&app).await;
    let fan = app.fan("Looker", "OL").await;

    // This request reads what is on sale: one flag left.
    let read_at = std::time::Instant::now();
    assert!(find(&recommendations(&app, &fan).await, &flag).is_some());
    let second = shopper(&app, "Second", "OL").await;
    buy(&app, &second, &[&flag]).await;
    let recs = recommendations(&app, &fan).await;
    if read_at.elapsed() < std::time::Duration::from_millis(900) {
        assert!(
            find(&recs, &flag).is_some(),
            "within the TTL the earlier read is served"
        );
    }
    // Past it, the sell-out shows.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(find(&recommendations(&app, &fan).await, &flag).is_none());
}
