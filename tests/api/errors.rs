use serde_json::json;

use crate::both_engines;
use crate::helpers::{Engine, Fan, TestApp, spawn_app, spawn_with};

both_engines!(
    // Bad input: problem details, and nothing changed.
    broken_json_is_a_400,
    wrong_types_and_missing_fields_name_the_field,
    a_whole_number_written_with_a_fraction_is_an_integer,
    a_json_value_that_is_not_an_object_is_a_422,
    a_body_that_is_not_json_is_a_415,
    a_body_over_64_kib_is_a_413,
    overlong_names_control_characters_and_absurd_passwords_are_refused,
    unknown_routes_and_wrong_methods_are_problem_details,
    nul_characters_in_paths_are_refused,
    nul_characters_in_bodies_are_refused,
    unicode_is_welcome_where_it_is_text,
    // Bodies of the wrong JSON or media type.
    a_body_that_is_not_a_json_object_renames_nobody,
    only_json_media_types_are_accepted,
    json_media_types_are_accepted_in_any_case_and_with_a_charset,
    // Who is asking comes first.
    without_a_token_a_bad_key_or_body_is_a_401,
    signed_in_a_bad_key_is_refused_for_what_it_is,
    // Slow and lying clients.
    a_huge_announced_body_is_refused_at_once,
    a_body_shorter_than_announced_times_out_in_seconds,
    a_chunked_body_over_the_limit_is_a_413,
    huge_headers_are_refused_before_the_application,
);

async fn users(app: &TestApp) -> i64 {
    app.get("/api/stats").send().await.body["users"]
        .as_i64()
        .unwrap()
}

/// Bad requests must not create accounts: the count after them, given the
/// count before and the accounts the test itself made.
#[track_caller]
fn assert_no_account_created(after: i64, before: i64, made: i64) {
    assert_eq!(after, before + made, "no bad request created an account");
}

// Bad input: problem details, and nothing changed.

async fn broken_json_is_a_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = users(&app).await;
    // Broken JSON, empty body, trailing garbage.
    for raw in [
        "{\"email\": ",
        "",
        "not json",
        "{\"email\":\"a@b.co\",\"password\":\"x\",\"name\":\"n\"} trailing",
        "[1,2",
    ] {
        app.post("/api/auth/register")
            .raw("application/json", raw.to_owned())
            .send()
            .await
            .expect_problem(400, "malformed_json");
    }
    assert_no_account_created(users(&app).await, before, 0);
}

async fn wrong_types_and_missing_fields_name_the_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = users(&app).await;
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": ["x"], "password": "long enough pw", "name": "A"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "email");
    let r = app
        .post("/api/auth/login")
        .json(&json!({"password": "x"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "email");
    assert_no_account_created(users(&app).await, before, 0);
}

async fn a_whole_number_written_with_a_fraction_is_an_integer(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Floaty", "OM").await;
    let products = app
        .get("/api/shop/products?club=OM")
        .send()
        .await
        .expect(200)
        .body;
    let scarf = &products["products"][0]["id"];
    let r = app
        .post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": scarf, "quantity": 2.0}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["cart"]["items"][0]["quantity"], 2);
    let r = app
        .post("/api/shop/cart/add")
        .token(&fan.token)
        .json(&json!({"productId": scarf, "quantity": 1.5}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "quantity");
}

async fn a_json_value_that_is_not_an_object_is_a_422(engine: Engine) {
    let app = spawn_app(engine).await;
    app.post("/api/auth/login")
        .json(&json!(42))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

async fn a_body_that_is_not_json_is_a_415(engine: Engine) {
    let app = spawn_app(engine).await;
    app.post("/api/auth/login")
        .raw("text/plain", "email=a&password=b")
        .send()
        .await
        .expect_problem(415, "unsupported_media_type");
}

async fn a_body_over_64_kib_is_a_413(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = users(&app).await;
    // Whatever the content.
    let huge = format!(
        "{{\"email\":\"big@example.com\",\"password\":\"long enough pw\",\"name\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    app.post("/api/auth/register")
        .raw("application/json", huge)
        .send()
        .await
        .expect_problem(413, "payload_too_large");
    assert_no_account_created(users(&app).await, before, 0);
}

async fn overlong_names_control_characters_and_absurd_passwords_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = users(&app).await;
    for body in [
        // Long strings within the body limit are validated, not stored.
        json!({"email": "long@example.com", "password": "long enough pw", "name": "é".repeat(101)}),
        // Control characters and absurd passwords.
        json!({"email": "ctl@example.com", "password": "long enough pw", "name": "a\u{0007}b"}),
        json!({"email": "pw@example.com", "password": "p".repeat(129), "name": "P"}),
    ] {
        app.post("/api/auth/register")
            .json(&body)
            .send()
            .await
            .expect_problem(422, "validation_failed");
    }
    assert_no_account_created(users(&app).await, before, 0);
}

async fn unknown_routes_and_wrong_methods_are_problem_details(engine: Engine) {
    let app = spawn_app(engine).await;
    app.get("/api/definitely/not/here")
        .send()
        .await
        .expect_problem(404, "not_found");
    app.req(reqwest::Method::DELETE, "/api/health")
        .send()
        .await
        .expect_problem(405, "method_not_allowed");
    app.req(reqwest::Method::PUT, "/api/auth/login")
        .json(&json!({}))
        .send()
        .await
        .expect_problem(405, "method_not_allowed");
}

// NUL characters (PostgreSQL cannot store them) are refused everywhere.

async fn nul_characters_in_paths_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Nul Tester", "PSG").await;
    for path in [
        "/api/clubs/%00",
        "/api/wallet/transactions/%00",
        "/api/tickets/events?club=a%00b",
        "/api/shop/products/x%00",
    ] {
        app.get(path)
            .token(&fan.token)
            .send()
            .await
            .expect_problem(400, "bad_request");
    }
    app.post("/api/notifications/%00/read")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(400, "bad_request");
}

async fn nul_characters_in_bodies_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = users(&app).await;
    let fan = app.fan("Nul Tester", "PSG").await;
    for body in [
        r#"{"email":"nul@example.com","password":"long enough pw","name":"a\u0000b"}"#,
        r#"{"email":"nul@example.com","password":"long\u0000enough pw","name":"Nul"}"#,
    ] {
        app.post("/api/auth/register")
            .raw("application/json", body)
            .send()
            .await
            .expect_problem(422, "validation_failed");
    }
    app.post("/api/wallet/send")
        .token(&fan.token)
        .raw(
            "application/json",
            r#"{"recipientId":"\u0000","amount":"1.00"}"#,
        )
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_no_account_created(users(&app).await, before, 1);
}

async fn unicode_is_welcome_where_it_is_text(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "ünï@example.com", "password": "mot de passe sûr", "name": "Ngozi 🦁 Ọkàfọ̀"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["user"]["name"], "Ngozi 🦁 Ọkàfọ̀");
}

// Bodies of the wrong JSON or media type.

async fn rename(
    app: &TestApp,
    fan: &Fan,
    content_type: &str,
    body: &'static str,
) -> crate::helpers::Resp {
    app.patch("/api/auth/me")
        .token(&fan.token)
        .raw(content_type, body)
        .send()
        .await
}

async fn a_body_that_is_not_a_json_object_renames_nobody(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Array Sender", "PSG").await;
    // A struct filled from an array's positions once renamed a user.
    for raw in [r#"["Renamed"]"#, "\"Renamed\"", "42", "null", "true"] {
        rename(&app, &fan, "application/json", raw)
            .await
            .expect_problem(422, "validation_failed");
    }
    let me = app
        .get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(me.body["user"]["name"], "Array Sender");
}

async fn only_json_media_types_are_accepted(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Array Sender", "PSG").await;
    // Nothing that merely looks alike.
    for ct in [
        "application/jsonx",
        "application/json-seq",
        "text/json",
        "text/plain",
    ] {
        rename(&app, &fan, ct, r#"{"name":"Renamed"}"#)
            .await
            .expect_problem(415, "unsupported_media_type");
    }
}

async fn json_media_types_are_accepted_in_any_case_and_with_a_charset(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Array Sender", "PSG").await;
    rename(
        &app,
        &fan,
        "application/merge-patch+json",
        r#"{"name":"Patched"}"#,
    )
    .await
    .expect(200);
    rename(
        &app,
        &fan,
        "Application/JSON; charset=utf-8",
        r#"{"name":"Patched Again"}"#,
    )
    .await
    .expect(200);
}

// Who is asking comes first.

async fn without_a_token_a_bad_key_or_body_is_a_401(engine: Engine) {
    let app = spawn_app(engine).await;
    let long = "k".repeat(300);
    for key in ["", "has space", long.as_str()] {
        app.post("/api/wallet/deposit")
            .header("idempotency-key", key)
            .json(&json!({"amount": "-1", "method": "nope"}))
            .send()
            .await
            .expect_problem(401, "unauthorized");
    }
    app.post("/api/wallet/send")
        .header("idempotency-key", "has space")
        .json(&json!({"amount": "x"}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn signed_in_a_bad_key_is_refused_for_what_it_is(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Keyholder", "OL").await;
    app.post("/api/wallet/deposit")
        .token(&fan.token)
        .header("idempotency-key", "has space")
        .json(&json!({"amount": "1.00", "method": "sandbox"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
}

/// Sends raw bytes on a fresh connection and reads the answer (status line
/// and the time it took), as a misbehaving client would.
async fn raw_exchange(
    base: &str,
    request: Vec<u8>,
    then_wait: bool,
) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    // A client that stops half-way may see its connection reset once the
    // server answers: only the answer matters.
    let _ = stream.write_all(&request).await;
    if !then_wait {
        let _ = stream.shutdown().await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, started.elapsed())
}

/// A server that gives a request body 1 s to arrive, and a fan.
async fn impatient_server(engine: Engine) -> (TestApp, Fan) {
    let app = spawn_with(engine, |v| {
        v.insert("BODY_READ_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let fan = app.fan("Honest", "PSG").await;
    (app, fan)
}

/// The head of a transfer announcing a body of `len` bytes.
fn send_head(fan: &Fan, len: &str) -> String {
    format!(
        "POST /api/wallet/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
        fan.token
    )
}

/// Nothing moved, and the server still answers.
async fn still_answering(app: &TestApp, fan: &Fan) {
    let b = app
        .get("/api/wallet/balance")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(b.body["balance"], "0.00");
}

async fn a_huge_announced_body_is_refused_at_once(engine: Engine) {
    let (app, fan) = impatient_server(engine).await;
    // 10 GB announced, 2 bytes sent: refused at once from the header.
    let (status, took) = raw_exchange(
        &app.base,
        [send_head(&fan, "10000000000").as_bytes(), b"{}"].concat(),
        true,
    )
    .await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    still_answering(&app, &fan).await;
}

async fn a_body_shorter_than_announced_times_out_in_seconds(engine: Engine) {
    let (app, fan) = impatient_server(engine).await;
    // 408 after the body timeout, not a request held for the 30 s request
    // timeout.
    let (status, took) = raw_exchange(
        &app.base,
        [send_head(&fan, "100").as_bytes(), b"{\"amount\""].concat(),
        true,
    )
    .await;
    assert!(status.contains(" 408 "), "{status}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    still_answering(&app, &fan).await;
}

async fn a_chunked_body_over_the_limit_is_a_413(engine: Engine) {
    let (app, fan) = impatient_server(engine).await;
    let big = "x".repeat(70 * 1024);
    let chunked = format!(
        "POST /api/wallet/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        fan.token,
        big.len()
    );
    let (status, _) = raw_exchange(&app.base, chunked.into_bytes(), false).await;
    assert!(status.contains(" 413 "), "{status}");
    still_answering(&app, &fan).await;
}

async fn huge_headers_are_refused_before_the_application(engine: Engine) {
    let (app, fan) = impatient_server(engine).await;
    // 100 KB of headers.
    let huge = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "y".repeat(100 * 1024)
    );
    let (status, _) = raw_exchange(&app.base, huge.into_bytes(), false).await;
    assert!(status.contains(" 431 "), "{status}");
    still_answering(&app, &fan).await;
}
