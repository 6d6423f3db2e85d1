//! Starts the real server on a random port with a fresh database, and speaks HTTP to it.

use std::collections::HashMap;

use paiecashfan::app::{self, AppState};
use paiecashfan::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::oneshot;

pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

#[derive(Debug, Clone)]
pub enum Engine {
    Sqlite,
    Postgres(String),
}

impl Engine {
    /// PostgreSQL when `TEST_DATABASE_URL` is set.
    pub fn postgres() -> Option<Engine> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Engine::Postgres)
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL (when configured):
/// `both_engines!(name, ...)` expects `async fn name(engine: Engine)`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::helpers::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match $crate::helpers::Engine::postgres() {
                    Some(engine) => super::$name(engine).await,
                    None => eprintln!("TEST_DATABASE_URL is not set: PostgreSQL pass skipped"),
                }
            }
        }
    )* };
}

/// A fresh, empty database that is removed when dropped.
pub struct TestDb {
    pub url: String,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Schema { admin_url: String, schema: String },
}

impl TestDb {
    pub async fn new(engine: &Engine) -> TestDb {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match engine {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(format!("pcf-test-{tag}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestDb {
                    url: format!("sqlite://{}", dir.join("test.db").display()),
                    cleanup: Some(Cleanup::Dir(dir)),
                }
            }
            Engine::Postgres(base) => {
                // One schema per test: cheaper than a database, equally isolated.
                sqlx::any::install_default_drivers();
                let schema = format!("t_{tag}");
                let mut conn = AnyConnection::connect(base)
                    .await
                    .expect("TEST_DATABASE_URL is set but PostgreSQL cannot be reached");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                    .await
                    .expect("create schema");
                conn.close().await.ok();
                let sep = if base.contains('?') { '&' } else { '?' };
                TestDb {
                    url: format!("{base}{sep}options[search_path]={schema}"),
                    cleanup: Some(Cleanup::Schema {
                        admin_url: base.clone(),
                        schema,
                    }),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.cleanup.take() {
            Some(Cleanup::Dir(dir)) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Some(Cleanup::Schema { admin_url, schema }) => {
                // Drop cannot be async; a short-lived runtime on its own thread can.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let mut conn = AnyConnection::connect(&admin_url).await.ok()?;
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                        )))
                        .await
                        .ok()?;
                        conn.close().await.ok()
                    })
                })
                .join();
            }
            None => {}
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub vars: HashMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    // Declared last: dropped after the server is told to stop.
    pub db: TestDb,
}

/// Variables every test server starts with; `configure` may change them.
pub fn base_vars(db_url: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("DATABASE_URL".into(), db_url.to_owned());
    vars.insert("JWT_SECRET".into(), TEST_JWT_SECRET.into());
    vars.insert("DEMO_DATA".into(), "true".into());
    vars.insert("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000".into());
    vars.insert("DB_MAX_CONNECTIONS".into(), "8".into());
    vars.insert("LOG_FORMAT".into(), "pretty".into());
    // Recommendations see a purchase or a sell-out at once (not within 1 s).
    vars.insert("AI_CATALOGUE_TTL_MS".into(), "0".into());
    vars
}

pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_with(engine, |_| {}).await
}

pub async fn spawn_with(
    engine: Engine,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let db = TestDb::new(&engine).await;
    let mut vars = base_vars(&db.url);
    configure(&mut vars);
    start(db, vars).await
}

pub async fn start(db: TestDb, vars: HashMap<String, String>) -> TestApp {
    paiecashfan::install_crypto_provider();
    let config = Config::from_map(&vars).expect("test config");
    let vars_kept = vars.clone();
    let state = AppState::build(config).await.expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        app::serve(listener, server_state, async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    TestApp {
        base: format!("http://{addr}"),
        client: http_client(),
        state,
        vars: vars_kept,
        shutdown: Some(tx),
        server: Some(server),
        db,
    }
}

/// The tests' HTTP client: it names the current API version on every
/// request, as the JS client and the demo page do (a server without
/// `API_DEFAULT_VERSION` answers 1.0 shapes otherwise); it follows no
/// redirects.
pub fn http_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        paiecashfan::versions::HEADER,
        reqwest::header::HeaderValue::from_static(paiecashfan::versions::CURRENT),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Redis for tests that need it, with a key prefix of their own.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A response as a test looks at it.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.text
        );
        self
    }
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Resp {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert_eq!(self.body["status"], status, "body: {}", self.text);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        assert!(self.body["error"].is_string());
        self
    }
}

pub struct Req<'a> {
    app: &'a TestApp,
    rb: reqwest::RequestBuilder,
}

impl Req<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.rb = self.rb.bearer_auth(token);
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.rb = self.rb.header(name, value);
        self
    }
    pub fn json(mut self, body: &Value) -> Self {
        self.rb = self.rb.json(body);
        self
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        self.rb = self.rb.header("content-type", content_type).body(body);
        self
    }
    pub async fn send(self) -> Resp {
        let _ = self.app;
        let resp = self.rb.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }
}

impl TestApp {
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            rb: self
                .client
                .request(method, format!("{}{}", self.base, path)),
        }
    }
    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }

    /// Registers a new fan of `club` and returns them signed in.
    pub async fn fan(&self, name: &str, club: &str) -> Fan {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let r = self
            .post("/api/auth/register")
            .json(&json!({"email": email, "password": "correct horse battery", "name": name, "clubId": club}))
            .send()
            .await
            .expect(201);
        Fan {
            id: r.body["user"]["id"].as_str().unwrap_or_default().to_owned(),
            token: r.body["token"].as_str().unwrap_or_default().to_owned(),
            refresh: r.body["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            email,
        }
    }

    /// Creates a staff member of `club` (or an admin with `None`) directly in the
    /// database, as `paiecashfan admin create` does, and signs them in.
    pub async fn staff(&self, club: Option<&str>) -> Fan {
        use paiecashfan::auth::token::Role;
        let email = format!("staff-{}@example.com", uuid::Uuid::new_v4().simple());
        let hash = paiecashfan::auth::password::hash("staff password 1".into())
            .await
            .expect("hash");
        let role = if club.is_some() {
            Role::Staff
        } else {
            Role::Admin
        };
        self.state
            .auth
            .create_user(&email, &hash, "Staff", None, role, club)
            .await
            .expect("create staff");
        let r = self
            .post("/api/auth/login")
            .json(&json!({"email": email, "password": "staff password 1"}))
            .send()
            .await
            .expect(200);
        Fan {
            id: r.body["user"]["id"].as_str().unwrap_or_default().to_owned(),
            token: r.body["token"].as_str().unwrap_or_default().to_owned(),
            refresh: r.body["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            email,
        }
    }

    /// Another instance of the server on the same database, as a load
    /// balancer would run it beside this one (`configure` may change its
    /// variables); the database stays this app's to clean up.
    pub async fn sibling(&self, configure: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
        let mut vars = self.vars.clone();
        configure(&mut vars);
        let db = TestDb {
            url: self.db.url.clone(),
            cleanup: None,
        };
        start(db, vars).await
    }

    /// Stops this server and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let db = std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                cleanup: None,
            },
        );
        let vars = std::mem::take(&mut self.vars);
        start(db, vars).await
    }

    /// Stops the server and waits for in-flight requests to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        self.state.db.close().await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fan {
    pub id: String,
    pub token: String,
    pub refresh: String,
    pub email: String,
}

/// Reads a QR code back from a PNG, as a phone camera would.
pub fn decode_png(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("png").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code");
    grids[0].decode().expect("decodable").1
}

/// The real binary, as production runs it.
pub const BIN: &str = env!("CARGO_BIN_EXE_paiecashfan");

/// Starts `paiecashfan serve` on `db` and `port` (with demo data), killed
/// when dropped.
pub fn server(db: &TestDb, port: u16, env: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("PORT", port.to_string())
        .env("DEMO_DATA", "true")
        .env("AUTH_RATE_LIMIT_PER_MINUTE", "100000")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn server")
}

pub async fn wait_up(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `paiecashfan ledger verify` on `db`: every balance recomputed, OK.
pub async fn ledger_verify_cli(db: &TestDb) {
    let out = tokio::process::Command::new(BIN)
        .args(["ledger", "verify"])
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .output()
        .await
        .expect("ledger verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ledger verify failed:\n{text}");
    assert!(text.contains("OK"), "{text}");
}

// The wallet as every capability's tests look at it.

/// Tops up a fan's wallet through the sandbox provider.
pub async fn deposit(app: &TestApp, fan: &Fan, amount: &str) -> Value {
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .json(&json!({"amount": amount, "method": "sandbox"}))
        .send()
        .await
        .expect(201)
        .body
}

/// The fan's primary balance, as the API writes it.
pub async fn balance(app: &TestApp, fan: &Fan) -> String {
    app.get("/api/wallet/balance")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["balance"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every balance recomputed from the transfers: the books balance.
pub async fn verify_ok(app: &TestApp) {
    let report = paiecashfan::wallet::verify::verify(&app.state.db)
        .await
        .unwrap();
    assert!(report.ok, "ledger broken: {report:?}");
}

/// The fan's last 100 transactions, newest first.
pub async fn history(app: &TestApp, fan: &Fan) -> Vec<Value> {
    app.get("/api/wallet/transactions?limit=100")
        .token(&fan.token)
        .send()
        .await
        .expect(200)
        .body["transactions"]
        .as_array()
        .unwrap()
        .clone()
}

// A storm of concurrent requests against the real binary, cut short by
// `kill -9`: what crash.rs and ledger.rs both put the server through.

/// A request of a storm that the kill cut off, to retry with its key.
#[derive(Debug, Clone)]
pub struct CutOff {
    pub token: String,
    pub path: String,
    pub key: String,
    pub body: Value,
}

/// What one request of a storm came to, as its worker saw it.
pub enum Shot<A> {
    /// A success, to look for after the restart.
    Answered(A),
    /// Any other answer: the worker goes on.
    Refused,
    /// No answer: the kill cut it off, and the worker stops.
    CutOff(CutOff),
    /// The worker stops.
    Stop,
}

/// How big a storm is, and when the kill comes.
pub struct Storm {
    /// Workers sending at once.
    pub workers: usize,
    /// The most requests one worker sends.
    pub requests: usize,
    /// The kill waits for this many answered requests ...
    pub enough: usize,
    /// ... looking this many times, 10 ms apart.
    pub looks: usize,
}

impl Storm {
    /// Every worker `w` sends its requests `shoot(w, n)` one after the
    /// other; once `enough` are answered the server is killed with SIGKILL.
    /// Returns the answered requests and those the kill cut off.
    pub async fn until_killed<A, F, Fut>(
        &self,
        server: &mut tokio::process::Child,
        shoot: F,
    ) -> (Vec<A>, Vec<CutOff>)
    where
        A: Clone + Send + 'static,
        F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Shot<A>> + Send + 'static,
    {
        use std::sync::{Arc, Mutex};
        let shoot = Arc::new(shoot);
        let answered: Arc<Mutex<Vec<A>>> = Arc::default();
        let cut_off: Arc<Mutex<Vec<CutOff>>> = Arc::default();
        let mut workers = Vec::new();
        for w in 0..self.workers {
            let (shoot, answered, cut_off) = (shoot.clone(), answered.clone(), cut_off.clone());
            let requests = self.requests;
            workers.push(tokio::spawn(async move {
                for n in 0..requests {
                    match shoot(w, n).await {
                        Shot::Answered(a) => answered.lock().unwrap().push(a),
                        Shot::Refused => {}
                        Shot::CutOff(c) => {
                            cut_off.lock().unwrap().push(c);
                            return;
                        }
                        Shot::Stop => return,
                    }
                }
            }));
        }
        // Let the storm build up, then pull the plug.
        for _ in 0..self.looks {
            if answered.lock().unwrap().len() >= self.enough {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        kill_9(server).await;
        for w in workers {
            let _ = w.await;
        }
        let answered = answered.lock().unwrap().clone();
        assert!(
            answered.len() >= self.enough,
            "the storm was too small: {}",
            answered.len()
        );
        let cut_off = cut_off.lock().unwrap().clone();
        (answered, cut_off)
    }
}

/// One request of a storm, with its idempotency key; no answer at all (the
/// kill) makes it a `CutOff` to retry.
pub async fn storm_request(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: String,
    key: String,
    body: Value,
) -> Result<reqwest::Response, CutOff> {
    let resp = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("idempotency-key", &key)
        .json(&body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    resp.map_err(|_| CutOff {
        token: token.to_owned(),
        path,
        key,
        body,
    })
}

/// Registers a fan on a server started with `server` and tops up their
/// wallet through the sandbox: (user id, token).
pub async fn storm_fan(
    client: &reqwest::Client,
    base: &str,
    registration: Value,
    amount: &str,
) -> (String, String) {
    let r: Value = client
        .post(format!("{base}/api/auth/register"))
        .json(&registration)
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
        .json(&json!({"amount": amount, "method": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), 201);
    (r["user"]["id"].as_str().unwrap().to_owned(), token)
}

/// `kill -9`: the process gets no chance to finish anything.
pub async fn kill_9(child: &mut tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait().await;
}

/// A ledger account's balance in minor units (0 before its first transfer):
/// what a club earned, what the platform's commission came to.
pub async fn account_balance(app: &TestApp, kind: &str, owner: &str, currency: &str) -> i64 {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT balance FROM accounts WHERE kind = $1 AND owner_id = $2 AND currency = $3",
    )
    .bind(kind)
    .bind(owner)
    .bind(currency)
    .fetch_optional(app.state.db.reader())
    .await
    .unwrap();
    row.map_or(0, |(b,)| b)
}

/// Runs one statement on the app's database, as a test setting up a state
/// the API cannot reach (a past date, a row from an older version).
pub async fn exec_sql(app: &TestApp, sql: &'static str, bind: &str) {
    let mut tx = app.state.db.begin_write().await.unwrap();
    sqlx::query(sql)
        .bind(bind)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A PSG home match against OM, created by PSG staff with these ticket
/// categories; returns (event, staff).
pub async fn psg_home_match(
    app: &TestApp,
    kickoff_in_hours: i64,
    per_fan: i64,
    categories: Value,
) -> (Value, Fan) {
    let staff = app.staff(Some("PSG")).await;
    let r = app
        .post("/api/admin/events")
        .token(&staff.token)
        .json(&json!({
            "homeClub": "PSG", "awayClub": "OM", "competition": "Ligue 1", "venue": "Parc des Princes",
            "kickoff": rfc3339_in(kickoff_in_hours), "perFanLimit": per_fan,
            "categories": categories,
        }))
        .send()
        .await
        .expect(201);
    (r.body["event"].clone(), staff)
}

/// `hours` from now, as the API writes times.
pub fn rfc3339_in(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
