//! Wallet transfers per second at N concurrent clients, with p50/p99 latency.
//!
//! Run through `bench/wallet.sh` (release server on PostgreSQL and on SQLite,
//! pgbench as the reference). Against a running server:
//!   cargo run --release --example wallet_transfers -- http://127.0.0.1:3995 [clients] [seconds]
//! Loopback only; bounded by time and by a maximum number of requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

const USERS: usize = 64;
const MAX_REQUESTS_PER_CLIENT: usize = 200_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 2,
        "usage: wallet_transfers <base-url> [clients] [seconds]"
    );
    let base = args[1].trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("http://localhost"),
        "benchmarks only target this machine"
    );
    let clients: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let seconds: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    paiecashfan::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    // Fans with money (set-up, not measured).
    let users: Vec<(String, String)> = futures::stream::iter(0..USERS)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let tag = uuid::Uuid::new_v4().simple().to_string();
                let r: Value = http
                    .post(format!("{base}/api/auth/register"))
                    .json(&json!({"email": format!("bench-{i}-{}@example.com", &tag[..8]), "password": "bench password", "name": format!("Bench {i}"), "clubId": "PSG"}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let token = r["token"].as_str().ok_or_else(|| anyhow::anyhow!("register: {r}"))?.to_owned();
                let d = http
                    .post(format!("{base}/api/wallet/deposit"))
                    .bearer_auth(&token)
                    .json(&json!({"amount": "1000.00", "method": "sandbox"}))
                    .send()
                    .await?;
                anyhow::ensure!(d.status() == 201, "deposit: {}", d.status());
                Ok::<_, anyhow::Error>((r["user"]["id"].as_str().unwrap_or_default().to_owned(), token))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let users = Arc::new(users);

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, users, stop) = (http.clone(), base.clone(), users.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) && n < MAX_REQUESTS_PER_CLIENT {
                let from = (c * 7 + n * 13) % USERS;
                let to = (from + 1 + (n % (USERS - 1))) % USERS;
                let t0 = Instant::now();
                let status = http
                    .post(format!("{base}/api/wallet/send"))
                    .bearer_auth(&users[from].1)
                    .header("idempotency-key", format!("b-{c}-{n}"))
                    .json(&json!({"recipientId": users[to].0, "amount": "0.01"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                lat.push(t0.elapsed());
                *statuses.entry(status).or_default() += 1;
                n += 1;
            }
            (lat, statuses)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        let (l, s) = t.await?;
        lat.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64() * 1000.0
    };
    let ok = statuses.get(&201).copied().unwrap_or(0);
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "clients": clients, "seconds": elapsed, "requests": lat.len(), "statuses": statuses,
            "transfersPerSecond": ok as f64 / elapsed,
            "latencyMs": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        }))?
    );
    Ok(())
}
