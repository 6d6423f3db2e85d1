use serde_json::json;

use crate::both_engines;
use crate::helpers::{Engine, spawn_app, spawn_with};

both_engines!(
    bad_inputs_get_problem_details_and_change_nothing,
    bodies_of_the_wrong_json_type_or_media_type_change_nothing,
    who_is_asking_is_checked_before_anything_else,
    slow_and_lying_clients_are_cut_off,
);

async fn bad_inputs_get_problem_details_and_change_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let users = || async {
        app.get("/api/stats").send().await.body["users"]
            .as_i64()
            .unwrap()
    };
    let before = users().await;

    // Broken JSON, empty body, trailing garbage: 400.
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
    // Wrong types and missing fields: 422 naming the field.
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
    // A JSON value that is not an object.
    app.post("/api/auth/login")
        .json(&json!(42))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Not JSON at all.
    app.post("/api/auth/login")
        .raw("text/plain", "email=a&password=b")
        .send()
        .await
        .expect_problem(415, "unsupported_media_type");
    // Over 64 KiB: 413, whatever the content.
    let huge = format!(
        "{{\"email\":\"big@example.com\",\"password\":\"long enough pw\",\"name\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    app.post("/api/auth/register")
        .raw("application/json", huge)
        .send()
        .await
        .expect_problem(413, "payload_too_large");
    // Long strings within the body limit are validated, not stored.
    app.post("/api/auth/register")
        .json(&json!({"email": "long@example.com", "password": "long enough pw", "name": "é".repeat(101)}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Control characters and absurd passwords.
    app.post("/api/auth/register")
        .json(&json!({"email": "ctl@example.com", "password": "long enough pw", "name": "a\u{0007}b"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.post("/api/auth/register")
        .json(&json!({"email": "pw@example.com", "password": "p".repeat(129), "name": "P"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Unknown route and wrong method are problem details too.
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

    // NUL characters (PostgreSQL cannot store them) are refused everywhere.
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

    assert_eq!(
        users().await,
        before + 1,
        "no bad request created an account"
    );

    // Unicode is welcome where it is text.
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "ünï@example.com", "password": "mot de passe sûr", "name": "Ngozi 🦁 Ọkàfọ̀"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["user"]["name"], "Ngozi 🦁 Ọkàfọ̀");
}

async fn bodies_of_the_wrong_json_type_or_media_type_change_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Array Sender", "PSG").await;
    // A struct filled from an array's positions once renamed a user.
    for raw in [r#"["Renamed"]"#, "\"Renamed\"", "42", "null", "true"] {
        app.patch("/api/auth/me")
            .token(&fan.token)
            .raw("application/json", raw)
            .send()
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
    // Only JSON media types: nothing that merely looks alike.
    for ct in [
        "application/jsonx",
        "application/json-seq",
        "text/json",
        "text/plain",
    ] {
        app.patch("/api/auth/me")
            .token(&fan.token)
            .raw(ct, r#"{"name":"Renamed"}"#)
            .send()
            .await
            .expect_problem(415, "unsupported_media_type");
    }
    app.patch("/api/auth/me")
        .token(&fan.token)
        .raw("application/merge-patch+json", r#"{"name":"Patched"}"#)
        .send()
        .await
        .expect(200);
    app.patch("/api/auth/me")
        .token(&fan.token)
        .raw(
            "Application/JSON; charset=utf-8",
            r#"{"name":"Patched Again"}"#,
        )
        .send()
        .await
        .expect(200);
}

async fn who_is_asking_is_checked_before_anything_else(engine: Engine) {
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
    // Signed in, the same key is refused for what it is.
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

async fn slow_and_lying_clients_are_cut_off(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("BODY_READ_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let fan = app.fan("Honest", "PSG").await;
    let head = |len: &str| {
        format!(
            "POST /api/wallet/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
            fan.token
        )
    };
    // 10 GB announced, 2 bytes sent: refused at once from the header.
    let (status, took) = raw_exchange(
        &app.base,
        [head("10000000000").as_bytes(), b"{}"].concat(),
        true,
    )
    .await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    // A body shorter than announced: 408 after the body timeout, not a
    // request held for the 30 s request timeout.
    let (status, took) = raw_exchange(
        &app.base,
        [head("100").as_bytes(), b"{\"amount\""].concat(),
        true,
    )
    .await;
    assert!(status.contains(" 408 "), "{status}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    // A chunked body over the limit.
    let big = "x".repeat(70 * 1024);
    let chunked = format!(
        "POST /api/wallet/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        fan.token,
        big.len()
    );
    let (status, _) = raw_exchange(&app.base, chunked.into_bytes(), false).await;
    assert!(status.contains(" 413 "), "{status}");
    // 100 KB of headers: refused before the application sees them.
    let huge = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "y".repeat(100 * 1024)
    );
    let (status, _) = raw_exchange(&app.base, huge.into_bytes(), false).await;
    assert!(status.contains(" 431 "), "{status}");
    // Nothing moved, and the server still answers.
    let b = app
        .get("/api/wallet/balance")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(b.body["balance"], "0.00");
}
