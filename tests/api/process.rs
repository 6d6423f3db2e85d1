//! The real binary as an operator runs it: CLI subcommands, JSON logs, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::both_engines;
use crate::helpers::{Engine, TEST_JWT_SECRET, TestDb, free_port};

both_engines!(admin_cli_logs_and_graceful_shutdown);

const BIN: &str = env!("CARGO_BIN_EXE_paiecashfan");

fn command(db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    cmd
}

async fn wait_healthy(client: &reqwest::Client, base: &str, child: &mut Child) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/api/health")).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server never became healthy");
}

async fn admin_cli_logs_and_graceful_shutdown(engine: Engine) {
    let db = TestDb::new(&engine).await;

    // `migrate` alone prepares the database.
    let out = command(&db, &["migrate"]).output().await.expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `admin create` makes an admin, or with --club a staff member of that club.
    let out = command(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "Boss@Example.com",
            "--password",
            "admin password 1",
        ],
    )
    .output()
    .await
    .expect("admin create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = command(&db, &["serve"])
        .env("PORT", port.to_string())
        .env("DEMO_DATA", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    paiecashfan::install_crypto_provider();
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;

    // Staff need an existing club (demo data seeded by `serve`).
    let out = command(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "gate@example.com",
            "--password",
            "staff password 1",
            "--club",
            "PSG",
        ],
    )
    .output()
    .await
    .expect("staff create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = command(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "staff password 1",
            "--club",
            "NOPE",
        ],
    )
    .output()
    .await
    .expect("staff create");
    assert!(!out.status.success(), "unknown club must fail");

    let login = |email: &'static str, password: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let r = client
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("login");
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.expect("json")
        }
    };
    let admin = login("boss@example.com", "admin password 1").await;
    assert_eq!(admin["user"]["role"], "admin");
    let staff = login("gate@example.com", "staff password 1").await;
    assert_eq!(staff["user"]["role"], "staff");
    assert_eq!(staff["user"]["staffClubId"], "PSG");
    let token = staff["token"].as_str().unwrap().to_owned();
    // An eSIM's activation code is the fan's secret: it never reaches the logs.
    let demo = login("demo@paiecashfan.com", "demo123").await;
    let esim: serde_json::Value = client
        .post(format!("{base}/api/esim/activate"))
        .bearer_auth(demo["token"].as_str().unwrap())
        .json(&json!({"planId": "europe-starter"}))
        .send()
        .await
        .expect("esim")
        .json()
        .await
        .expect("json");
    let activation_code = esim["esim"]["activationCode"]
        .as_str()
        .expect("code")
        .to_owned();
    let matching_id = esim["esim"]["matchingId"]
        .as_str()
        .expect("matching id")
        .to_owned();

    // Requests in flight when SIGTERM arrives are answered before the process exits.
    let mut inflight = Vec::new();
    for i in 0..4 {
        let client = client.clone();
        let base = base.clone();
        inflight.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/auth/register"))
                .json(&json!({"email": format!("late{i}@example.com"), "password": "secret-password-xyz", "name": "Late"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let pid = server.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    for h in inflight {
        assert_eq!(h.await.expect("join").expect("answered"), 201);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "exit status {status}");

    let mut stdout = String::new();
    server
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .await
        .expect("read");
    let mut request_lines = 0;
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).expect("every log line is JSON");
        if v["message"] == "request" {
            request_lines += 1;
            assert!(
                v["route"].is_string() && v["status"].is_number() && v["latency_ms"].is_number(),
                "{line}"
            );
        }
    }
    assert!(request_lines >= 6, "one line per request:\n{stdout}");
    assert!(stdout.contains(r#""route":"/api/auth/login""#));
    for secret in [
        "admin password 1",
        "staff password 1",
        "secret-password-xyz",
        token.as_str(),
        activation_code.as_str(),
        matching_id.as_str(),
    ] {
        assert!(!stdout.contains(secret), "a secret leaked into the logs");
    }
}
