use reqwest::Method;
use serde_json::json;

use crate::both_engines;
use crate::helpers::{Engine, TEST_JWT_SECRET, spawn_app, spawn_with};

both_engines!(
    fan_registers_logs_in_and_reads_profile,
    register_rejects_bad_fields_and_duplicates,
    login_gives_same_answer_for_unknown_email_and_wrong_password,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_session,
    forged_and_expired_tokens_are_rejected,
    profile_update_changes_name_and_club,
    accounts_survive_a_restart,
    demo_fan_can_log_in,
    login_and_register_are_rate_limited_per_address_and_account,
    a_double_firing_client_keeps_its_session,
    logout_ends_the_access_token_at_once,
    password_change_ends_every_session,
    admins_end_a_users_sessions,
    a_session_ended_on_one_instance_ends_on_the_other,
    strangers_guessing_cannot_lock_the_owner_out,
);

async fn fan_registers_logs_in_and_reads_profile(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "  Zoe.Martin@Example.COM ", "password": "allez monaco!", "name": "Zoé Martin", "clubId": "AS_MONACO"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["user"]["email"], "zoe.martin@example.com");
    assert_eq!(r.body["user"]["name"], "Zoé Martin");
    assert_eq!(r.body["user"]["clubId"], "AS_MONACO");
    assert_eq!(r.body["user"]["role"], "fan");
    assert_eq!(r.body["tokenType"], "Bearer");
    assert_eq!(r.body["expiresIn"], 900);
    assert!(r.body["refreshToken"].as_str().unwrap().len() >= 40);
    assert!(r.body["user"].get("passwordHash").is_none());
    let token = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);

    let me = app
        .get("/api/auth/me")
        .token(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(me.body["user"]["id"], id.as_str());

    let login = app
        .post("/api/auth/login")
        .json(&json!({"email": "ZOE.MARTIN@example.com", "password": "allez monaco!"}))
        .send()
        .await
        .expect(200);
    assert_eq!(login.body["user"]["id"], id.as_str());
    let me = app
        .get("/api/auth/me")
        .token(login.body["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    assert_eq!(me.body["user"]["email"], "zoe.martin@example.com");
}

async fn register_rejects_bad_fields_and_duplicates(engine: Engine) {
    let app = spawn_app(engine).await;
    let users_before = app.get("/api/stats").send().await.body["users"].clone();

    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "not-an-email", "password": "short", "name": "", "clubId": "NO_SUCH_CLUB"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"email") && fields.contains(&"password") && fields.contains(&"name"),
        "{fields:?}"
    );

    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "a@example.com", "password": "long enough pw", "name": "A", "clubId": "NO_SUCH_CLUB"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "clubId");

    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "a@example.com", "name": "A"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "password");
    assert_eq!(r.body["errors"][0]["code"], "required");

    app.post("/api/auth/register")
        .json(&json!({"email": "dup@example.com", "password": "long enough pw", "name": "First", "clubId": "PSG"}))
        .send()
        .await
        .expect(201);
    app.post("/api/auth/register")
        .json(&json!({"email": "DUP@Example.com", "password": "another password", "name": "Second", "clubId": "OM"}))
        .send()
        .await
        .expect_problem(409, "email_taken");

    // SQL-looking input is just text.
    let r = app
        .post("/api/auth/register")
        .json(&json!({"email": "bobby@example.com", "password": "'; DROP TABLE users; --", "name": "Robert'); DROP TABLE users;--"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.body["user"]["name"], "Robert'); DROP TABLE users;--");
    let users_after = app.get("/api/stats").send().await.body["users"]
        .as_i64()
        .unwrap();
    assert_eq!(users_after, users_before.as_i64().unwrap() + 2);
}

async fn login_gives_same_answer_for_unknown_email_and_wrong_password(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Lina", "OL").await;
    let wrong = app
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "not the password"}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    let unknown = app
        .post("/api/auth/login")
        .json(&json!({"email": "nobody@example.com", "password": "not the password"}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.body["error"], unknown.body["error"]);
}

async fn refresh_rotates_and_reuse_revokes_the_family(engine: Engine) {
    // No grace window: any second use of a refresh token is a theft.
    let app = spawn_with(engine, |v| {
        v.insert("REFRESH_REUSE_GRACE_SECS".into(), "0".into());
    })
    .await;
    let fan = app.fan("Karim", "OM").await;
    let r1 = app
        .post("/api/auth/refresh")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect(200);
    let second = r1.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, fan.refresh);
    app.get("/api/auth/me")
        .token(r1.body["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);

    // The first token was already used: presenting it again looks like theft.
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    // ... so the whole family is gone, including the current token and the
    // session's access token.
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": second}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/auth/me")
        .token(r1.body["token"].as_str().unwrap())
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": "made-up"}))
        .send()
        .await
        .expect_problem(401, "unauthorized");

    // A new login opens a new, independent family.
    let login = app
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(200);
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": login.body["refreshToken"]}))
        .send()
        .await
        .expect(200);
}

async fn logout_revokes_the_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Ines", "PSG").await;
    app.post("/api/auth/logout")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect(204);
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    // Logging out twice is harmless.
    app.post("/api/auth/logout")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect(204);
}

async fn forged_and_expired_tokens_are_rejected(engine: Engine) {
    use base64::Engine as _;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let app = spawn_app(engine).await;
    let fan = app.fan("Eve", "PSG").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64| json!({"sub": fan.id, "role": "admin", "iat": now - 10, "exp": exp});
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(now + 600))
    );
    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(now + 600),
        &EncodingKey::from_secret(b"some other secret some other secret"),
    )
    .unwrap();
    let other_alg = encode(
        &Header::new(Algorithm::HS512),
        &claims(now + 600),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let expired = encode(
        &Header::new(Algorithm::HS256),
        &claims(now - 5),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    // Same secret, valid: proves the forgeries fail for the stated reason.
    let genuine = encode(
        &Header::new(Algorithm::HS256),
        &claims(now + 600),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    app.get("/api/auth/me")
        .token(&genuine)
        .send()
        .await
        .expect(200);

    let mut tampered = fan.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    for bad in [
        alg_none,
        other_secret,
        other_alg,
        expired,
        tampered,
        "garbage".into(),
    ] {
        app.get("/api/auth/me")
            .token(&bad)
            .send()
            .await
            .expect_problem(401, "unauthorized");
    }
    app.get("/api/auth/me")
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/auth/me")
        .header("authorization", &format!("Basic {}", fan.token))
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn profile_update_changes_name_and_club(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Yassine", "PSG").await;
    let r = app
        .patch("/api/auth/me")
        .token(&fan.token)
        .json(&json!({"name": "Yassine B.", "clubId": "WYDAD_AC"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["user"]["name"], "Yassine B.");
    assert_eq!(r.body["user"]["clubId"], "WYDAD_AC");
    app.patch("/api/auth/me")
        .token(&fan.token)
        .json(&json!({"clubId": "NOPE"}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.patch("/api/auth/me")
        .token(&fan.token)
        .json(&json!({"name": ""}))
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // Only the club changes; the name stays.
    let r = app
        .patch("/api/auth/me")
        .token(&fan.token)
        .json(&json!({"clubId": null}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["user"]["name"], "Yassine B.");
    assert!(r.body["user"]["clubId"].is_null());
    let me = app
        .get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    assert_eq!(me.body["user"]["name"], "Yassine B.");
}

async fn accounts_survive_a_restart(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Persist", "OL").await;
    let app2 = app.restart().await;
    let r = app2
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["user"]["id"], fan.id.as_str());
    // Seeding again on the second start did not duplicate anything.
    let clubs = app2.get("/api/clubs").send().await.expect(200);
    let n = clubs.body["clubs"].as_array().unwrap().len();
    assert!(n >= 7, "{n}");
    let stats = app2.get("/api/stats").send().await.expect(200);
    assert_eq!(stats.body["clubs"], n);
    assert_eq!(stats.body["users"], 2, "demo fan + Persist");
}

async fn demo_fan_can_log_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post("/api/auth/login")
        .json(&json!({"email": "demo@paiecashfan.com", "password": "demo123"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["user"]["clubId"], "AS_MONACO");
    let clubs = app.get("/api/clubs").send().await.expect(200);
    let ids: Vec<&str> = clubs.body["clubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in [
        "AS_MONACO",
        "PSG",
        "OL",
        "OM",
        "WYDAD_AC",
        "RAJA_CA",
        "COTON_SPORT",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let monaco = app.get("/api/clubs/AS_MONACO").send().await.expect(200);
    assert_eq!(monaco.body["club"]["currency"], "EUR");
    app.get("/api/clubs/NOPE")
        .send()
        .await
        .expect_problem(404, "not_found");
}

async fn login_and_register_are_rate_limited_per_address_and_account(engine: Engine) {
    let app = spawn_with(engine.clone(), |v| {
        v.insert("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into());
        v.insert("TRUST_FORWARDED_FOR".into(), "true".into());
    })
    .await;
    let attempt = |ip: &'static str, email: &'static str| {
        app.post("/api/auth/login")
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": "wrong password"}))
    };
    // Per address: three different accounts from one address, then blocked.
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        attempt("10.0.0.1", email).send().await.expect(401);
    }
    let r = attempt("10.0.0.1", "d@example.com")
        .send()
        .await
        .expect_problem(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Registration from that address is limited too.
    app.post("/api/auth/register")
        .header("x-forwarded-for", "10.0.0.1")
        .json(&json!({"email": "new@example.com", "password": "long enough pw", "name": "N"}))
        .send()
        .await
        .expect_problem(429, "rate_limited");

    // Per account: one account tried from many addresses.
    for ip in ["10.0.1.1", "10.0.1.2", "10.0.1.3"] {
        attempt(ip, "victim@example.com").send().await.expect(401);
    }
    attempt("10.0.1.4", "victim@example.com")
        .send()
        .await
        .expect_problem(429, "rate_limited");
    // Another account from a fresh address is unaffected.
    attempt("10.0.2.1", "other@example.com")
        .send()
        .await
        .expect(401);

    // Several instances sharing Redis share one allowance.
    if let Some(redis) = crate::helpers::redis_url() {
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let configure = |v: &mut std::collections::HashMap<String, String>| {
            v.insert("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into());
            v.insert("REDIS_URL".into(), redis.clone());
            v.insert("REDIS_PREFIX".into(), prefix.clone());
        };
        let a = spawn_with(engine.clone(), configure).await;
        let b = spawn_with(engine, configure).await;
        let mut statuses = vec![];
        for i in 0..4 {
            let target = if i % 2 == 0 { &a } else { &b };
            let r = target
                .req(Method::POST, "/api/auth/login")
                .json(&json!({"email": "shared@example.com", "password": "wrong password"}))
                .send()
                .await;
            statuses.push(r.status.as_u16());
        }
        assert_eq!(statuses, vec![401, 401, 401, 429]);
        let ready = a.get("/api/health/ready").send().await.expect(200);
        assert_eq!(ready.body["checks"]["redis"], "ok");
    }
}

async fn a_double_firing_client_keeps_its_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Twin Tabs", "PSG").await;
    // Twenty refreshes with one token at once: one exchanges it, the others
    // fall in the grace window and get the very same successor.
    let mut calls = Vec::new();
    for _ in 0..20 {
        let (client, url, refresh) = (
            app.client.clone(),
            format!("{}/api/auth/refresh", app.base),
            fan.refresh.clone(),
        );
        calls.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"refreshToken": refresh}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut successors = std::collections::HashSet::new();
    let mut tokens = Vec::new();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        successors.insert(body["refreshToken"].as_str().unwrap().to_owned());
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1, "one successor for all: {successors:?}");
    for t in &tokens {
        app.get("/api/auth/me").token(t).send().await.expect(200);
    }
    // The session goes on: the successor works, and it is the only one.
    let next = successors.into_iter().next().unwrap();
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": next}))
        .send()
        .await
        .expect(200);
}

async fn logout_ends_the_access_token_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Leaving", "OL").await;
    let other = app
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(200);
    app.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    app.post("/api/auth/logout")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect(204);
    app.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/wallet/balance")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(401, "unauthorized");
    // Another device's session is another session.
    app.get("/api/auth/me")
        .token(other.body["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    // Known after a restart too (loaded from the database).
    let app = app.restart().await;
    app.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn password_change_ends_every_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Careful", "OM").await;
    let phone = app
        .post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(200);
    let change = |current: &str, new: &str| {
        app.post("/api/auth/password")
            .token(&fan.token)
            .json(&json!({"currentPassword": current, "newPassword": new}))
    };
    change("not my password", "a brand new secret")
        .send()
        .await
        .expect_problem(422, "validation_failed");
    change("correct horse battery", "short")
        .send()
        .await
        .expect_problem(422, "validation_failed");
    app.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    let fresh = change("correct horse battery", "a brand new secret")
        .send()
        .await
        .expect(200);
    for old in [&fan.token, phone.body["token"].as_str().unwrap()] {
        app.get("/api/auth/me")
            .token(old)
            .send()
            .await
            .expect_problem(401, "unauthorized");
    }
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": phone.body["refreshToken"]}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/auth/me")
        .token(fresh.body["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    app.post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "correct horse battery"}))
        .send()
        .await
        .expect(401);
    app.post("/api/auth/login")
        .json(&json!({"email": fan.email, "password": "a brand new secret"}))
        .send()
        .await
        .expect(200);
}

async fn admins_end_a_users_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Suspicious", "PSG").await;
    let admin = app.staff(None).await;
    app.post(&format!("/api/admin/users/{}/sessions/revoke", fan.id))
        .token(&fan.token)
        .send()
        .await
        .expect_problem(403, "forbidden");
    let r = app
        .post(&format!("/api/admin/users/{}/sessions/revoke", fan.id))
        .token(&admin.token)
        .send()
        .await
        .expect(200);
    assert_eq!(r.body["revoked"], 1);
    app.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/auth/me")
        .token(&admin.token)
        .send()
        .await
        .expect(200);
}

async fn a_session_ended_on_one_instance_ends_on_the_other(engine: Engine) {
    let Some(redis) = crate::helpers::redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: cross-instance revocation not tested");
        return;
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let a = spawn_with(engine, |v| {
        v.insert("REDIS_URL".into(), redis.clone());
        v.insert("REDIS_PREFIX".into(), prefix.clone());
    })
    .await;
    let b = a.sibling(|_| {}).await;
    let fan = a.fan("Two Doors", "OL").await;
    b.get("/api/auth/me")
        .token(&fan.token)
        .send()
        .await
        .expect(200);
    // Give B's subscription a moment to be in place, then log out on A.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    a.post("/api/auth/logout")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
        .expect(204);
    // Through Redis, well before B's periodic re-read of the database (5 s).
    let started = std::time::Instant::now();
    loop {
        let r = b.get("/api/auth/me").token(&fan.token).send().await;
        if r.status == 401 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1500),
            "B still accepts the token of a session ended on A"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn strangers_guessing_cannot_lock_the_owner_out(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into());
        v.insert("TRUST_FORWARDED_FOR".into(), "true".into());
    })
    .await;
    let fan = app.fan("Targeted", "PSG").await;
    let login = |ip: String, password: &'static str| {
        app.post("/api/auth/login")
            .header("x-forwarded-for", &ip)
            .json(&json!({"email": fan.email, "password": password}))
    };
    // The owner signs in from home once.
    login("10.9.0.1".into(), "correct horse battery")
        .send()
        .await
        .expect(200);
    // A stranger guesses from a new address every time: after the
    // account's allowance for unknown addresses, every guess is refused.
    let mut refused = 0;
    for i in 0..12 {
        let r = login(format!("10.8.{}.{}", i / 200, i % 200 + 1), "guess 1234")
            .send()
            .await;
        match r.status.as_u16() {
            401 => {}
            429 => refused += 1,
            other => panic!("{other}: {}", r.text),
        }
    }
    // At most the account's allowance (3 a minute, shared with its own
    // registration and first sign-in), as before.
    assert!(refused >= 9, "the stranger got {} guesses", 12 - refused);
    // The owner, at home, signs in at the first try during the attack.
    login("10.9.0.1".into(), "correct horse battery")
        .send()
        .await
        .expect(200);
    // A new address of anyone's is still held back for this account.
    login("10.9.0.2".into(), "correct horse battery")
        .send()
        .await
        .expect_problem(429, "rate_limited");
    // A stolen access token cannot guess the password through a password
    // change either.
    for expected in [422, 422, 422, 429] {
        app.post("/api/auth/password")
            .token(&fan.token)
            .json(&json!({"currentPassword": "guess 5678", "newPassword": "whatever it is"}))
            .send()
            .await
            .expect(expected);
    }
    // Guessing from the owner's own address is limited there too (two
    // sign-ins and this guess use up its 3).
    login("10.9.0.1".into(), "wrong guess")
        .send()
        .await
        .expect(401);
    login("10.9.0.1".into(), "correct horse battery")
        .send()
        .await
        .expect_problem(429, "rate_limited");
}
