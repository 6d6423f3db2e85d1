//! The live socket: what members receive, resuming after a reconnect or a
//! restart, typing, heartbeats, ended sessions, and delivery across two
//! server processes through Redis.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both_engines;
use crate::helpers::{
    Engine, Fan, TestDb, deposit, free_port, redis_url, server, spawn_app, spawn_with, wait_up,
};
use crate::social::{direct, say};

both_engines!(
    messages_reach_members_live_and_nobody_else,
    the_socket_needs_a_valid_token_and_a_websocket,
    a_client_that_reconnects_gets_what_it_missed_even_after_a_restart,
    notifications_from_other_features_arrive_on_the_socket,
    sockets_follow_their_fan_into_new_conversations,
    typing_reaches_the_other_members_only,
    a_silent_client_is_closed_by_the_heartbeat,
    a_client_that_closes_gets_the_servers_answer,
    an_ended_session_closes_its_sockets,
    a_message_posted_on_one_instance_reaches_a_socket_on_another,
    an_instance_holds_a_bounded_number_of_sockets,
);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Socket(Ws);

fn ws_base(base: &str) -> String {
    base.replacen("http://", "ws://", 1)
}

pub async fn open(base: &str, token: &str, last: Option<&str>) -> Socket {
    let mut url = format!("{}/api/ws?token={token}", ws_base(base));
    if let Some(l) = last {
        url.push_str(&format!("&lastEventId={l}"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket opens");
    Socket(ws)
}

impl Socket {
    /// The next JSON frame (pings are answered by the library).
    pub async fn event(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.0.next())
                .await
                .expect("an event within 5 s")
                .expect("socket open")
                .expect("readable frame");
            match msg {
                WsMessage::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                WsMessage::Close(f) => panic!("socket closed: {f:?}"),
                _ => {}
            }
        }
    }

    /// The next frame of `kind`, skipping others.
    pub async fn event_of(&mut self, kind: &str) -> Value {
        loop {
            let e = self.event().await;
            if e["type"] == kind {
                return e;
            }
        }
    }

    /// What arrives within `ms` (pings aside).
    pub async fn within(&mut self, ms: u64) -> Vec<Value> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.0.next()).await {
            if let WsMessage::Text(t) = msg {
                got.push(serde_json::from_str(&t).expect("JSON frame"));
            }
        }
        got
    }

    pub async fn send(&mut self, v: Value) {
        self.0
            .send(WsMessage::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The close code the server sends within `secs`.
    pub async fn close_code(&mut self, secs: u64) -> Option<u16> {
        self.close_code_pausing(secs, Duration::ZERO).await
    }

    /// As [`close_code`], pausing before each read as a slow client does
    /// (each read also sends the pong owed for a ping read before).
    pub async fn close_code_pausing(&mut self, secs: u64, pause: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            tokio::time::sleep(pause).await;
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Ok(Some(Ok(WsMessage::Close(f)))) => return f.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                other => {
                    eprintln!("socket ended without a close frame: {other:?}");
                    return None;
                }
            }
        }
    }
}

async fn messages_reach_members_live_and_nobody_else(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "WYDAD_AC").await;
    let eve = app.fan("Eve", "WYDAD_AC").await;
    let id = direct(&app, &ana, &ben).await;
    let mut ben_ws = open(&app.base, &ben.token, None).await;
    let mut eve_ws = open(&app.base, &eve.token, None).await;
    let ready = ben_ws.event_of("ready").await;
    assert!(ready["data"]["lastEventId"].is_string());
    eve_ws.event_of("ready").await;

    let sent = say(&app, &ana, &id, "Tu es au stade ?").await;
    let e = ben_ws.event_of("message.created").await;
    assert_eq!(e["data"]["id"], sent["id"]);
    assert_eq!(e["data"]["message"], "Tu es au stade ?");
    assert_eq!(e["data"]["conversationId"], id.as_str());
    assert_eq!(e["data"]["author"]["name"], "Ana");
    assert!(e["id"].as_str().unwrap().parse::<u64>().is_ok(), "{e}");

    // An edit and a deletion follow the message.
    let mid = sent["id"].as_str().unwrap();
    app.req(Method::PATCH, &format!("/api/social/messages/{mid}"))
        .token(&ana.token)
        .json(&json!({"message": "Tu es où ?"}))
        .send()
        .await
        .expect(200);
    let e = ben_ws.event_of("message.updated").await;
    assert_eq!(e["data"]["message"], "Tu es où ?");
    app.req(Method::DELETE, &format!("/api/social/messages/{mid}"))
        .token(&ana.token)
        .send()
        .await
        .expect(204);
    let e = ben_ws.event_of("message.deleted").await;
    assert_eq!(e["data"]["id"], mid);
    // Ben's read marker is a receipt Ana's devices see.
    let mut ana_ws = open(&app.base, &ana.token, None).await;
    ana_ws.event_of("ready").await;
    say(&app, &ana, &id, "ok").await;
    app.post(&format!("/api/social/conversations/{id}/read"))
        .token(&ben.token)
        .send()
        .await
        .expect(200);
    let e = ana_ws.event_of("conversation.read").await;
    assert_eq!(e["data"]["userId"], ben.id.as_str());

    // Eve, not a member, heard nothing of it.
    let heard = eve_ws.within(300).await;
    assert!(heard.is_empty(), "{heard:?}");
}

async fn the_socket_needs_a_valid_token_and_a_websocket(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    app.get("/api/ws")
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/ws?token=not-a-token")
        .send()
        .await
        .expect_problem(401, "unauthorized");
    app.get("/api/ws")
        .token(&ana.token)
        .send()
        .await
        .expect_problem(426, "websocket_required");
    app.get("/api/ws?lastEventId=abc")
        .token(&ana.token)
        .send()
        .await
        .expect_problem(422, "validation_failed");
    // The handshake itself is refused without a valid token.
    let refused =
        tokio_tungstenite::connect_async(format!("{}/api/ws?token=nope", ws_base(&app.base))).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected a 401 handshake, got {other:?}"),
    }
    // Browsers carry the token in the sub-protocol list.
    let mut req = format!("{}/api/ws", ws_base(&app.base))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {}", ana.token).parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.expect("opens");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "bearer");
    let mut s = Socket(ws);
    assert_eq!(s.event_of("ready").await["data"]["userId"], ana.id.as_str());
}

async fn a_client_that_reconnects_gets_what_it_missed_even_after_a_restart(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "COTON_SPORT").await;
    let ben = app.fan("Ben", "COTON_SPORT").await;
    let id = direct(&app, &ana, &ben).await;
    let mut ws = open(&app.base, &ben.token, None).await;
    ws.event_of("ready").await;
    say(&app, &ana, &id, "avant").await;
    let seen = ws.event_of("message.created").await;
    let last = seen["id"].as_str().unwrap().to_owned();
    drop(ws);

    // Away: three messages, and the server restarts.
    for text in ["un", "deux", "trois"] {
        say(&app, &ana, &id, text).await;
    }
    let app = app.restart().await;
    let mut ws = open(&app.base, &ben.token, Some(&last)).await;
    let mut missed = Vec::new();
    let mut ids = Vec::new();
    loop {
        let e = ws.event().await;
        if e["type"] == "ready" {
            break;
        }
        assert_eq!(e["type"], "message.created");
        missed.push(e["data"]["message"].as_str().unwrap().to_owned());
        ids.push(e["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert_eq!(missed, ["un", "deux", "trois"]);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Live delivery goes on after the replay, without repeating it.
    say(&app, &ana, &id, "en direct").await;
    let e = ws.event_of("message.created").await;
    assert_eq!(e["data"]["message"], "en direct");
    let rest = ws.within(300).await;
    assert!(
        rest.iter().all(|e| e["type"] != "message.created"),
        "{rest:?}"
    );
    // Nothing missed: nothing replayed.
    let mut again = open(&app.base, &ben.token, Some(e["id"].as_str().unwrap())).await;
    assert_eq!(again.event().await["type"], "ready");
}

async fn notifications_from_other_features_arrive_on_the_socket(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "OL").await;
    let ben = app.fan("Ben", "OL").await;
    let mut ws = open(&app.base, &ben.token, None).await;
    let ready = ws.event_of("ready").await;
    let before = ready["data"]["lastEventId"].as_str().unwrap().to_owned();
    deposit(&app, &ana, "20.00").await;
    app.post("/api/wallet/send")
        .token(&ana.token)
        .json(&json!({"recipientId": ben.id, "amount": "5.00", "currency": "EUR"}))
        .send()
        .await
        .expect(201);
    let e = ws.event_of("notification.created").await;
    assert_eq!(e["data"]["kind"], "wallet.received");
    // The same notification is in the log for a client that was away.
    drop(ws);
    let mut later = open(&app.base, &ben.token, Some(&before)).await;
    let replayed = later.event_of("notification.created").await;
    assert_eq!(replayed["data"]["id"], e["data"]["id"]);
    assert_eq!(replayed["id"], e["id"]);
}

async fn sockets_follow_their_fan_into_new_conversations(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    let mut ws = open(&app.base, &ben.token, None).await;
    ws.event_of("ready").await;
    let r = app
        .post("/api/social/conversations")
        .token(&ana.token)
        .json(&json!({"type": "group", "participantIds": [ben.id], "name": "Ultras"}))
        .send()
        .await
        .expect(201);
    let id = r.body["conversation"]["id"].as_str().unwrap().to_owned();
    let e = ws.event_of("conversation.joined").await;
    assert_eq!(e["data"]["conversationId"], id.as_str());
    say(&app, &ana, &id, "bienvenue").await;
    assert_eq!(
        ws.event_of("message.created").await["data"]["message"],
        "bienvenue"
    );
    // Removed: the socket stops hearing the group.
    app.req(
        Method::DELETE,
        &format!("/api/social/conversations/{id}/members/{}", ben.id),
    )
    .token(&ana.token)
    .send()
    .await
    .expect(204);
    ws.event_of("conversation.left").await;
    say(&app, &ana, &id, "sans Ben").await;
    let heard = ws.within(300).await;
    assert!(
        heard.iter().all(|e| e["type"] != "message.created"),
        "{heard:?}"
    );
}

async fn typing_reaches_the_other_members_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "COTON_SPORT").await;
    let ben = app.fan("Ben", "COTON_SPORT").await;
    let eve = app.fan("Eve", "COTON_SPORT").await;
    let id = direct(&app, &ana, &ben).await;
    let other = direct(&app, &ben, &eve).await;
    let mut a = open(&app.base, &ana.token, None).await;
    let mut b = open(&app.base, &ben.token, None).await;
    let mut e = open(&app.base, &eve.token, None).await;
    for s in [&mut a, &mut b, &mut e] {
        s.event_of("ready").await;
    }
    a.send(json!({"type": "typing", "conversationId": id}))
        .await;
    let t = b.event_of("typing").await;
    assert_eq!(t["data"]["userId"], ana.id.as_str());
    assert_eq!(t["data"]["name"], "Ana");
    assert!(t["id"].is_null(), "typing is not replayed: {t}");
    // Ana is not in Ben and Eve's conversation: her typing there goes nowhere.
    a.send(json!({"type": "typing", "conversationId": other}))
        .await;
    // An unknown frame is ignored, the socket stays open.
    a.send(json!({"type": "dance"})).await;
    let heard = e.within(300).await;
    assert!(heard.is_empty(), "{heard:?}");
    let heard = b.within(100).await;
    assert!(
        heard
            .iter()
            .all(|x| x["data"]["conversationId"] != other.as_str()),
        "{heard:?}"
    );
    say(&app, &ben, &id, "encore là ?").await;
    a.event_of("message.created").await;
}

async fn a_silent_client_is_closed_by_the_heartbeat(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("WS_HEARTBEAT_MS".into(), "200".into());
    })
    .await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let mut alive = open(&app.base, &ana.token, None).await;
    let mut silent = open(&app.base, &ana.token, None).await;
    alive.event_of("ready").await;
    // Reading answers pings; not reading does not.
    let got = alive.within(1200).await;
    assert!(got.is_empty(), "{got:?}");
    // Pings sent before the close are still owed a pong when the client
    // reads them: the server waits for the client's answer to its close
    // instead of resetting the connection under it.
    // Alive keeps reading (so answering pings) meanwhile.
    let (code, got) = tokio::join!(
        silent.close_code_pausing(3, Duration::from_millis(100)),
        alive.within(600)
    );
    assert_eq!(code, Some(4003));
    assert!(got.is_empty(), "{got:?}");
    let ben = app.fan("Ben", "WYDAD_AC").await;
    let id = direct(&app, &ben, &ana).await;
    say(&app, &ben, &id, "toujours là").await;
    alive.event_of("message.created").await;
}

async fn a_client_that_closes_gets_the_servers_answer(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let mut ws = open(&app.base, &ana.token, None).await;
    ws.event_of("ready").await;
    ws.0.close(None).await.expect("close sent");
    // The closing handshake completes: the server answers the close before
    // it drops the connection (no reset without a close).
    let answer = tokio::time::timeout(Duration::from_secs(3), ws.0.next()).await;
    assert!(
        matches!(answer, Ok(Some(Ok(WsMessage::Close(_))))),
        "{answer:?}"
    );
}

async fn an_ended_session_closes_its_sockets(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let mut ws = open(&app.base, &ana.token, None).await;
    ws.event_of("ready").await;
    app.post("/api/auth/logout")
        .json(&json!({"refreshToken": ana.refresh}))
        .send()
        .await
        .expect(204);
    assert_eq!(ws.close_code(3).await, Some(4001));
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/api/ws?token={}",
        ws_base(&app.base),
        ana.token
    ))
    .await;
    assert!(refused.is_err());
}

/// Two `paiecashfan serve` processes on one database and one Redis, as
/// behind a load balancer: a fan connected to B hears what is posted on A.
async fn a_message_posted_on_one_instance_reaches_a_socket_on_another(engine: Engine) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: cross-instance delivery not tested");
        return;
    };
    let db = TestDb::new(&engine).await;
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", prefix.as_str()),
    ];
    let (pa, pb) = (free_port(), free_port());
    let mut a = server(&db, pa, &env);
    let client = crate::helpers::http_client();
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    wait_up(&client, &base_a).await;
    // B starts once A has migrated and seeded.
    let mut b = server(&db, pb, &env);
    wait_up(&client, &base_b).await;

    let register = |base: String, name: &'static str| {
        let client = client.clone();
        async move {
            let r: Value = client
                .post(format!("{base}/api/auth/register"))
                .json(&json!({
                    "email": format!("{}-{}@example.com", name.to_lowercase(), uuid::Uuid::new_v4().simple()),
                    "password": "correct horse battery", "name": name, "clubId": "WYDAD_AC"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            Fan {
                id: r["user"]["id"].as_str().unwrap().to_owned(),
                token: r["token"].as_str().unwrap().to_owned(),
                refresh: String::new(),
                email: String::new(),
            }
        }
    };
    let ana = register(base_a.clone(), "Ana").await;
    let ben = register(base_b.clone(), "Ben").await;
    let mut on_b = open(&base_b, &ben.token, None).await;
    on_b.event_of("ready").await;
    // Give B's Redis subscription a moment to be in place.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let conv: Value = client
        .post(format!("{base_a}/api/social/conversations"))
        .bearer_auth(&ana.token)
        .json(&json!({"type": "direct", "participantIds": [ben.id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conv["conversation"]["id"].as_str().unwrap();
    // The new conversation reaches B's socket through Redis, then its messages.
    on_b.event_of("conversation.joined").await;
    let r = client
        .post(format!("{base_a}/api/social/messages"))
        .bearer_auth(&ana.token)
        .json(&json!({"conversationId": id, "message": "posté sur A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let e = on_b.event_of("message.created").await;
    assert_eq!(e["data"]["message"], "posté sur A");
    let _ = a.kill().await;
    let _ = b.kill().await;
}

async fn an_instance_holds_a_bounded_number_of_sockets(engine: Engine) {
    // 16 is the smallest MAX_CONNECTIONS the server accepts.
    let app = spawn_with(engine, |v| {
        v.insert("MAX_CONNECTIONS".into(), "16".into());
    })
    .await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let mut open_sockets = Vec::new();
    for _ in 0..16 {
        let mut s = open(&app.base, &ana.token, None).await;
        s.event_of("ready").await;
        open_sockets.push(s);
    }
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!(
            "{}/api/ws?token={}",
            ws_base(&app.base),
            ana.token
        )),
    )
    .await
    .expect("answered, not left waiting");
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    // Plain requests are still served, and a closed socket frees its place.
    app.get("/api/health").send().await.expect(200);
    drop(open_sockets.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(format!(
            "{}/api/ws?token={}",
            ws_base(&app.base),
            ana.token
        ))
        .await
        {
            again = Some(Socket(ws));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    again.expect("a place freed").event_of("ready").await;
}
