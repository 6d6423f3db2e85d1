use reqwest::Method;
use serde_json::json;

use crate::both_engines;
use crate::helpers::{Engine, Fan, Resp, TEST_JWT_SECRET, TestApp, spawn_app, spawn_with};

both_engines!(
    // Registering and signing in.
    registration_returns_the_new_fan_and_a_session,
    a_new_fan_reads_their_profile_with_their_token,
    a_fan_logs_in_whatever_the_case_of_their_email,
    registration_names_every_bad_field,
    registration_refuses_an_unknown_club,
    registration_requires_a_password,
    an_email_registers_once_whatever_its_case,
    sql_looking_input_is_just_text,
    only_accepted_registrations_create_accounts,
    login_gives_same_answer_for_unknown_email_and_wrong_password,
    // Sessions.
    a_refresh_gives_a_new_pair_of_tokens,
    reusing_a_spent_refresh_token_ends_the_whole_session,
    a_made_up_refresh_token_is_refused,
    a_new_login_after_a_theft_opens_a_fresh_session,
    a_logged_out_refresh_token_is_refused,
    logging_out_twice_is_harmless,
    forged_or_expired_access_tokens_are_refused,
    a_request_without_a_bearer_token_is_refused,
    // Profiles and clubs.
    a_fan_changes_name_and_club,
    a_profile_with_an_unknown_club_or_an_empty_name_is_refused,
    clearing_the_club_keeps_the_name,
    a_fan_logs_in_after_a_restart,
    a_restart_does_not_seed_the_demo_data_twice,
    the_demo_fan_can_log_in,
    the_seven_demo_clubs_are_listed,
    a_club_is_read_by_its_id_and_an_unknown_one_is_404,
    // Rate limits.
    an_address_trying_many_accounts_is_held_back,
    registration_from_a_held_back_address_is_held_back_too,
    an_account_tried_from_many_addresses_is_held_back,
    another_account_from_a_fresh_address_is_unaffected,
    instances_sharing_redis_share_one_allowance,
    // Ending sessions.
    a_double_firing_client_keeps_its_session,
    logging_out_ends_the_access_token_at_once,
    logging_out_on_one_device_leaves_the_others_signed_in,
    a_logged_out_token_stays_refused_after_a_restart,
    a_wrong_current_password_or_a_short_new_one_is_refused,
    a_password_change_ends_every_other_session,
    after_a_password_change_only_the_new_password_logs_in,
    fans_cannot_end_anyones_sessions,
    an_admin_ends_a_fans_sessions,
    a_session_ended_on_one_instance_ends_on_the_other,
    // Guessing.
    a_stranger_guessing_from_new_addresses_is_held_back,
    the_owner_signs_in_from_home_during_an_attack,
    a_new_address_is_held_back_during_an_attack,
    a_stolen_token_cannot_guess_through_a_password_change,
    guessing_from_the_owners_own_address_is_limited_there_too,
);

async fn login(app: &TestApp, email: &str, password: &str) -> Resp {
    app.post("/api/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

async fn me(app: &TestApp, token: &str) -> Resp {
    app.get("/api/auth/me").token(token).send().await
}

async fn refresh(app: &TestApp, refresh_token: &serde_json::Value) -> Resp {
    app.post("/api/auth/refresh")
        .json(&json!({"refreshToken": refresh_token}))
        .send()
        .await
}

async fn logout(app: &TestApp, fan: &Fan) -> Resp {
    app.post("/api/auth/logout")
        .json(&json!({"refreshToken": fan.refresh}))
        .send()
        .await
}

async fn register(app: &TestApp, body: serde_json::Value) -> Resp {
    app.post("/api/auth/register").json(&body).send().await
}

// Registering and signing in.

/// Zoé Martin registers, her e-mail with spaces and capitals.
async fn register_zoe(app: &TestApp) -> Resp {
    register(
        app,
        json!({"email": "  Zoe.Martin@Example.COM ", "password": "allez monaco!", "name": "Zoé Martin", "clubId": "AS_MONACO"}),
    )
    .await
    .expect(201)
}

async fn registration_returns_the_new_fan_and_a_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register_zoe(&app).await;
    assert_eq!(r.body["user"]["email"], "zoe.martin@example.com");
    assert_eq!(r.body["user"]["name"], "Zoé Martin");
    assert_eq!(r.body["user"]["clubId"], "AS_MONACO");
    assert_eq!(r.body["user"]["role"], "fan");
    assert_eq!(r.body["tokenType"], "Bearer");
    assert_eq!(r.body["expiresIn"], 900);
    assert!(r.body["refreshToken"].as_str().unwrap().len() >= 40);
    assert!(r.body["user"].get("passwordHash").is_none());
    let id = r.body["user"]["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
}

async fn a_new_fan_reads_their_profile_with_their_token(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register_zoe(&app).await;
    let profile = me(&app, r.body["token"].as_str().unwrap())
        .await
        .expect(200);
    assert_eq!(profile.body["user"]["id"], r.body["user"]["id"]);
}

async fn a_fan_logs_in_whatever_the_case_of_their_email(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register_zoe(&app).await;
    let signed_in = login(&app, "ZOE.MARTIN@example.com", "allez monaco!")
        .await
        .expect(200);
    assert_eq!(signed_in.body["user"]["id"], r.body["user"]["id"]);
    let profile = me(&app, signed_in.body["token"].as_str().unwrap())
        .await
        .expect(200);
    assert_eq!(profile.body["user"]["email"], "zoe.martin@example.com");
}

async fn registration_names_every_bad_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register(
        &app,
        json!({"email": "not-an-email", "password": "short", "name": "", "clubId": "NO_SUCH_CLUB"}),
    )
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
}

async fn registration_refuses_an_unknown_club(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register(
        &app,
        json!({"email": "a@example.com", "password": "long enough pw", "name": "A", "clubId": "NO_SUCH_CLUB"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "clubId");
}

async fn registration_requires_a_password(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register(&app, json!({"email": "a@example.com", "name": "A"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "password");
    assert_eq!(r.body["errors"][0]["code"], "required");
}

async fn register_dup_twice(app: &TestApp) {
    register(
        app,
        json!({"email": "dup@example.com", "password": "long enough pw", "name": "First", "clubId": "PSG"}),
    )
    .await
    .expect(201);
    register(
        app,
        json!({"email": "DUP@Example.com", "password": "another password", "name": "Second", "clubId": "OM"}),
    )
    .await
    .expect_problem(409, "email_taken");
}

async fn an_email_registers_once_whatever_its_case(engine: Engine) {
    let app = spawn_app(engine).await;
    register_dup_twice(&app).await;
}

async fn register_bobby_tables(app: &TestApp) -> Resp {
    register(
        app,
        json!({"email": "bobby@example.com", "password": "'; DROP TABLE users; --", "name": "Robert'); DROP TABLE users;--"}),
    )
    .await
    .expect(201)
}

async fn sql_looking_input_is_just_text(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = register_bobby_tables(&app).await;
    assert_eq!(r.body["user"]["name"], "Robert'); DROP TABLE users;--");
}

async fn users(app: &TestApp) -> i64 {
    app.get("/api/stats").send().await.body["users"]
        .as_i64()
        .unwrap()
}

async fn only_accepted_registrations_create_accounts(engine: Engine) {
    let app = spawn_app(engine).await;
    let users_before = users(&app).await;
    for refused in [
        json!({"email": "not-an-email", "password": "short", "name": "", "clubId": "NO_SUCH_CLUB"}),
        json!({"email": "a@example.com", "password": "long enough pw", "name": "A", "clubId": "NO_SUCH_CLUB"}),
        json!({"email": "a@example.com", "name": "A"}),
    ] {
        register(&app, refused)
            .await
            .expect_problem(422, "validation_failed");
    }
    register_dup_twice(&app).await;
    register_bobby_tables(&app).await;
    assert_eq!(users(&app).await, users_before + 2);
}

async fn login_gives_same_answer_for_unknown_email_and_wrong_password(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Lina", "OL").await;
    let wrong = login(&app, &fan.email, "not the password")
        .await
        .expect_problem(401, "unauthorized");
    let unknown = login(&app, "nobody@example.com", "not the password")
        .await
        .expect_problem(401, "unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.body["error"], unknown.body["error"]);
}

// Sessions.

/// No grace window: any second use of a refresh token is a theft.
async fn without_grace(engine: Engine) -> TestApp {
    spawn_with(engine, |v| {
        v.insert("REFRESH_REUSE_GRACE_SECS".into(), "0".into());
    })
    .await
}

/// Karim, who exchanged his first refresh token: (Karim, the exchange).
async fn refreshed_once(app: &TestApp) -> (Fan, Resp) {
    let fan = app.fan("Karim", "OM").await;
    let r1 = refresh(app, &json!(fan.refresh)).await.expect(200);
    (fan, r1)
}

async fn a_refresh_gives_a_new_pair_of_tokens(engine: Engine) {
    let app = without_grace(engine).await;
    let (fan, r1) = refreshed_once(&app).await;
    let second = r1.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, fan.refresh);
    me(&app, r1.body["token"].as_str().unwrap())
        .await
        .expect(200);
}

async fn reusing_a_spent_refresh_token_ends_the_whole_session(engine: Engine) {
    let app = without_grace(engine).await;
    let (fan, r1) = refreshed_once(&app).await;
    // The first token was already used: presenting it again looks like theft.
    refresh(&app, &json!(fan.refresh))
        .await
        .expect_problem(401, "unauthorized");
    // ... so the whole family is gone, including the current token and the
    // session's access token.
    refresh(&app, &r1.body["refreshToken"])
        .await
        .expect_problem(401, "unauthorized");
    me(&app, r1.body["token"].as_str().unwrap())
        .await
        .expect_problem(401, "unauthorized");
}

async fn a_made_up_refresh_token_is_refused(engine: Engine) {
    let app = without_grace(engine).await;
    refresh(&app, &json!("made-up"))
        .await
        .expect_problem(401, "unauthorized");
}

async fn a_new_login_after_a_theft_opens_a_fresh_session(engine: Engine) {
    let app = without_grace(engine).await;
    let (fan, _) = refreshed_once(&app).await;
    refresh(&app, &json!(fan.refresh))
        .await
        .expect_problem(401, "unauthorized");
    // A new login opens a new, independent family.
    let signed_in = login(&app, &fan.email, "correct horse battery")
        .await
        .expect(200);
    refresh(&app, &signed_in.body["refreshToken"])
        .await
        .expect(200);
}

async fn a_logged_out_refresh_token_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Ines", "PSG").await;
    logout(&app, &fan).await.expect(204);
    refresh(&app, &json!(fan.refresh))
        .await
        .expect_problem(401, "unauthorized");
}

async fn logging_out_twice_is_harmless(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Ines", "PSG").await;
    logout(&app, &fan).await.expect(204);
    logout(&app, &fan).await.expect(204);
}

/// Access tokens for `fan` that the server never signed as they are, and
/// (first) a genuine one made with the server's secret and algorithm.
fn forgeries(fan: &Fan) -> (String, Vec<String>) {
    use base64::Engine as _;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64| json!({"sub": fan.id, "role": "admin", "iat": now - 10, "exp": exp});
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let sign = |alg: Algorithm, exp: i64, secret: &[u8]| {
        encode(
            &Header::new(alg),
            &claims(exp),
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let genuine = sign(Algorithm::HS256, now + 600, TEST_JWT_SECRET.as_bytes());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(now + 600))
    );
    let other_secret = sign(
        Algorithm::HS256,
        now + 600,
        b"some other secret some other secret",
    );
    let other_alg = sign(Algorithm::HS512, now + 600, TEST_JWT_SECRET.as_bytes());
    let expired = sign(Algorithm::HS256, now - 5, TEST_JWT_SECRET.as_bytes());
    let mut tampered = fan.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let forged = vec![
        alg_none,
        other_secret,
        other_alg,
        expired,
        tampered,
        "garbage".into(),
    ];
    (genuine, forged)
}

async fn forged_or_expired_access_tokens_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Eve", "PSG").await;
    let (genuine, forged) = forgeries(&fan);
    // Same secret, valid: proves the forgeries fail for the stated reason.
    me(&app, &genuine).await.expect(200);
    for bad in forged {
        me(&app, &bad).await.expect_problem(401, "unauthorized");
    }
}

async fn a_request_without_a_bearer_token_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Eve", "PSG").await;
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

// Profiles and clubs.

async fn update_profile(app: &TestApp, fan: &Fan, body: serde_json::Value) -> Resp {
    app.patch("/api/auth/me")
        .token(&fan.token)
        .json(&body)
        .send()
        .await
}

/// Yassine, a PSG fan who became "Yassine B." of Wydad: (fan, the answer).
async fn yassine_moves_to_wydad(app: &TestApp) -> (Fan, Resp) {
    let fan = app.fan("Yassine", "PSG").await;
    let r = update_profile(
        app,
        &fan,
        json!({"name": "Yassine B.", "clubId": "WYDAD_AC"}),
    )
    .await
    .expect(200);
    (fan, r)
}

async fn a_fan_changes_name_and_club(engine: Engine) {
    let app = spawn_app(engine).await;
    let (_, r) = yassine_moves_to_wydad(&app).await;
    assert_eq!(r.body["user"]["name"], "Yassine B.");
    assert_eq!(r.body["user"]["clubId"], "WYDAD_AC");
}

async fn a_profile_with_an_unknown_club_or_an_empty_name_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = yassine_moves_to_wydad(&app).await;
    update_profile(&app, &fan, json!({"clubId": "NOPE"}))
        .await
        .expect_problem(422, "validation_failed");
    update_profile(&app, &fan, json!({"name": ""}))
        .await
        .expect_problem(422, "validation_failed");
}

async fn clearing_the_club_keeps_the_name(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = yassine_moves_to_wydad(&app).await;
    // Only the club changes; the name stays.
    let r = update_profile(&app, &fan, json!({"clubId": null}))
        .await
        .expect(200);
    assert_eq!(r.body["user"]["name"], "Yassine B.");
    assert!(r.body["user"]["clubId"].is_null());
    let profile = me(&app, &fan.token).await.expect(200);
    assert_eq!(profile.body["user"]["name"], "Yassine B.");
}

async fn a_fan_logs_in_after_a_restart(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Persist", "OL").await;
    let app2 = app.restart().await;
    let r = login(&app2, &fan.email, "correct horse battery")
        .await
        .expect(200);
    assert_eq!(r.body["user"]["id"], fan.id.as_str());
}

async fn a_restart_does_not_seed_the_demo_data_twice(engine: Engine) {
    let app = spawn_app(engine).await;
    app.fan("Persist", "OL").await;
    let before = app.get("/api/stats").send().await.expect(200).body;
    let app2 = app.restart().await;
    let clubs = app2.get("/api/clubs").send().await.expect(200);
    let n = clubs.body["clubs"].as_array().unwrap().len();
    assert!(n >= 7, "{n}");
    let stats = app2.get("/api/stats").send().await.expect(200);
    assert_eq!(stats.body["clubs"], n);
    // The demo fan, the gate staff, the demo chat's supporters and club
    // staff, and Persist.
    assert_eq!(stats.body["users"], before["users"]);
    assert_eq!(stats.body["users"], 11);
}

async fn the_demo_fan_can_log_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = login(&app, "demo@paiecashfan.com", "demo123")
        .await
        .expect(200);
    assert_eq!(r.body["user"]["clubId"], "AS_MONACO");
}

async fn the_seven_demo_clubs_are_listed(engine: Engine) {
    let app = spawn_app(engine).await;
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
}

async fn a_club_is_read_by_its_id_and_an_unknown_one_is_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let monaco = app.get("/api/clubs/AS_MONACO").send().await.expect(200);
    assert_eq!(monaco.body["club"]["currency"], "EUR");
    app.get("/api/clubs/NOPE")
        .send()
        .await
        .expect_problem(404, "not_found");
}

// Rate limits.

/// Three attempts a minute, and the client's address taken from
/// `X-Forwarded-For`.
async fn strict_app(engine: Engine) -> TestApp {
    spawn_with(engine, |v| {
        v.insert("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into());
        v.insert("TRUST_FORWARDED_FOR".into(), "true".into());
    })
    .await
}

/// A wrong password for `email`, from `ip`.
async fn attempt(app: &TestApp, ip: &str, email: &str) -> Resp {
    app.post("/api/auth/login")
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": "wrong password"}))
        .send()
        .await
}

/// Three different accounts tried from 10.0.0.1: its allowance.
async fn three_accounts_from_one_address(app: &TestApp) {
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        attempt(app, "10.0.0.1", email).await.expect(401);
    }
}

/// One account tried from three addresses: its allowance.
async fn victim_from_three_addresses(app: &TestApp) {
    for ip in ["10.0.1.1", "10.0.1.2", "10.0.1.3"] {
        attempt(app, ip, "victim@example.com").await.expect(401);
    }
}

async fn an_address_trying_many_accounts_is_held_back(engine: Engine) {
    let app = strict_app(engine).await;
    three_accounts_from_one_address(&app).await;
    let r = attempt(&app, "10.0.0.1", "d@example.com")
        .await
        .expect_problem(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

async fn registration_from_a_held_back_address_is_held_back_too(engine: Engine) {
    let app = strict_app(engine).await;
    three_accounts_from_one_address(&app).await;
    app.post("/api/auth/register")
        .header("x-forwarded-for", "10.0.0.1")
        .json(&json!({"email": "new@example.com", "password": "long enough pw", "name": "N"}))
        .send()
        .await
        .expect_problem(429, "rate_limited");
}

async fn an_account_tried_from_many_addresses_is_held_back(engine: Engine) {
    let app = strict_app(engine).await;
    victim_from_three_addresses(&app).await;
    attempt(&app, "10.0.1.4", "victim@example.com")
        .await
        .expect_problem(429, "rate_limited");
}

async fn another_account_from_a_fresh_address_is_unaffected(engine: Engine) {
    let app = strict_app(engine).await;
    three_accounts_from_one_address(&app).await;
    victim_from_three_addresses(&app).await;
    attempt(&app, "10.0.1.4", "victim@example.com")
        .await
        .expect_problem(429, "rate_limited");
    attempt(&app, "10.0.2.1", "other@example.com")
        .await
        .expect(401);
}

async fn instances_sharing_redis_share_one_allowance(engine: Engine) {
    let Some(redis) = crate::helpers::redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: the shared allowance is not tested");
        return;
    };
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

// Ending sessions.

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
        me(&app, t).await.expect(200);
    }
    // The session goes on: the successor works, and it is the only one.
    let next = successors.into_iter().next().unwrap();
    refresh(&app, &json!(next)).await.expect(200);
}

/// A fan signed in on two devices: (fan, the other device's sign-in).
async fn on_two_devices(app: &TestApp) -> (Fan, Resp) {
    let fan = app.fan("Leaving", "OL").await;
    let other = login(app, &fan.email, "correct horse battery")
        .await
        .expect(200);
    (fan, other)
}

async fn logging_out_ends_the_access_token_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = on_two_devices(&app).await;
    me(&app, &fan.token).await.expect(200);
    logout(&app, &fan).await.expect(204);
    me(&app, &fan.token)
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/wallet/balance")
        .token(&fan.token)
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn logging_out_on_one_device_leaves_the_others_signed_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, other) = on_two_devices(&app).await;
    logout(&app, &fan).await.expect(204);
    // Another device's session is another session.
    me(&app, other.body["token"].as_str().unwrap())
        .await
        .expect(200);
}

async fn a_logged_out_token_stays_refused_after_a_restart(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _) = on_two_devices(&app).await;
    logout(&app, &fan).await.expect(204);
    // Known after a restart too (loaded from the database).
    let app = app.restart().await;
    me(&app, &fan.token)
        .await
        .expect_problem(401, "unauthorized");
}

async fn change_password(app: &TestApp, fan: &Fan, current: &str, new: &str) -> Resp {
    app.post("/api/auth/password")
        .token(&fan.token)
        .json(&json!({"currentPassword": current, "newPassword": new}))
        .send()
        .await
}

/// A fan, signed in on a phone too, who changes their password: (fan, the
/// phone's sign-in, the change's answer).
async fn password_changed(app: &TestApp) -> (Fan, Resp, Resp) {
    let fan = app.fan("Careful", "OM").await;
    let phone = login(app, &fan.email, "correct horse battery")
        .await
        .expect(200);
    let fresh = change_password(app, &fan, "correct horse battery", "a brand new secret")
        .await
        .expect(200);
    (fan, phone, fresh)
}

async fn a_wrong_current_password_or_a_short_new_one_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Careful", "OM").await;
    change_password(&app, &fan, "not my password", "a brand new secret")
        .await
        .expect_problem(422, "validation_failed");
    change_password(&app, &fan, "correct horse battery", "short")
        .await
        .expect_problem(422, "validation_failed");
    me(&app, &fan.token).await.expect(200);
}

async fn a_password_change_ends_every_other_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, phone, fresh) = password_changed(&app).await;
    for old in [&fan.token, phone.body["token"].as_str().unwrap()] {
        me(&app, old).await.expect_problem(401, "unauthorized");
    }
    refresh(&app, &phone.body["refreshToken"])
        .await
        .expect_problem(401, "unauthorized");
    me(&app, fresh.body["token"].as_str().unwrap())
        .await
        .expect(200);
}

async fn after_a_password_change_only_the_new_password_logs_in(engine: Engine) {
    let app = spawn_app(engine).await;
    let (fan, _, _) = password_changed(&app).await;
    login(&app, &fan.email, "correct horse battery")
        .await
        .expect(401);
    login(&app, &fan.email, "a brand new secret")
        .await
        .expect(200);
}

async fn revoke_sessions(app: &TestApp, of: &Fan, by: &Fan) -> Resp {
    app.post(&format!("/api/admin/users/{}/sessions/revoke", of.id))
        .token(&by.token)
        .send()
        .await
}

async fn fans_cannot_end_anyones_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Suspicious", "PSG").await;
    revoke_sessions(&app, &fan, &fan)
        .await
        .expect_problem(403, "forbidden");
}

async fn an_admin_ends_a_fans_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    let fan = app.fan("Suspicious", "PSG").await;
    let admin = app.staff(None).await;
    let r = revoke_sessions(&app, &fan, &admin).await.expect(200);
    assert_eq!(r.body["revoked"], 1);
    me(&app, &fan.token)
        .await
        .expect_problem(401, "unauthorized");
    me(&app, &admin.token).await.expect(200);
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
    me(&b, &fan.token).await.expect(200);
    // Give B's subscription a moment to be in place, then log out on A.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    logout(&a, &fan).await.expect(204);
    // Through Redis, well before B's periodic re-read of the database (5 s).
    let started = std::time::Instant::now();
    loop {
        let r = me(&b, &fan.token).await;
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

// Guessing.

async fn login_from(app: &TestApp, fan: &Fan, ip: &str, password: &str) -> Resp {
    app.post("/api/auth/login")
        .header("x-forwarded-for", ip)
        .json(&json!({"email": fan.email, "password": password}))
        .send()
        .await
}

/// The owner signs in from home (10.9.0.1) once; then a stranger guesses
/// twelve times, from a new address every time: how many were refused.
async fn attack(app: &TestApp, fan: &Fan) -> usize {
    login_from(app, fan, "10.9.0.1", "correct horse battery")
        .await
        .expect(200);
    let mut refused = 0;
    for i in 0..12 {
        let ip = format!("10.8.{}.{}", i / 200, i % 200 + 1);
        let r = login_from(app, fan, &ip, "guess 1234").await;
        match r.status.as_u16() {
            401 => {}
            429 => refused += 1,
            other => panic!("{other}: {}", r.text),
        }
    }
    refused
}

async fn a_stranger_guessing_from_new_addresses_is_held_back(engine: Engine) {
    let app = strict_app(engine).await;
    let fan = app.fan("Targeted", "PSG").await;
    // After the account's allowance for unknown addresses, every guess is
    // refused: at most that allowance (3 a minute, shared with its own
    // registration and first sign-in), as before.
    let refused = attack(&app, &fan).await;
    assert!(refused >= 9, "the stranger got {} guesses", 12 - refused);
}

async fn the_owner_signs_in_from_home_during_an_attack(engine: Engine) {
    let app = strict_app(engine).await;
    let fan = app.fan("Targeted", "PSG").await;
    attack(&app, &fan).await;
    // At the first try.
    login_from(&app, &fan, "10.9.0.1", "correct horse battery")
        .await
        .expect(200);
}

async fn a_new_address_is_held_back_during_an_attack(engine: Engine) {
    let app = strict_app(engine).await;
    let fan = app.fan("Targeted", "PSG").await;
    attack(&app, &fan).await;
    // A new address of anyone's is still held back for this account.
    login_from(&app, &fan, "10.9.0.2", "correct horse battery")
        .await
        .expect_problem(429, "rate_limited");
}

async fn a_stolen_token_cannot_guess_through_a_password_change(engine: Engine) {
    let app = strict_app(engine).await;
    let fan = app.fan("Targeted", "PSG").await;
    for expected in [422, 422, 422, 429] {
        change_password(&app, &fan, "guess 5678", "whatever it is")
            .await
            .expect(expected);
    }
}

async fn guessing_from_the_owners_own_address_is_limited_there_too(engine: Engine) {
    let app = strict_app(engine).await;
    let fan = app.fan("Targeted", "PSG").await;
    attack(&app, &fan).await;
    login_from(&app, &fan, "10.9.0.1", "correct horse battery")
        .await
        .expect(200);
    // Two sign-ins and this guess use up the address's 3.
    login_from(&app, &fan, "10.9.0.1", "wrong guess")
        .await
        .expect(401);
    login_from(&app, &fan, "10.9.0.1", "correct horse battery")
        .await
        .expect_problem(429, "rate_limited");
}
