//! The real binary as an operator runs it: CLI subcommands, JSON logs, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::both_engines;
use crate::helpers::{Engine, TEST_JWT_SECRET, TestDb, free_port};

both_engines!(
    migrate_alone_prepares_the_database_for_admin_create,
    the_created_admin_signs_in_as_an_admin,
    admin_create_with_a_club_makes_a_staff_member_of_it,
    admin_create_with_an_unknown_club_fails,
    requests_in_flight_at_sigterm_are_answered_before_a_clean_exit,
    every_request_is_logged_as_one_json_line,
    secrets_never_reach_the_logs,
    the_health_command_tells_a_container_engine_whether_the_server_answers,
);

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

/// Runs a subcommand to the end; it must succeed.
async fn run_ok(db: &TestDb, args: &[&str]) {
    let out = command(db, args).output().await.expect(args[0]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `paiecashfan admin create`, with `--club` for a staff member.
async fn admin_create(
    db: &TestDb,
    email: &str,
    password: &str,
    club: Option<&str>,
) -> std::process::Output {
    let mut args = vec!["admin", "create", "--email", email, "--password", password];
    if let Some(club) = club {
        args.extend(["--club", club]);
    }
    command(db, &args).output().await.expect("admin create")
}

/// A migrated database with an admin, Boss@Example.com.
async fn migrated_with_an_admin(engine: &Engine) -> TestDb {
    let db = TestDb::new(engine).await;
    // `migrate` alone prepares the database.
    run_ok(&db, &["migrate"]).await;
    // `admin create` makes an admin.
    let out = admin_create(&db, "Boss@Example.com", "admin password 1", None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// `paiecashfan serve` on the database, with the demo data, logging JSON.
struct Served {
    db: TestDb,
    server: Child,
    client: reqwest::Client,
    base: String,
}

async fn serve(db: TestDb) -> Served {
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
    let client = crate::helpers::http_client();
    wait_healthy(&client, &base, &mut server).await;
    Served {
        db,
        server,
        client,
        base,
    }
}

impl Served {
    async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .client
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")
    }

    /// Four registrations in flight when SIGTERM arrives: their statuses,
    /// and how the process exited.
    async fn sigterm_with_requests_in_flight(
        &mut self,
    ) -> (
        Vec<reqwest::Result<u16>>,
        Result<std::io::Result<std::process::ExitStatus>, tokio::time::error::Elapsed>,
    ) {
        let mut inflight = Vec::new();
        for i in 0..4 {
            let client = self.client.clone();
            let base = self.base.clone();
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
        let pid = self.server.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let mut statuses = Vec::new();
        for h in inflight {
            statuses.push(h.await.expect("join"));
        }
        let exit = tokio::time::timeout(Duration::from_secs(20), self.server.wait()).await;
        (statuses, exit)
    }

    async fn stdout(&mut self) -> String {
        let mut stdout = String::new();
        self.server
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .await
            .expect("read");
        stdout
    }
}

async fn migrate_alone_prepares_the_database_for_admin_create(engine: Engine) {
    migrated_with_an_admin(&engine).await;
}

async fn the_created_admin_signs_in_as_an_admin(engine: Engine) {
    let served = serve(migrated_with_an_admin(&engine).await).await;
    let admin = served.login("boss@example.com", "admin password 1").await;
    assert_eq!(admin["user"]["role"], "admin");
}

async fn admin_create_with_a_club_makes_a_staff_member_of_it(engine: Engine) {
    let served = serve(migrated_with_an_admin(&engine).await).await;
    // Staff need an existing club (demo data seeded by `serve`).
    let out = admin_create(
        &served.db,
        "gate@example.com",
        "staff password 1",
        Some("PSG"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staff = served.login("gate@example.com", "staff password 1").await;
    assert_eq!(staff["user"]["role"], "staff");
    assert_eq!(staff["user"]["staffClubId"], "PSG");
}

async fn admin_create_with_an_unknown_club_fails(engine: Engine) {
    let served = serve(migrated_with_an_admin(&engine).await).await;
    let out = admin_create(
        &served.db,
        "x@example.com",
        "staff password 1",
        Some("NOPE"),
    )
    .await;
    assert!(!out.status.success(), "unknown club must fail");
}

async fn requests_in_flight_at_sigterm_are_answered_before_a_clean_exit(engine: Engine) {
    let mut served = serve(migrated_with_an_admin(&engine).await).await;
    let (statuses, exit) = served.sigterm_with_requests_in_flight().await;
    for status in statuses {
        assert_eq!(status.expect("answered"), 201);
    }
    let status = exit.expect("exits after SIGTERM").expect("wait");
    assert!(status.success(), "exit status {status}");
}

/// An operator's day, to the end: an admin and a PSG staff member created,
/// both and the demo fan signed in, an eSIM bought, four registrations in
/// flight at SIGTERM. What the server wrote to stdout, and what it must
/// never have written.
async fn an_operators_day(engine: &Engine) -> (String, Vec<String>) {
    let mut served = serve(migrated_with_an_admin(engine).await).await;
    let out = admin_create(
        &served.db,
        "gate@example.com",
        "staff password 1",
        Some("PSG"),
    )
    .await;
    assert!(out.status.success());
    served.login("boss@example.com", "admin password 1").await;
    let staff = served.login("gate@example.com", "staff password 1").await;
    let token = staff["token"].as_str().unwrap().to_owned();
    // An eSIM's activation code is the fan's secret.
    let demo = served.login("demo@paiecashfan.com", "demo123").await;
    let esim: Value = served
        .client
        .post(format!("{}/api/esim/activate", served.base))
        .bearer_auth(demo["token"].as_str().unwrap())
        .json(&json!({"planId": "europe-starter"}))
        .send()
        .await
        .expect("esim")
        .json()
        .await
        .expect("json");
    let activation_code = esim["esim"]["activationCode"].as_str().expect("code");
    let matching_id = esim["esim"]["matchingId"].as_str().expect("matching id");
    let secrets = vec![
        "admin password 1".to_owned(),
        "staff password 1".to_owned(),
        "secret-password-xyz".to_owned(),
        token,
        activation_code.to_owned(),
        matching_id.to_owned(),
    ];
    let (statuses, exit) = served.sigterm_with_requests_in_flight().await;
    for status in statuses {
        assert_eq!(status.expect("answered"), 201);
    }
    let status = exit.expect("exits after SIGTERM").expect("wait");
    assert!(status.success(), "exit status {status}");
    (served.stdout().await, secrets)
}

async fn every_request_is_logged_as_one_json_line(engine: Engine) {
    let (stdout, _) = an_operators_day(&engine).await;
    let mut request_lines = 0;
    // Every line, the start-up one included: `jq` stops at the first that is not JSON.
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a stdout line is not JSON ({e}): {line:?}"));
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
    assert!(
        stdout.contains("PaieCashFan listening on http://"),
        "the start-up line is a JSON line too:\n{stdout}"
    );
}

async fn secrets_never_reach_the_logs(engine: Engine) {
    let (stdout, secrets) = an_operators_day(&engine).await;
    for secret in &secrets {
        assert!(!stdout.contains(secret), "a secret leaked into the logs");
    }
}

async fn the_health_command_tells_a_container_engine_whether_the_server_answers(engine: Engine) {
    let served = serve(migrated_with_an_admin(&engine).await).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    let ok = command(&served.db, &["health", "--addr", &addr])
        .output()
        .await
        .expect("health");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // PORT is what the image sets; the command finds the server by it.
    let port = addr.rsplit(':').next().unwrap();
    let by_port = command(&served.db, &["health"])
        .env("PORT", port)
        .output()
        .await
        .expect("health");
    assert!(by_port.status.success());
    let closed = format!("127.0.0.1:{}", free_port());
    let down = command(&served.db, &["health", "--addr", &closed])
        .output()
        .await
        .expect("health");
    assert!(!down.status.success(), "nothing listens there");
}
