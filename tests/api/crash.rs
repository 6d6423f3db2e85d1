//! `kill -9` in the middle of a storm of deposits, checkouts and eSIM
//! purchases: every answered request survives, and every request the kill
//! cut off, retried with its key, either replays what it did or runs now:
//! never "already processed" without its answer, never blocked for minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    CutOff, Engine, Shot, Storm, TestDb, free_port, ledger_verify_cli, server, storm_fan,
    storm_request, wait_up,
};

both_engines!(
    killed_mid_deposits_every_key_replays_or_runs,
    killed_mid_checkouts_every_key_replays_or_runs,
    killed_mid_esim_purchases_every_key_replays_or_runs,
    killed_mid_esim_topups_every_key_replays_or_runs,
);

#[derive(Clone, Copy, Debug)]
enum Op {
    Deposit,
    Checkout,
    Esim,
    Topup,
}

impl Op {
    /// The route; a top-up is of the fan's own eSIM.
    fn path(self, esim: &str) -> String {
        match self {
            Op::Deposit => "/api/wallet/deposit".into(),
            Op::Checkout => "/api/shop/checkout".into(),
            Op::Esim => "/api/esim/activate".into(),
            Op::Topup => format!("/api/esim/{esim}/topup"),
        }
    }
    fn body(self, n: usize) -> Value {
        match self {
            Op::Deposit => json!({"amount": format!("1.{:02}", n % 100), "method": "sandbox"}),
            Op::Checkout => json!({}),
            Op::Esim | Op::Topup => json!({"planId": "europe-starter"}),
        }
    }
    /// Where what an answer created can be read back.
    fn created(self, answer: &Value) -> String {
        match self {
            Op::Deposit => format!(
                "/api/wallet/transactions/{}",
                answer["transaction"]["id"].as_str().unwrap_or_default()
            ),
            Op::Checkout => format!(
                "/api/shop/orders/{}",
                answer["order"]["id"].as_str().unwrap_or_default()
            ),
            Op::Esim | Op::Topup => format!(
                "/api/esim/{}",
                answer["esim"]["id"].as_str().unwrap_or_default()
            ),
        }
    }
}

const ENV: &[(&str, &str)] = &[
    ("DEPOSIT_LIMITS", "EUR:1000:100000000"),
    // An orphaned purchase is settled soon after the supplier timeout.
    ("ESIM_PROVIDER_TIMEOUT_SECS", "1"),
];

async fn killed_mid_deposits_every_key_replays_or_runs(engine: Engine) {
    storm(engine, Op::Deposit).await
}

async fn killed_mid_checkouts_every_key_replays_or_runs(engine: Engine) {
    storm(engine, Op::Checkout).await
}

async fn killed_mid_esim_purchases_every_key_replays_or_runs(engine: Engine) {
    storm(engine, Op::Esim).await
}

async fn killed_mid_esim_topups_every_key_replays_or_runs(engine: Engine) {
    storm(engine, Op::Topup).await
}

async fn storm(engine: Engine, op: Op) {
    paiecashfan::install_crypto_provider();
    let db = TestDb::new(&engine).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::http_client();
    let mut child = server(&db, port, ENV);
    wait_up(&client, &base).await;

    let shooter = Shooter {
        fans: Arc::new(fans_with_an_esim(&client, &base).await),
        scarf: a_scarf_in_stock(&client, &base, &db).await,
        client: client.clone(),
        base: base.clone(),
        op,
    };
    // One worker per fan: a fan's cart belongs to one checkout at a time.
    let storm = Storm {
        workers: 4,
        requests: 5_000,
        enough: 24,
        looks: 400,
    };
    let (answered, unanswered) = storm
        .until_killed(&mut child, move |w, n| shooter.clone().shoot(w, n))
        .await;

    // Same database, new process.
    let mut child = server(&db, port, ENV);
    wait_up(&client, &base).await;
    for (token, answer) in &answered {
        let path = op.created(answer);
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "answered {op:?} {path} was lost");
    }
    eprintln!(
        "{op:?}: {} answered before the kill, {} cut off by it",
        answered.len(),
        unanswered.len()
    );
    let started = Instant::now();
    for cut in &unanswered {
        settle(&client, &base, op, cut, started).await;
    }
    eprintln!(
        "{op:?}: every cut-off key settled in {:?}",
        started.elapsed()
    );
    let _ = child.kill().await;
    let _ = child.wait().await;
    ledger_verify_cli(&db).await;
}

/// Four fans with money, each holding an eSIM to top up: (token, eSIM id).
async fn fans_with_an_esim(client: &reqwest::Client, base: &str) -> Vec<(String, String)> {
    let mut fans = Vec::new();
    for i in 0..4 {
        let registration = json!({"email": format!("crash{i}@example.com"), "password": "crash password", "name": format!("Crash {i}"), "clubId": "OM"});
        let (_, token) = storm_fan(client, base, registration, "1000.00").await;
        let e: Value = client
            .post(format!("{base}/api/esim/activate"))
            .bearer_auth(&token)
            .json(&json!({"planId": "europe-starter"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let esim = e["esim"]["id"].as_str().unwrap().to_owned();
        fans.push((token, esim));
    }
    fans
}

/// An OM scarf, with stock enough for any storm: its product id.
async fn a_scarf_in_stock(client: &reqwest::Client, base: &str, db: &TestDb) -> String {
    let scarf: Value = client
        .get(format!("{base}/api/shop/products?club=OM&category=all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scarf = scarf["products"][0]["id"].as_str().unwrap().to_owned();
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    conn.execute("UPDATE product_variants SET stock = 1000000")
        .await
        .unwrap();
    conn.close().await.unwrap();
    scarf
}

/// Sends the storm's requests of one kind; an answer is (token, body).
#[derive(Clone)]
struct Shooter {
    client: reqwest::Client,
    base: String,
    fans: Arc<Vec<(String, String)>>,
    scarf: String,
    op: Op,
}

impl Shooter {
    async fn shoot(self, w: usize, n: usize) -> Shot<(String, Value)> {
        let (client, base, op) = (&self.client, &self.base, self.op);
        let (token, esim) = &self.fans[w];
        if matches!(op, Op::Checkout) {
            let added = client
                .post(format!("{base}/api/shop/cart/add"))
                .bearer_auth(token)
                .json(&json!({"productId": self.scarf, "quantity": 1}))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if added.is_err() {
                return Shot::Stop;
            }
        }
        let key = format!("crash-{w}-{n}");
        let resp = match storm_request(client, base, token, op.path(esim), key, op.body(n)).await {
            Ok(resp) => resp,
            Err(cut) => return Shot::CutOff(cut),
        };
        if !resp.status().is_success() {
            return Shot::Refused;
        }
        match resp.json::<Value>().await {
            Ok(v) => Shot::Answered((token.clone(), v)),
            Err(_) => Shot::Stop,
        }
    }
}

/// Retries a request the kill cut off, with its key, until it settles: it
/// replays what it did or runs now, within seconds.
async fn settle(client: &reqwest::Client, base: &str, op: Op, cut: &CutOff, started: Instant) {
    let CutOff {
        token,
        path,
        key,
        body,
    } = cut;
    loop {
        let r = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        match (status, v["code"].as_str()) {
            // The dead process's reservation, or an eSIM it left with
            // the supplier: settled within seconds, not the 2 min lease.
            (409, Some("idempotency_request_in_flight")) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "retry of {key} still blocked after {:?}",
                    started.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (200 | 201, _) => {
                let path = op.created(&v);
                let h = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(h.status(), 200, "retry of {key} answered {v}");
                return;
            }
            // A purchase cut off with the supplier, refunded: said so.
            (502, Some("esim_provisioning_failed")) if matches!(op, Op::Esim) => return,
            (502, Some("esim_topup_failed")) if matches!(op, Op::Topup) => return,
            _ => panic!("retry of {key}: {status} {v}"),
        }
    }
}
