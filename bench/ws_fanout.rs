//! Kick-off in a club room: thousands of fans connected to the live socket,
//! one room, messages fanned out to all of them.
//!
//! Run through `bench/ws_fanout.sh` (it builds the release server, starts it
//! and runs this). Against a running server:
//!   cargo run --release --example ws_fanout -- <base-url> <database-url> <jwt-secret> <server-pid> [clients] [rate] [seconds]
//! The fans are written straight into the database (one shared password
//! hash: registering 5,000 accounts would measure Argon2, not chat) and get
//! access tokens signed with the server's secret; they join the room and
//! open their sockets through the API. Loopback only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use sqlx::{AnyConnection, Connection};
use tokio_tungstenite::tungstenite::Message;

const ROOM_CLUB: &str = "AS_MONACO";

#[path = "common.rs"]
mod common;
use common::{percentile, rss_kib};

/// Marks a message so a receiver finds which one it is without parsing JSON.
fn marker(n: usize) -> String {
    format!("kickoff#{n}#")
}

fn marker_of(text: &str) -> Option<usize> {
    let i = text.find("kickoff#")? + 8;
    let rest = &text[i..];
    rest[..rest.find('#')?].parse().ok()
}

struct Shared {
    /// When message n was sent, in µs since `epoch`.
    sent_at: Vec<AtomicU64>,
    epoch: Instant,
    /// (message, µs from post to delivery)
    latencies: std::sync::Mutex<Vec<(usize, u64)>>,
    received: AtomicUsize,
    closed: AtomicUsize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = common::target(
        &args,
        "ws_fanout <base-url> <database-url> <jwt-secret> <server-pid> [clients] [rate] [seconds]",
    )?;
    let (base, db_url, secret, pid) = (target.base, &target.db_url, &target.secret, &target.pid);
    let clients: usize = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let rate: usize = args.get(6).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let seconds: usize = args.get(7).map(|s| s.parse()).transpose()?.unwrap_or(30);
    paiecashfan::install_crypto_provider();
    sqlx::any::install_default_drivers();

    // Fans, straight into the database.
    let hash = paiecashfan::auth::password::hash("bench fan password".into())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = AnyConnection::connect(db_url).await?;
    let tokens = paiecashfan::auth::token::TokenService::new(
        secret.as_bytes(),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let now = paiecashfan::db::now_ms();
    let mut fans = Vec::with_capacity(clients + 1);
    let mut tx = conn.begin().await?;
    for i in 0..=clients {
        let id = paiecashfan::db::new_id();
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, name, club_id, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'fan', $6, $6)",
        )
        .bind(&id)
        .bind(format!("ws-bench-{id}@example.com"))
        .bind(&hash)
        .bind(format!("Fan {i}"))
        .bind(ROOM_CLUB)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let token = tokens
            .issue_access(&id, paiecashfan::auth::token::Role::Fan, None, &id)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        fans.push(token);
    }
    tx.commit().await?;
    conn.close().await?;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;
    // Everyone joins the room (64 at a time).
    let room = Arc::new(tokio::sync::OnceCell::<String>::new());
    futures::stream::iter(fans.iter().cloned())
        .map(|token| {
            let (http, base, room) = (http.clone(), base.clone(), room.clone());
            async move {
                let r: serde_json::Value = http
                    .post(format!("{base}/api/social/clubs/{ROOM_CLUB}/join"))
                    .bearer_auth(token)
                    .send()
                    .await?
                    .json()
                    .await?;
                let id = r["conversation"]["id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("join: {r}"))?
                    .to_owned();
                let _ = room.set(id);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let room = room
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no room"))?;
    let sender = fans.pop().ok_or_else(|| anyhow::anyhow!("no sender"))?;

    let total_messages = 10 + rate * seconds;
    let shared = Arc::new(Shared {
        sent_at: (0..total_messages).map(|_| AtomicU64::new(0)).collect(),
        epoch: Instant::now(),
        latencies: std::sync::Mutex::new(Vec::new()),
        received: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
    });
    let rss_before = rss_kib(pid);

    // Open the sockets (100 handshakes at a time) and wait for each `ready`.
    let ws_base = base.replacen("http://", "ws://", 1);
    let opened = Instant::now();
    let sockets: Vec<_> = futures::stream::iter(fans.into_iter())
        .map(|token| {
            let url = format!("{ws_base}/api/ws?token={token}");
            async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
                while let Some(msg) = ws.next().await {
                    if let Message::Text(t) = msg?
                        && t.contains("\"ready\"")
                    {
                        return anyhow::Ok(ws);
                    }
                }
                anyhow::bail!("closed before ready")
            }
        })
        .buffer_unordered(100)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let open_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = rss_kib(pid);
    let n = sockets.len();

    // Every socket reads on its own task and records each message's latency.
    let mut readers = Vec::with_capacity(n);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for mut ws in sockets {
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let msg = tokio::select! {
                    m = ws.next() => m,
                    _ = stopped.changed() => break,
                };
                let Some(Ok(msg)) = msg else { break };
                match msg {
                    Message::Text(t) => {
                        if let Some(k) = marker_of(&t) {
                            let now = shared.epoch.elapsed().as_micros() as u64;
                            let sent = shared.sent_at[k].load(Ordering::Relaxed);
                            mine.push((k, now.saturating_sub(sent)));
                            shared.received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Message::Close(_) => {
                        shared.closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    _ => {}
                }
            }
            if let Ok(mut all) = shared.latencies.lock() {
                all.extend(mine);
            }
        }));
    }

    let post = |k: usize| {
        let (http, base, sender, room, shared) = (
            http.clone(),
            base.clone(),
            sender.clone(),
            room.clone(),
            shared.clone(),
        );
        async move {
            shared.sent_at[k].store(shared.epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
            let r = http
                .post(format!("{base}/api/social/messages"))
                .bearer_auth(sender)
                .json(&json!({"conversationId": room, "message": marker(k)}))
                .send()
                .await;
            matches!(r, Ok(r) if r.status().as_u16() == 201)
        }
    };

    // Phase 1: one message at a time, ten times, to everyone.
    for k in 0..10 {
        anyhow::ensure!(post(k).await, "post failed");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Phase 2: `rate` messages per second for `seconds`.
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut posts = Vec::new();
    for k in 10..total_messages {
        ticker.tick().await;
        posts.push(tokio::spawn(post(k)));
    }
    let mut failed_posts = 0;
    for p in posts {
        if !p.await.unwrap_or(false) {
            failed_posts += 1;
        }
    }
    let posting_secs = started.elapsed().as_secs_f64();
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(pid);
    let received_total = shared.received.load(Ordering::Relaxed);
    let closed = shared.closed.load(Ordering::Relaxed);
    let _ = stop.send(true);
    for r in readers {
        let _ = r.await;
    }
    let all = shared
        .latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .clone();
    let (single, burst): (Vec<_>, Vec<_>) = all.into_iter().partition(|(k, _)| *k < 10);
    let received_single = single.len();
    let mut single: Vec<u64> = single.into_iter().map(|(_, l)| l).collect();
    let mut burst: Vec<u64> = burst.into_iter().map(|(_, l)| l).collect();
    single.sort_unstable();
    burst.sort_unstable();
    let expected_burst = (total_messages - 10) * n;
    let received_burst = received_total.saturating_sub(received_single);
    println!(
        "sockets open: {n} in {open_secs:.1} s; server RSS {} MiB before, {} MiB with the sockets open, {} MiB after the burst",
        rss_before / 1024,
        rss_open / 1024,
        rss_after / 1024
    );
    println!(
        "one message to {n} sockets (10 rounds): {received_single}/{} delivered; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        10 * n,
        percentile(&single, 0.5),
        percentile(&single, 0.99),
        percentile(&single, 1.0)
    );
    println!(
        "{rate} messages/s for {seconds} s ({} posted in {posting_secs:.1} s, {failed_posts} failed): {received_burst}/{expected_burst} deliveries ({:.0}/s); latency p50 {:.1} ms, p99 {:.1} ms; sockets closed by the server: {closed}",
        total_messages - 10,
        received_burst as f64 / posting_secs,
        percentile(&burst, 0.5),
        percentile(&burst, 0.99),
    );
    Ok(())
}
