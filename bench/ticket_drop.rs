//! Ticket drop: many fans try to buy the same few seats at the same moment.
//!
//! Run through `bench/ticket_drop.sh` (it builds the release server, starts it
//! on PostgreSQL and runs this). Against a running server:
//!   cargo run --release --example ticket_drop -- http://127.0.0.1:3996 <admin-email> <admin-password> [attempts] [seats]
//! Every request goes to the given loopback server; the run is bounded by the
//! number of attempts.
//!
//! With `WATCH_URLS` (comma-separated base URLs of this server's instances)
//! and `WATCH_CONNECTIONS` (default 64), that many fans keep reading the
//! public event list on those instances while the drop runs, and the report
//! says how many reads per second they got, their latency, and how far behind
//! the purchases the seats they saw were: a read that started at t shows a
//! number of seats sold; every purchase acknowledged before t that it does
//! not count makes it stale, by t minus that acknowledgement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: ticket_drop <base-url> <admin-email> <admin-password> [attempts] [seats]"
    );
    let base = args[1].trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("http://localhost"),
        "benchmarks only target this machine"
    );
    let attempts: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let seats: i64 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(500);
    paiecashfan::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(attempts)
        .timeout(Duration::from_secs(60))
        .build()?;

    let admin: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": args[2], "password": args[3]}))
        .send()
        .await?
        .json()
        .await?;
    let admin_token = admin["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("admin login failed: {admin}"))?;
    let kickoff = (time::OffsetDateTime::now_utc() + time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)?;
    let event: Value = client
        .post(format!("{base}/api/admin/events"))
        .bearer_auth(admin_token)
        .json(&json!({"homeClub": "PSG", "awayClub": "OM", "competition": "Ligue 1 (ticket drop benchmark)",
            "venue": "Parc des Princes", "kickoff": kickoff, "perFanLimit": 4,
            "categories": [{"name": "Drop", "price": "25.00", "capacity": seats}]}))
        .send()
        .await?
        .json()
        .await?;
    let event_id = event["event"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("event: {event}"))?
        .to_owned();

    // One fan per attempt, each with enough money (set-up, not measured).
    eprintln!("setting up {attempts} fans...");
    let setup = Instant::now();
    let tokens: Vec<String> = futures::stream::iter(0..attempts)
        .map(|i| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let run = uuid::Uuid::new_v4().simple().to_string();
                let r: Value = client
                    .post(format!("{base}/api/auth/register"))
                    .json(&json!({"email": format!("drop-{i}-{}@example.com", &run[..8]), "password": "ticket drop pw", "name": format!("Fan {i}"), "clubId": "PSG"}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let token = r["token"].as_str().ok_or_else(|| anyhow::anyhow!("register: {r}"))?.to_owned();
                let d = client
                    .post(format!("{base}/api/wallet/deposit"))
                    .bearer_auth(&token)
                    .json(&json!({"amount": "50.00", "method": "sandbox"}))
                    .send()
                    .await?;
                anyhow::ensure!(d.status() == 201, "deposit: {}", d.status());
                Ok::<_, anyhow::Error>(token)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    eprintln!(
        "set-up took {:.1} s; the drop starts",
        setup.elapsed().as_secs_f64()
    );

    // Everyone at once.
    let start = Instant::now();
    let watch_until = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchers = watch(&client, &event_id, seats, start, watch_until.clone());
    let gate = Arc::new(tokio::sync::Barrier::new(attempts));
    let mut handles = Vec::with_capacity(attempts);
    for token in tokens {
        let (client, base, event_id, gate) =
            (client.clone(), base.clone(), event_id.clone(), gate.clone());
        handles.push(tokio::spawn(async move {
            gate.wait().await;
            let t0 = Instant::now();
            let status = client
                .post(format!("{base}/api/tickets/purchase"))
                .bearer_auth(&token)
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&json!({"eventId": event_id, "category": "Drop"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, t0.elapsed(), start.elapsed())
        }));
    }
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        results.push(h.await?);
    }
    let wall = start.elapsed();
    // The watchers go on for a moment, to see the last sales arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    watch_until.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen: Vec<Vec<Seen>> = Vec::new();
    for w in watchers {
        seen.push(w.await?);
    }
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.1).collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let sold = results.iter().filter(|r| r.0 == 201).count();
    let sold_out = results.iter().filter(|r| r.0 == 409).count();
    let server_errors = results.iter().filter(|r| r.0 >= 500 || r.0 == 0).count();
    let mut sold_times: Vec<Duration> =
        results.iter().filter(|r| r.0 == 201).map(|r| r.2).collect();
    sold_times.sort();
    let sell_out = sold_times.last().copied().unwrap_or_default();
    let e: Value = client
        .get(format!("{base}/api/tickets/events/{event_id}"))
        .send()
        .await?
        .json()
        .await?;
    let report = json!({
        "attempts": attempts,
        "seats": seats,
        "sold": sold,
        "soldOut409": sold_out,
        "serverErrorsOrTransportFailures": server_errors,
        "otherStatuses": results.iter().filter(|r| ![201, 409].contains(&r.0) && r.0 < 500 && r.0 != 0).map(|r| r.0).collect::<Vec<_>>(),
        "seatsLeftAfter": e["event"]["seatsAvailable"],
        "timeToSellOutMs": sell_out.as_secs_f64() * 1000.0,
        "wallMs": wall.as_secs_f64() * 1000.0,
        "latencyMs": {"p50": pct(0.50).as_secs_f64() * 1000.0, "p90": pct(0.90).as_secs_f64() * 1000.0,
                      "p99": pct(0.99).as_secs_f64() * 1000.0, "max": pct(1.0).as_secs_f64() * 1000.0},
    });
    let mut report = report;
    let acks: Vec<Duration> = sold_times.clone();
    for (i, url) in watch_urls().iter().enumerate() {
        let reads: Vec<&Seen> = seen.iter().flatten().filter(|r| r.instance == i).collect();
        report[format!("eventListOn{}", url)] = staleness(&reads, &acks, wall);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(
        sold as i64 == seats.min(attempts as i64),
        "sold {sold}, expected {seats}"
    );
    anyhow::ensure!(server_errors == 0, "{server_errors} server errors");
    Ok(())
}

use futures::StreamExt;

/// One read of the event list by a watcher.
struct Seen {
    instance: usize,
    /// When the read was sent and answered, since the drop started.
    sent: Duration,
    answered: Duration,
    /// Seats sold as the list showed them (capacity minus seats left).
    sold: i64,
    ok: bool,
}

fn watch_urls() -> Vec<String> {
    std::env::var("WATCH_URLS")
        .unwrap_or_default()
        .split(',')
        .filter(|u| u.starts_with("http://127.") || u.starts_with("http://localhost"))
        .map(|u| u.trim_end_matches('/').to_owned())
        .collect()
}

/// Readers of the event list, spread over the watched instances, until `stop`.
fn watch(
    client: &reqwest::Client,
    event_id: &str,
    seats: i64,
    start: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    let urls = watch_urls();
    if urls.is_empty() {
        return Vec::new();
    }
    let connections: usize = std::env::var("WATCH_CONNECTIONS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    (0..connections)
        .map(|c| {
            let instance = c % urls.len();
            let url = format!("{}/api/tickets/events?club=PSG", urls[instance]);
            let (client, event_id, stop) = (client.clone(), event_id.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = start.elapsed();
                    let body: Option<Value> = match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => r.json().await.ok(),
                        _ => None,
                    };
                    let left = body.as_ref().and_then(|b| {
                        b["events"]
                            .as_array()?
                            .iter()
                            .find(|e| e["id"] == event_id.as_str())?["seatsAvailable"]
                            .as_i64()
                    });
                    seen.push(Seen {
                        instance,
                        sent,
                        answered: start.elapsed(),
                        sold: left.map_or(0, |l| seats - l),
                        ok: left.is_some(),
                    });
                }
                seen
            })
        })
        .collect()
}

/// Throughput and latency of the reads made while purchases ran, and how
/// stale the seats they showed were against the acknowledged purchases
/// (`acks`, sorted: when each 201 arrived).
fn staleness(reads: &[&Seen], acks: &[Duration], drop_wall: Duration) -> Value {
    let during: Vec<&&Seen> = reads.iter().filter(|r| r.answered <= drop_wall).collect();
    let mut lat: Vec<u64> = during
        .iter()
        .map(|r| (r.answered - r.sent).as_micros() as u64)
        .collect();
    lat.sort_unstable();
    let mut worst = Duration::ZERO;
    let mut oversold = 0;
    for r in reads {
        let acked = acks.partition_point(|a| *a < r.sent);
        // The first acknowledged purchase this read does not count.
        if (r.sold as usize) < acked {
            worst = worst.max(r.sent - acks[r.sold.max(0) as usize]);
        }
        if r.sold > acks.len() as i64 {
            oversold += 1;
        }
    }
    json!({
        "reads": reads.len(),
        "failedReads": reads.iter().filter(|r| !r.ok).count(),
        "readsPerSecondDuringDrop": during.len() as f64 / drop_wall.as_secs_f64().max(0.001),
        "latencyMsDuringDrop": {"p50": common::percentile(&lat, 0.5), "p99": common::percentile(&lat, 0.99)},
        "maxStalenessMs": worst.as_secs_f64() * 1000.0,
        "readsShowingMoreSoldThanSold": oversold,
    })
}

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
