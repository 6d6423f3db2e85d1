//! Invariants of the ledger under concurrency, retries and a killed process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{
    CutOff, Engine, Fan, Shot, Storm, TestApp, TestDb, balance, deposit, free_port,
    ledger_verify_cli, server, spawn_app, storm_fan, storm_request, verify_ok, wait_up,
};

both_engines!(
    random_concurrent_transfers_conserve_money,
    killed_mid_storm_every_answered_transfer_survives,
);

#[derive(Debug, Clone)]
struct Op {
    from: usize,
    to: usize,
    cents: i64,
    /// Sent twice at once with the same Idempotency-Key (a double click / retry).
    duplicate: bool,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (0usize..4, 0usize..4, 1i64..4_000, any::<bool>()).prop_map(
            |(from, to, cents, duplicate)| Op {
                from,
                to,
                cents,
                duplicate,
            },
        ),
        10..50,
    )
}

fn cents_text(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn parse_cents(s: &str) -> i64 {
    let (a, b) = s.split_once('.').unwrap();
    a.parse::<i64>().unwrap() * 100 + b.parse::<i64>().unwrap()
}

async fn full_history(app: &TestApp, fan: &Fan) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = if cursor.is_empty() {
            "/api/wallet/transactions?limit=100".to_owned()
        } else {
            format!("/api/wallet/transactions?limit=100&cursor={cursor}")
        };
        let r = app.get(&path).token(&fan.token).send().await.expect(200);
        out.extend(r.body["transactions"].as_array().unwrap().iter().cloned());
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

/// Every 2xx transfer: id -> (from, to, cents).
type Answered = HashMap<String, (usize, usize, i64)>;

async fn run_case(engine: Engine, ops: Vec<Op>) {
    let app = spawn_app(engine).await;
    let mut fans = Vec::new();
    for i in 0..4 {
        let f = app.fan(&format!("Fan {i}"), "PSG").await;
        deposit(&app, &f, "50.00").await;
        fans.push(f);
    }
    let answered = send_concurrently(&app, &fans, ops).await;
    check_books(&app, &fans, &answered).await;
}

/// Sends `ops` eight at a time; returns the transfers answered.
async fn send_concurrently(app: &TestApp, fans: &[Fan], ops: Vec<Op>) -> Answered {
    let answered: Arc<Mutex<Answered>> = Arc::default();
    futures::stream::iter(ops.into_iter().enumerate())
        .for_each_concurrent(8, |(i, op)| {
            let answered = answered.clone();
            async move {
                let key = format!("op-{i}");
                let body = json!({"recipientId": fans[op.to].id, "amount": cents_text(op.cents)});
                let send = || {
                    app.post("/api/wallet/send")
                        .token(&fans[op.from].token)
                        .header("idempotency-key", &key)
                        .json(&body)
                        .send()
                };
                let responses = if op.duplicate {
                    let (a, b) = futures::join!(send(), send());
                    vec![a, b]
                } else {
                    vec![send().await]
                };
                let mut ids = HashSet::new();
                for r in responses {
                    match r.status.as_u16() {
                        201 => {
                            assert_ne!(op.from, op.to);
                            ids.insert(r.body["transaction"]["id"].as_str().unwrap().to_owned());
                        }
                        409 => assert!(
                            ["insufficient_funds", "idempotency_request_in_flight"]
                                .contains(&r.code()),
                            "{}",
                            r.text
                        ),
                        422 => assert_eq!(op.from, op.to, "{}", r.text),
                        other => panic!("unexpected {other}: {}", r.text),
                    }
                }
                assert!(ids.len() <= 1, "one key, one transfer");
                if let Some(id) = ids.into_iter().next() {
                    answered
                        .lock()
                        .unwrap()
                        .insert(id, (op.from, op.to, op.cents));
                }
            }
        })
        .await;
    answered.lock().unwrap().clone()
}

/// The books after the transfers `answered`: balances, histories and the
/// total all agree with them.
async fn check_books(app: &TestApp, fans: &[Fan], answered: &Answered) {
    verify_ok(app).await;
    let mut expected = [5_000i64; 4];
    for (from, to, cents) in answered.values() {
        expected[*from] -= cents;
        expected[*to] += cents;
    }
    let mut total = 0;
    for (i, fan) in fans.iter().enumerate() {
        let bal = parse_cents(&balance(app, fan).await);
        assert!(bal >= 0);
        assert_eq!(
            bal, expected[i],
            "fan {i}: balance differs from the answered transfers"
        );
        total += bal;
        // Every answered transfer is in both histories exactly once, and no
        // transfer is there that was not answered.
        let history = full_history(app, fan).await;
        let transfers: Vec<&Value> = history.iter().filter(|t| t["type"] == "transfer").collect();
        let ids: HashSet<&str> = transfers
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), transfers.len(), "no duplicates in a history");
        let mine: HashSet<&str> = answered
            .iter()
            .filter(|(_, (f, t, _))| *f == i || *t == i)
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(ids, mine, "fan {i}: history and answered transfers differ");
        // Replaying the history oldest first reproduces every `balanceAfter`.
        let mut running = 0i64;
        for t in history.iter().rev() {
            let amount = parse_cents(t["amount"].as_str().unwrap());
            running += if t["direction"] == "in" {
                amount
            } else {
                -amount
            };
            assert_eq!(
                parse_cents(t["balanceAfter"].as_str().unwrap()),
                running,
                "fan {i}: {t}"
            );
        }
        assert_eq!(running, bal);
    }
    assert_eq!(total, 4 * 5_000, "money was neither created nor lost");
}

async fn random_concurrent_transfers_conserve_money(engine: Engine) {
    let config = ProptestConfig {
        cases: 4,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&ops(), |ops| {
        let engine = engine.clone();
        tokio::task::block_in_place(|| handle.block_on(run_case(engine, ops)));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn killed_mid_storm_every_answered_transfer_survives(engine: Engine) {
    paiecashfan::install_crypto_provider();
    let db = TestDb::new(&engine).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::http_client();
    let mut child = server(&db, port, &[]);
    wait_up(&client, &base).await;

    let mut fans: Vec<(String, String)> = Vec::new();
    for i in 0..4 {
        let registration = json!({"email": format!("storm{i}@example.com"), "password": "storm password", "name": format!("Storm {i}")});
        fans.push(storm_fan(&client, &base, registration, "100.00").await);
    }
    let fans = Arc::new(fans);
    let shooter = Sender {
        client: client.clone(),
        base: base.clone(),
        fans: fans.clone(),
    };
    let storm = Storm {
        workers: 8,
        requests: 10_000,
        enough: 40,
        looks: 200,
    };
    let (answered, unanswered) = storm
        .until_killed(&mut child, move |w, n| shooter.clone().send(w, n))
        .await;

    // Same database, new process.
    let mut child = server(&db, port, &[]);
    wait_up(&client, &base).await;
    for (id, token) in &answered {
        let r = client
            .get(format!("{base}/api/wallet/transactions/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "answered transfer {id} was lost");
    }
    let total = total_balance(&client, &base, &fans).await;
    assert_eq!(total, 40_000, "money was neither created nor lost");
    for cut in &unanswered {
        retry_cut_off(&client, &base, cut).await;
    }
    let _ = child.kill().await;
    ledger_verify_cli(&db).await;
}

/// The fans' balances added up, in cents.
async fn total_balance(client: &reqwest::Client, base: &str, fans: &[(String, String)]) -> i64 {
    let mut total = 0i64;
    for (_, token) in fans {
        let v: Value = client
            .get(format!("{base}/api/wallet/balance"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        total += parse_cents(v["balance"].as_str().unwrap());
    }
    total
}

/// Sends the storm's transfers, round the four fans; an answer is
/// (transfer id, sender token).
#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    base: String,
    /// (user id, token)
    fans: Arc<Vec<(String, String)>>,
}

impl Sender {
    async fn send(self, w: usize, n: usize) -> Shot<(String, String)> {
        let fans = &self.fans;
        let from = (w + n) % 4;
        let to = (from + 1 + n % 3) % 4;
        let key = format!("storm-{w}-{n}");
        let body = json!({"recipientId": fans[to].0, "amount": format!("0.{:02}", 1 + n % 50)});
        let path = "/api/wallet/send".to_owned();
        let resp =
            match storm_request(&self.client, &self.base, &fans[from].1, path, key, body).await {
                Ok(resp) => resp,
                Err(cut) => return Shot::CutOff(cut),
            };
        if resp.status() != 201 {
            return Shot::Refused;
        }
        let Ok(v) = resp.json::<Value>().await else {
            return Shot::Stop;
        };
        let id = v["transaction"]["id"].as_str().unwrap().to_owned();
        Shot::Answered((id, fans[from].1.clone()))
    }
}

/// A transfer the kill cut off, retried with its key. Money and answer
/// commit together, so a retry either replays a committed transfer (which is
/// in the history), runs for the first time, or finds the reservation of the
/// dead process still leased; never the ledger's "already processed" without
/// the answer.
async fn retry_cut_off(client: &reqwest::Client, base: &str, cut: &CutOff) {
    let CutOff {
        token,
        path,
        key,
        body,
    } = cut;
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let replayed = r.headers().contains_key("idempotent-replayed");
    let retry_after = r.headers().get("retry-after").cloned();
    let v: Value = r.json().await.unwrap();
    if status == 409 {
        // The client is told when to come back.
        assert_eq!(retry_after.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
    }
    match status {
        201 => {
            let id = v["transaction"]["id"].as_str().unwrap();
            let h = client
                .get(format!("{base}/api/wallet/transactions/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(h.status(), 200, "retry of {key} (replayed: {replayed})");
        }
        409 => assert_eq!(
            v["code"], "idempotency_request_in_flight",
            "retry of {key}: {v}"
        ),
        other => panic!("retry of {key}: {other} {v}"),
    }
}
