//! Recommendations at scale: 10,000 fans with 100,000 purchases, the model
//! rebuilt once, then `GET /api/ai/recommendations` from 32 clients.
//!
//! Run through `bench/ai_recs.sh` (it builds the release server, starts it
//! and runs this). Against a running server:
//!   cargo run --release --example ai_recs -- <base-url> <database-url> <jwt-secret> <server-pid> [fans] [purchases] [clients] [seconds]
//! Fans, products and orders are written straight into the database (the
//! shop's checkout is measured elsewhere; this measures the recommender) and
//! the fans get access tokens signed with the server's secret. Loopback only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AssertSqlSafe, Connection};

const CLUBS: [&str; 8] = [
    "AS_MONACO",
    "PSG",
    "OL",
    "OM",
    "WYDAD_AC",
    "RAJA_CA",
    "COTON_SPORT",
    "ASEC_MIMOSAS",
];
const CLUB_WEIGHTS: [u64; 8] = [30, 20, 15, 10, 10, 5, 5, 5];
const CATEGORIES: [&str; 5] = [
    "jerseys",
    "accessories",
    "apparel",
    "equipment",
    "collectibles",
];
const PER_CATEGORY: usize = 5;

#[path = "common.rs"]
mod common;
use common::{percentile, rss_kib};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Inserts `rows` (each a list of SQL values already bound in order) in
/// statements of `per` rows.
async fn insert_many(
    conn: &mut AnyConnection,
    head: &str,
    width: usize,
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let per = 900 / width;
    for chunk in rows.chunks(per) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> = (0..width)
                    .map(|c| format!("${}", r * width + c + 1))
                    .collect();
                format!("({})", cols.join(", "))
            })
            .collect();
        let sql = format!("{head} VALUES {}", values.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Text(s) => q.bind(s.clone()),
                    Value::Int(i) => q.bind(*i),
                    Value::Null => q.bind(None::<String>),
                };
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

enum Value {
    Text(String),
    Int(i64),
    Null,
}

fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = common::target(
        &args,
        "ai_recs <base-url> <database-url> <jwt-secret> <server-pid> [fans] [purchases] [clients] [seconds]",
    )?;
    let (base, db_url, secret, pid) = (target.base, &target.db_url, &target.secret, &target.pid);
    let fans: usize = args
        .get(5)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let purchases: usize = args
        .get(6)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let clients: usize = args.get(7).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let seconds: u64 = args.get(8).map(|s| s.parse()).transpose()?.unwrap_or(20);
    paiecashfan::install_crypto_provider();
    sqlx::any::install_default_drivers();

    let seeding = Instant::now();
    let now = paiecashfan::db::now_ms();
    let day = 86_400_000i64;
    let mut rng = Rng(2026);
    let mut conn = AnyConnection::connect(db_url).await?;
    let mut tx = conn.begin().await?;
    // Products: 25 per club, one size each, stock that never runs out.
    let mut products: Vec<(String, String, String, usize)> = Vec::new();
    let mut product_rows = Vec::new();
    let mut variant_rows = Vec::new();
    for (c, club) in CLUBS.iter().enumerate() {
        for (k, cat) in CATEGORIES.iter().enumerate() {
            for n in 0..PER_CATEGORY {
                let id = paiecashfan::db::new_id();
                let variant = paiecashfan::db::new_id();
                let name = format!("Bench {club} {cat} {n}");
                product_rows.push(vec![
                    t(&id),
                    t(*club),
                    t(&name),
                    t(*cat),
                    t(""),
                    Value::Null,
                    Value::Int(1_000 + 100 * (k as i64) + n as i64),
                    t(if c < 4 {
                        "EUR"
                    } else if c < 6 {
                        "MAD"
                    } else if c == 6 {
                        "XAF"
                    } else {
                        "XOF"
                    }),
                    Value::Int(1),
                    Value::Int(now),
                    Value::Int(now),
                ]);
                variant_rows.push(vec![
                    t(&variant),
                    t(&id),
                    Value::Null,
                    Value::Int(1_000_000),
                    Value::Int(0),
                ]);
                products.push((id, variant, name, c));
            }
        }
    }
    insert_many(&mut tx, "INSERT INTO products (id, club_id, name, category, description, image_url, price, currency, active, created_at, updated_at)", 11, &product_rows).await?;
    insert_many(
        &mut tx,
        "INSERT INTO product_variants (id, product_id, size, stock, position)",
        5,
        &variant_rows,
    )
    .await?;
    // Fans, with a shared password hash (registering 10,000 accounts would
    // measure Argon2).
    let hash = paiecashfan::auth::password::hash("bench fan password".into())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let total_weight: u64 = CLUB_WEIGHTS.iter().sum();
    let mut fan_ids = Vec::with_capacity(fans);
    let mut user_rows = Vec::with_capacity(fans);
    for i in 0..fans {
        let id = paiecashfan::db::new_id();
        let mut x = rng.below(total_weight);
        let mut club = 0;
        while x >= CLUB_WEIGHTS[club] {
            x -= CLUB_WEIGHTS[club];
            club += 1;
        }
        user_rows.push(vec![
            t(&id),
            t(format!("ai-bench-{id}@example.com")),
            t(&hash),
            t(format!("Fan {i}")),
            t(CLUBS[club]),
            t("fan"),
            Value::Int(now - 400 * day),
            Value::Int(now),
        ]);
        fan_ids.push((id, club));
    }
    insert_many(
        &mut tx,
        "INSERT INTO users (id, email, password_hash, name, club_id, role, created_at, updated_at)",
        8,
        &user_rows,
    )
    .await?;
    // Purchases: three in four from the fan's club, two favourite
    // categories, the first items of each shelf selling best; one order each.
    let mut order_rows = Vec::with_capacity(purchases);
    let mut line_rows = Vec::with_capacity(purchases);
    for p in 0..purchases {
        let (fan, club) = &fan_ids[p % fans];
        let c = if rng.below(4) < 3 {
            *club
        } else {
            rng.below(8) as usize
        };
        let k = if rng.below(10) < 7 {
            (*club + p % 2) % 5
        } else {
            rng.below(5) as usize
        };
        let n = (rng.below(15) as f64).sqrt() as usize % PER_CATEGORY;
        let (pid_, variant, name, _) = &products[c * 25 + k * PER_CATEGORY + n];
        let order = paiecashfan::db::new_id();
        let at = now - (rng.below(360) as i64) * day;
        let currency = if c < 4 {
            "EUR"
        } else if c < 6 {
            "MAD"
        } else if c == 6 {
            "XAF"
        } else {
            "XOF"
        };
        order_rows.push(vec![
            t(&order),
            t(fan),
            t("paid"),
            Value::Int(2_000),
            t(currency),
            Value::Int(1_000),
            Value::Int(at),
            Value::Int(at),
        ]);
        line_rows.push(vec![
            t(&order),
            Value::Int(1),
            t(pid_),
            t(variant),
            t(CLUBS[c]),
            t(name),
            Value::Null,
            Value::Int(2_000),
            Value::Int(1),
        ]);
    }
    insert_many(&mut tx, "INSERT INTO orders (id, user_id, status, total, currency, commission_bps, created_at, updated_at)", 8, &order_rows).await?;
    insert_many(&mut tx, "INSERT INTO order_lines (order_id, line_no, product_id, variant_id, club_id, name, size, unit_price, quantity)", 9, &line_rows).await?;
    let admin = paiecashfan::db::new_id();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, role, created_at, updated_at)
         VALUES ($1, $2, $3, 'Bench admin', 'admin', $4, $4)",
    )
    .bind(&admin)
    .bind(format!("ai-bench-admin-{admin}@example.com"))
    .bind(&hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Planner statistics, as autovacuum would gather them on a live
    // database some time after a bulk load like this one.
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    println!(
        "seeded {fans} fans, {} products, {purchases} purchases in {:.1} s",
        products.len(),
        seeding.elapsed().as_secs_f64()
    );

    let tokens = paiecashfan::auth::token::TokenService::new(
        secret.as_bytes(),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let sign = |id: &str, role| {
        tokens
            .issue_access(id, role, None, id)
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(60))
        .build()?;

    let rss_before = rss_kib(pid);
    let started = Instant::now();
    let report: serde_json::Value = http
        .post(format!("{base}/api/admin/ai/rebuild"))
        .bearer_auth(sign(&admin, paiecashfan::auth::token::Role::Admin)?)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let rebuild_wall = started.elapsed();
    let rss_after = rss_kib(pid);
    println!(
        "rebuild: {} ms in the server ({} ms with the HTTP round trip), {} fans, {} interactions, {} items; server RSS {} -> {} MiB",
        report["buildMs"],
        rebuild_wall.as_millis(),
        report["fans"],
        report["interactions"],
        report["items"],
        rss_before / 1024,
        rss_after / 1024
    );

    // Each client plays a different fan every request.
    let fan_tokens: Arc<Vec<String>> = Arc::new(
        fan_ids
            .iter()
            .take(2_000)
            .map(|(id, _)| sign(id, paiecashfan::auth::token::Role::Fan))
            .collect::<anyhow::Result<_>>()?,
    );
    // Warm the connection pools and the allocator.
    for tok in fan_tokens.iter().take(64) {
        http.get(format!("{base}/api/ai/recommendations"))
            .bearer_auth(tok)
            .send()
            .await?
            .error_for_status()?;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, fan_tokens) = (http.clone(), base.clone(), fan_tokens.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = c;
            let mut empty = 0usize;
            while Instant::now() < deadline {
                let tok = &fan_tokens[i % fan_tokens.len()];
                i += clients;
                let t0 = Instant::now();
                let r = http
                    .get(format!("{base}/api/ai/recommendations?limit=10"))
                    .bearer_auth(tok)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let body = r.bytes().await.unwrap_or_default();
                        lat.push(t0.elapsed().as_micros() as u64);
                        if !body.windows(8).any(|w| w == b"\"reason\"") {
                            empty += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors, empty)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut empty) = (0, 0);
    for t in tasks {
        let (l, e, m) = t.await?;
        all.extend(l);
        errors += e;
        empty += m;
    }
    all.sort_unstable();
    println!(
        "GET /api/ai/recommendations, {clients} clients, {seconds} s: {} requests ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {errors} errors, {empty} empty answers; server RSS {} MiB",
        all.len(),
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        rss_kib(pid) / 1024
    );
    Ok(())
}
