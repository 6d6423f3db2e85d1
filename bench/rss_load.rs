//! Loads for the memory table of BENCHMARKS.md, one at a time, against a
//! running server (`bench/rss.sh` starts it and reads its RSS around each):
//!   rss_load <base-url> reads <clients> <seconds>     public lists and a balance
//!   rss_load <base-url> logins <count> <clients>      sign-ins (Argon2id each)
//!   rss_load <base-url> idle <connections> <seconds>  open, idle keep-alive connections
//! Loopback only; every load is bounded in count and time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 5,
        "usage: rss_load <base-url> reads|logins|idle <n> <m>"
    );
    let base = args[1].trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("http://localhost"),
        "benchmarks only target this machine"
    );
    let n: usize = args[3].parse()?;
    let m: u64 = args[4].parse()?;
    paiecashfan::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    match args[2].as_str() {
        "reads" => reads(&http, &base, n, m).await,
        "logins" => logins(&http, &base, n, m as usize).await,
        "idle" => idle(&base, n, m).await,
        other => anyhow::bail!("unknown load {other}"),
    }
}

async fn demo_token(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let r: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(r["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login: {r}"))?
        .to_owned())
}

async fn reads(
    http: &reqwest::Client,
    base: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let token = Arc::new(demo_token(http, base).await?);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let paths = [
        "/api/tickets/events",
        "/api/shop/products?category=all",
        "/api/esim/plans",
        "/api/clubs",
        "/api/wallet/balance",
    ];
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, token, stop, done) = (
            http.clone(),
            base.to_owned(),
            token.clone(),
            stop.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) && i < c + 1_000_000 {
                let ok = http
                    .get(format!("{base}{}", paths[i % paths.len()]))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    println!(
        "reads: {} ok in {:.1} s ({:.0}/s)",
        done.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn logins(
    http: &reqwest::Client,
    base: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let ok = futures::stream::iter(0..count)
        .map(|_| {
            let (http, base) = (http.clone(), base.to_owned());
            async move {
                http.post(format!("{base}/api/auth/login"))
                    .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .buffer_unordered(clients)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    println!(
        "logins: {ok}/{count} ok in {:.1} s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        ok as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn idle(base: &str, connections: usize, seconds: u64) -> anyhow::Result<()> {
    let addr = base.trim_start_matches("http://").to_owned();
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        // One request each, so every connection is a served keep-alive one.
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await?;
        open.push(s);
    }
    println!("idle: {} connections open; holding {seconds} s", open.len());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}
