//! `kill -9` in the middle of a storm of deposits, checkouts and eSIM
//! purchases: every answered request survives, and every request the kill
//! cut off, retried with its key, either replays what it did or runs now:
//! never "already processed" without its answer, never blocked for minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, TestDb, free_port, ledger_verify_cli, server, wait_up};

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

/// A request the kill cut off: (token, path, key, body).
type CutOff = (String, String, String, Value);

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
    let client = reqwest::Client::new();
    let mut child = server(&db, port, ENV);
    wait_up(&client, &base).await;

    let mut fans = Vec::new();
    for i in 0..4 {
        let r: Value = client
            .post(format!("{base}/api/auth/register"))
            .json(&json!({"email": format!("crash{i}@example.com"), "password": "crash password", "name": format!("Crash {i}"), "clubId": "OM"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["token"].as_str().unwrap().to_owned();
        let d = client
            .post(format!("{base}/api/wallet/deposit"))
            .bearer_auth(&token)
            .json(&json!({"amount": "1000.00", "method": "sandbox"}))
            .send()
            .await
            .unwrap();
        assert_eq!(d.status(), 201);
        // Every fan holds an eSIM to top up.
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
    let scarf: Value = client
        .get(format!("{base}/api/shop/products?club=OM&category=all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scarf = scarf["products"][0]["id"].as_str().unwrap().to_owned();
    {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        conn.execute("UPDATE product_variants SET stock = 1000000")
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    let fans = Arc::new(fans);
    let answered: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let unanswered: Arc<Mutex<Vec<CutOff>>> = Arc::default();
    let mut workers = Vec::new();
    // One worker per fan: a fan's cart belongs to one checkout at a time.
    for w in 0..4usize {
        let (client, base, fans, answered, unanswered, scarf) = (
            client.clone(),
            base.clone(),
            fans.clone(),
            answered.clone(),
            unanswered.clone(),
            scarf.clone(),
        );
        workers.push(tokio::spawn(async move {
            let (token, esim) = &fans[w];
            for n in 0..5_000usize {
                if matches!(op, Op::Checkout) {
                    let added = client
                        .post(format!("{base}/api/shop/cart/add"))
                        .bearer_auth(token)
                        .json(&json!({"productId": scarf, "quantity": 1}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    if added.is_err() {
                        return;
                    }
                }
                let key = format!("crash-{w}-{n}");
                let body = op.body(n);
                let path = op.path(esim);
                let resp = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .header("idempotency-key", &key)
                    .json(&body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let Ok(resp) = resp else {
                    unanswered
                        .lock()
                        .unwrap()
                        .push((token.clone(), path, key, body));
                    return;
                };
                if resp.status().is_success() {
                    let Ok(v) = resp.json::<Value>().await else {
                        return;
                    };
                    answered.lock().unwrap().push((token.clone(), v));
                }
            }
        }));
    }
    for _ in 0..400 {
        if answered.lock().unwrap().len() >= 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait().await;
    for w in workers {
        let _ = w.await;
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= 24,
        "the storm was too small: {}",
        answered.len()
    );

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

    let unanswered = unanswered.lock().unwrap().clone();
    eprintln!(
        "{op:?}: {} answered before the kill, {} cut off by it",
        answered.len(),
        unanswered.len()
    );
    let started = Instant::now();
    for (token, path, key, body) in &unanswered {
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
                    break;
                }
                // A purchase cut off with the supplier, refunded: said so.
                (502, Some("esim_provisioning_failed")) if matches!(op, Op::Esim) => break,
                (502, Some("esim_topup_failed")) if matches!(op, Op::Topup) => break,
                _ => panic!("retry of {key}: {status} {v}"),
            }
        }
    }
    eprintln!(
        "{op:?}: every cut-off key settled in {:?}",
        started.elapsed()
    );
    let _ = child.kill().await;
    let _ = child.wait().await;
    ledger_verify_cli(&db).await;
}
