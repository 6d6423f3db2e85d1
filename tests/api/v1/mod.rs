//! v1.0 front ends against this server: a client that sends no version
//! header, v1.0's demo ids and numbers for amounts gets every field and JSON
//! type of ../shared/API-v1.md.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

mod contract;
mod session;

/// A front end built against v1.0: its `PaieCashFanAPIClient` sends JSON and
/// a bearer token, nothing else.
pub struct V1<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    pub token: Option<String>,
}

impl<'a> V1<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        V1 {
            app,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body.map(|b| b.to_string())).await
    }

    /// A request with its body written out, as a front end's JSON.stringify
    /// would (duplicate members included).
    pub async fn send(&self, method: Method, path: &str, body: Option<String>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}/api{path}", self.app.base))
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()
                .get("paiecashfan-version")
                .and_then(|v| v.to_str().ok()),
            Some("1.0"),
            "{path}"
        );
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Registers a new fan of AS Monaco (v1.0's default club), signed in.
    pub async fn register(&mut self, name: &str) -> Value {
        let r = self
            .post(
                "/auth/register",
                json!({"email": email(), "password": "secret-123", "name": name, "clubId": "AS_MONACO"}),
                201,
            )
            .await;
        self.token = r["token"].as_str().map(str::to_owned);
        r
    }

    /// Signs in as v1.0's demo fan.
    pub async fn demo(&mut self) -> Value {
        let r = self
            .post(
                "/auth/login",
                json!({"email": "demo@paiecashfan.com", "password": "demo123"}),
                200,
            )
            .await;
        self.token = r["token"].as_str().map(str::to_owned);
        r
    }

    /// The AS Monaco product of that name, as v1.0's product list shows it.
    pub async fn product(&self, name: &str) -> Value {
        let products = self.get("/shop/products?club=AS_MONACO&category=all").await;
        products["products"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_default()
    }

    pub async fn post(&self, path: &str, body: Value, expect: u16) -> Value {
        let (status, out) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, expect, "POST {path}: {out}");
        out
    }
}

/// Asserts the JSON type of each member: `string`, `number`, `boolean`,
/// `array`, `object`, or `ms` (a whole number of milliseconds in this
/// century).
#[track_caller]
pub fn shape(v: &Value, fields: &[(&str, &str)]) {
    for (name, kind) in fields {
        let f = &v[*name];
        let ok = match *kind {
            "string" => f.is_string(),
            "number" => f.is_number(),
            "boolean" => f.is_boolean(),
            "array" => f.is_array(),
            "object" => f.is_object(),
            "ms" => f
                .as_i64()
                .is_some_and(|n| (946_684_800_000..4_102_444_800_000).contains(&n)),
            other => panic!("unknown kind {other}"),
        };
        assert!(ok, "{name} should be {kind}, is {f} in {v}");
    }
}

pub const USER: &[(&str, &str)] = &[
    ("id", "string"),
    ("email", "string"),
    ("name", "string"),
    ("clubId", "string"),
];
pub const TRANSACTION: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("type", "string"),
    ("amount", "number"),
    ("currency", "string"),
    ("timestamp", "ms"),
    ("status", "string"),
];
pub const ESIM: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("planId", "string"),
    ("activatedAt", "ms"),
    ("expiresAt", "ms"),
    ("dataTotal", "number"),
    ("dataUsed", "number"),
    ("status", "string"),
    ("qrCode", "string"),
];
pub const TICKET: &[(&str, &str)] = &[
    ("id", "string"),
    ("userId", "string"),
    ("eventId", "string"),
    ("category", "string"),
    ("price", "number"),
    ("qrCode", "string"),
    ("nft", "boolean"),
    ("blockchain", "object"),
    ("purchasedAt", "ms"),
    ("status", "string"),
];

fn email() -> String {
    format!("v1-{}@example.com", uuid::Uuid::new_v4().simple())
}
