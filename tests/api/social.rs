//! Fan chat and feed through HTTP: conversations, messages, read markers,
//! posts, likes, comments, follows, blocks and moderation. The demo clubs
//! AS_MONACO, PSG, OL and OM have demo posts and rooms, so scenarios that
//! count things use the other clubs.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Engine, Fan, Resp, TestApp, spawn_app, spawn_with};

both_engines!(
    v1_routes_keep_v1_shapes,
    a_direct_conversation_is_found_again_whoever_asks,
    a_conversation_does_not_exist_for_non_members,
    group_owners_add_and_remove_and_a_leaving_owner_hands_over,
    club_rooms_are_joined_and_left,
    history_pages_are_newest_first_and_stable_while_messages_arrive,
    unread_counts_follow_messages_and_read_markers,
    authors_edit_and_delete_their_own_messages,
    bad_conversations_and_messages_are_refused,
    posting_is_rate_limited_per_fan,
    a_blocked_fan_cannot_reach_me_and_their_posts_leave_my_feed,
    the_feed_shows_my_club_and_what_i_follow_with_likes_and_comments,
    lively_posts_rise_and_the_feed_pages_by_cursor,
    staff_hide_reported_content_of_their_club_only,
    posts_are_checked_and_club_posts_need_staff,
);

async fn call(app: &TestApp, method: Method, path: &str, who: &Fan, body: Option<Value>) -> Resp {
    let mut r = app.req(method, path).token(&who.token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await
}

pub async fn direct(app: &TestApp, a: &Fan, b: &Fan) -> String {
    let r = call(
        app,
        Method::POST,
        "/api/social/conversations",
        a,
        Some(json!({"type": "direct", "participantIds": [b.id]})),
    )
    .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    r.body["conversation"]["id"].as_str().unwrap().to_owned()
}

pub async fn say(app: &TestApp, who: &Fan, conversation: &str, text: &str) -> Value {
    call(
        app,
        Method::POST,
        "/api/social/messages",
        who,
        Some(json!({"conversationId": conversation, "message": text})),
    )
    .await
    .expect(201)
    .body["data"]
        .clone()
}

async fn conversation(app: &TestApp, who: &Fan, id: &str) -> Resp {
    call(
        app,
        Method::GET,
        &format!("/api/social/conversations/{id}"),
        who,
        None,
    )
    .await
}

async fn page(app: &TestApp, who: &Fan, id: &str, query: &str) -> Resp {
    call(
        app,
        Method::GET,
        &format!("/api/social/conversations/{id}/messages?{query}"),
        who,
        None,
    )
    .await
}

async fn feed(app: &TestApp, who: &Fan, query: &str) -> Value {
    call(
        app,
        Method::GET,
        &format!("/api/social/feed?{query}"),
        who,
        None,
    )
    .await
    .expect(200)
    .body
}

async fn post(app: &TestApp, who: &Fan, body: Value) -> Value {
    call(app, Method::POST, "/api/social/posts", who, Some(body))
        .await
        .expect(201)
        .body["post"]
        .clone()
}

fn contents(feed: &Value) -> Vec<String> {
    feed["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content"].as_str().unwrap().to_owned())
        .collect()
}

async fn v1_routes_keep_v1_shapes(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana Costa", "AS_MONACO").await;
    let ben = app.fan("Ben Roy", "AS_MONACO").await;
    let id = direct(&app, &ana, &ben).await;

    let r = call(
        &app,
        Method::POST,
        "/api/social/messages",
        &ana,
        Some(json!({"conversationId": id, "message": "Allez Monaco !"})),
    )
    .await
    .expect(201);
    assert_eq!(r.body["message"], "Message envoyé");
    let data = &r.body["data"];
    for field in ["id", "conversationId", "userId", "message", "timestamp"] {
        assert!(data[field].is_string(), "{field}: {}", r.text);
    }
    assert_eq!(data["conversationId"], id.as_str());
    assert_eq!(data["userId"], ana.id.as_str());
    assert_eq!(data["message"], "Allez Monaco !");
    assert_eq!(data["read"], false);

    let r = call(&app, Method::GET, "/api/social/conversations", &ben, None)
        .await
        .expect(200);
    let c = r.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("the new conversation is listed");
    let mut participants: Vec<&str> = c["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    participants.sort();
    let mut expected = vec![ana.id.as_str(), ben.id.as_str()];
    expected.sort();
    assert_eq!(participants, expected);
    assert_eq!(c["lastMessage"]["message"], "Allez Monaco !");
    assert_eq!(c["unreadCount"], 1);

    // The demo club's posts are in a Monaco fan's feed, v1.0 fields first.
    let f = feed(&app, &ben, "page=1&limit=10").await;
    assert_eq!(f["page"], 1);
    assert!(f["total"].as_i64().unwrap() >= 1, "{f}");
    let item = &f["feed"][0];
    for field in ["id", "type", "content", "timestamp"] {
        assert!(item[field].is_string(), "{field}: {f}");
    }
    for field in ["id", "name", "avatar"] {
        assert!(item["author"][field].is_string(), "author.{field}: {f}");
    }
    assert!(item["likes"].is_i64() && item["comments"].is_i64());
    assert_eq!(item["type"], "club");
    assert_eq!(item["author"]["id"], "AS_MONACO");

    // The avatar is a picture anyone (an <img>) can load.
    let avatar = app
        .get(item["author"]["avatar"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    assert_eq!(avatar.headers["content-type"], "image/svg+xml");
    assert!(avatar.text.contains("<svg"));
}

async fn a_direct_conversation_is_found_again_whoever_asks(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "WYDAD_AC").await;
    let body = json!({"type": "direct", "participantIds": [ben.id]});
    let first = call(
        &app,
        Method::POST,
        "/api/social/conversations",
        &ana,
        Some(body.clone()),
    )
    .await
    .expect(201);
    let again = call(
        &app,
        Method::POST,
        "/api/social/conversations",
        &ana,
        Some(body),
    )
    .await
    .expect(200);
    let reverse = call(
        &app,
        Method::POST,
        "/api/social/conversations",
        &ben,
        Some(json!({"type": "direct", "participantIds": [ana.id]})),
    )
    .await
    .expect(200);
    let id = &first.body["conversation"]["id"];
    assert_eq!(&again.body["conversation"]["id"], id);
    assert_eq!(&reverse.body["conversation"]["id"], id);
    assert_eq!(first.body["conversation"]["type"], "direct");
    assert_eq!(first.body["conversation"]["memberCount"], 2);
    // Ten at once still make one.
    let cara = app.fan("Cara", "WYDAD_AC").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (client, base, token, other) = (
            app.client.clone(),
            app.base.clone(),
            cara.token.clone(),
            ana.id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/api/social/conversations"))
                .bearer_auth(token)
                .json(&json!({"type": "direct", "participantIds": [other]}))
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            v["conversation"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(!ids[0].is_empty());
}

async fn a_conversation_does_not_exist_for_non_members(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    let eve = app.fan("Eve", "RAJA_CA").await;
    let id = direct(&app, &ana, &ben).await;
    let msg = say(&app, &ana, &id, "entre nous").await;
    let mid = msg["id"].as_str().unwrap();

    conversation(&app, &eve, &id)
        .await
        .expect_problem(404, "not_found");
    page(&app, &eve, &id, "")
        .await
        .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        "/api/social/messages",
        &eve,
        Some(json!({"conversationId": id, "message": "coucou"})),
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/read"),
        &eve,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::PATCH,
        &format!("/api/social/messages/{mid}"),
        &eve,
        Some(json!({"message": "hacked"})),
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/messages/{mid}"),
        &eve,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{mid}/report"),
        &eve,
        Some(json!({"reason": "spam"})),
    )
    .await
    .expect_problem(404, "not_found");
    // Nothing of it shows in Eve's list, and nothing changed for the members.
    let list = call(&app, Method::GET, "/api/social/conversations", &eve, None)
        .await
        .expect(200);
    assert!(!list.text.contains(&id));
    let p = page(&app, &ben, &id, "").await.expect(200);
    assert_eq!(p.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(p.body["messages"][0]["message"], "entre nous");
    // Not a member of anything: a random id reads the same as a real one.
    conversation(&app, &eve, "01900000-0000-7000-8000-000000000000")
        .await
        .expect_problem(404, "not_found");
}

async fn group_owners_add_and_remove_and_a_leaving_owner_hands_over(engine: Engine) {
    let app = spawn_app(engine).await;
    let owner = app.fan("Olga", "COTON_SPORT").await;
    let ben = app.fan("Ben", "COTON_SPORT").await;
    let cara = app.fan("Cara", "COTON_SPORT").await;
    let dan = app.fan("Dan", "COTON_SPORT").await;
    let r = call(
        &app,
        Method::POST,
        "/api/social/conversations",
        &owner,
        Some(json!({"type": "group", "participantIds": [ben.id, cara.id], "name": "  Déplacement à Garoua "})),
    )
    .await
    .expect(201);
    let g = r.body["conversation"].clone();
    let id = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["type"], "group");
    assert_eq!(g["name"], "Déplacement à Garoua");
    assert_eq!(g["ownerId"], owner.id.as_str());
    assert_eq!(g["memberCount"], 3);

    // Only the owner adds.
    call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/members"),
        &ben,
        Some(json!({"userId": dan.id})),
    )
    .await
    .expect_problem(403, "forbidden");
    conversation(&app, &dan, &id)
        .await
        .expect_problem(404, "not_found");
    let r = call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/members"),
        &owner,
        Some(json!({"userId": dan.id})),
    )
    .await
    .expect(200);
    assert_eq!(r.body["conversation"]["memberCount"], 4);
    conversation(&app, &dan, &id).await.expect(200);
    say(&app, &dan, &id, "Merci pour l'invitation").await;

    // Only the owner removes others; a removed member is out.
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/conversations/{id}/members/{}", dan.id),
        &ben,
        None,
    )
    .await
    .expect_problem(403, "forbidden");
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/conversations/{id}/members/{}", dan.id),
        &owner,
        None,
    )
    .await
    .expect(204);
    conversation(&app, &dan, &id)
        .await
        .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        "/api/social/messages",
        &dan,
        Some(json!({"conversationId": id, "message": "encore moi"})),
    )
    .await
    .expect_problem(404, "not_found");

    // The owner leaves: the longest-standing member owns the group now.
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/conversations/{id}/members/{}", owner.id),
        &owner,
        None,
    )
    .await
    .expect(204);
    let g = conversation(&app, &ben, &id).await.expect(200).body["conversation"].clone();
    assert_eq!(g["memberCount"], 2);
    let new_owner = g["ownerId"].as_str().unwrap();
    assert!(new_owner == ben.id || new_owner == cara.id, "{g}");
    assert_ne!(new_owner, owner.id);
}

async fn club_rooms_are_joined_and_left(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    let r = call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &ana,
        None,
    )
    .await
    .expect(200);
    let room = r.body["conversation"].clone();
    assert_eq!(room["type"], "club");
    assert_eq!(room["clubId"], "WYDAD_AC");
    assert_eq!(room["name"], "Wydad AC");
    let id = room["id"].as_str().unwrap().to_owned();
    // Not joined yet: the room is not Ben's to read.
    page(&app, &ben, &id, "")
        .await
        .expect_problem(404, "not_found");
    let again = call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &ben,
        None,
    )
    .await
    .expect(200);
    assert_eq!(again.body["conversation"]["id"], id.as_str());
    assert_eq!(again.body["conversation"]["memberCount"], 2);
    // Joining twice changes nothing.
    let twice = call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &ben,
        None,
    )
    .await
    .expect(200);
    assert_eq!(twice.body["conversation"]["memberCount"], 2);
    say(&app, &ben, &id, "Salam de la part d'un rajaoui").await;
    call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/leave",
        &ben,
        None,
    )
    .await
    .expect(204);
    page(&app, &ben, &id, "")
        .await
        .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        "/api/social/clubs/NOPE_FC/join",
        &ana,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    // A room's members cannot be removed by another fan.
    call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &ben,
        None,
    )
    .await
    .expect(200);
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/conversations/{id}/members/{}", ben.id),
        &ana,
        None,
    )
    .await
    .expect_problem(403, "forbidden");
}

async fn history_pages_are_newest_first_and_stable_while_messages_arrive(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    let id = direct(&app, &ana, &ben).await;
    for i in 1..=7 {
        say(
            &app,
            if i % 2 == 0 { &ana } else { &ben },
            &id,
            &format!("m{i}"),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".to_owned(),
        };
        let r = page(&app, &ana, &id, &q).await.expect(200);
        for m in r.body["messages"].as_array().unwrap() {
            seen.push(m["message"].as_str().unwrap().to_owned());
        }
        // New messages keep arriving while the fan scrolls back.
        round += 1;
        say(&app, &ben, &id, &format!("late{round}")).await;
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["m7", "m6", "m5", "m4", "m3", "m2", "m1"]);
    // The newest page now starts with what arrived last.
    let r = page(&app, &ana, &id, "limit=2").await.expect(200);
    assert_eq!(r.body["messages"][0]["message"], format!("late{round}"));
    page(&app, &ana, &id, "cursor=garbage")
        .await
        .expect_problem(422, "validation_failed");
    page(&app, &ana, &id, "limit=0")
        .await
        .expect_problem(422, "validation_failed");
}

async fn unread_counts_follow_messages_and_read_markers(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "COTON_SPORT").await;
    let ben = app.fan("Ben", "COTON_SPORT").await;
    let id = direct(&app, &ana, &ben).await;
    let first = say(&app, &ana, &id, "un").await;
    say(&app, &ana, &id, "deux").await;
    let third = say(&app, &ana, &id, "trois").await;
    let unread = |who: &Fan| {
        let (app, who, id) = (&app, who.clone(), id.clone());
        async move {
            conversation(app, &who, &id).await.expect(200).body["conversation"]["unreadCount"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(unread(&ben).await, 3);
    // My own messages are never unread for me.
    assert_eq!(unread(&ana).await, 0);
    // Reading up to the first message.
    let r = call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/read"),
        &ben,
        Some(json!({"messageId": first["id"]})),
    )
    .await
    .expect(200);
    assert_eq!(r.body["unreadCount"], 2);
    assert_eq!(r.body["lastReadMessageId"], first["id"]);
    // Everything (no body: up to the newest).
    let r = call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/read"),
        &ben,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["unreadCount"], 0);
    assert_eq!(r.body["lastReadMessageId"], third["id"]);
    // A marker never moves back.
    let r = call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/read"),
        &ben,
        Some(json!({"messageId": first["id"]})),
    )
    .await
    .expect(200);
    assert_eq!(r.body["unreadCount"], 0);
    assert_eq!(r.body["lastReadMessageId"], third["id"]);
    // Ana sees Ben read everything (read receipts on her messages).
    let p = page(&app, &ana, &id, "").await.expect(200);
    assert!(
        p.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["read"] == true),
        "{}",
        p.text
    );
    say(&app, &ana, &id, "quatre").await;
    assert_eq!(unread(&ben).await, 1);
    let p = page(&app, &ben, &id, "").await.expect(200);
    assert_eq!(p.body["messages"][0]["read"], false);
    assert_eq!(p.body["messages"][1]["read"], true);
    // A message of another conversation is not a marker here.
    let other = direct(&app, &ben, &app.fan("Cara", "COTON_SPORT").await).await;
    let elsewhere = say(&app, &ben, &other, "ailleurs").await;
    call(
        &app,
        Method::POST,
        &format!("/api/social/conversations/{id}/read"),
        &ben,
        Some(json!({"messageId": elsewhere["id"]})),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(unread(&ben).await, 1);
}

async fn authors_edit_and_delete_their_own_messages(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "WYDAD_AC").await;
    let id = direct(&app, &ana, &ben).await;
    let m = say(&app, &ana, &id, "rendez-vous à 18h").await;
    let mid = m["id"].as_str().unwrap();
    let path = format!("/api/social/messages/{mid}");
    call(
        &app,
        Method::PATCH,
        &path,
        &ben,
        Some(json!({"message": "à 20h"})),
    )
    .await
    .expect_problem(403, "forbidden");
    call(&app, Method::DELETE, &path, &ben, None)
        .await
        .expect_problem(403, "forbidden");
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &ana,
        Some(json!({"message": "rendez-vous à 19h"})),
    )
    .await
    .expect(200);
    assert_eq!(r.body["data"]["message"], "rendez-vous à 19h");
    assert!(r.body["data"]["editedAt"].is_string());
    let p = page(&app, &ben, &id, "").await.expect(200);
    assert_eq!(p.body["messages"][0]["message"], "rendez-vous à 19h");
    call(&app, Method::DELETE, &path, &ana, None)
        .await
        .expect(204);
    let p = page(&app, &ben, &id, "").await.expect(200);
    let shown = &p.body["messages"][0];
    assert_eq!(shown["deleted"], true);
    assert_eq!(shown["message"], "");
    call(
        &app,
        Method::PATCH,
        &path,
        &ana,
        Some(json!({"message": "revenu"})),
    )
    .await
    .expect_problem(409, "message_deleted");
    call(&app, Method::DELETE, &path, &ana, None)
        .await
        .expect_problem(404, "not_found");
    // A deleted message is not unread.
    let c = conversation(&app, &ben, &id).await.expect(200);
    assert_eq!(c.body["conversation"]["unreadCount"], 0);
}

async fn bad_conversations_and_messages_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    let start = |body: Value| {
        let (app, ana) = (&app, ana.clone());
        async move {
            call(
                app,
                Method::POST,
                "/api/social/conversations",
                &ana,
                Some(body),
            )
            .await
        }
    };
    start(json!({"type": "direct", "participantIds": [ana.id]}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "direct", "participantIds": ["01900000-0000-7000-8000-000000000000"]}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "direct", "participantIds": [ben.id, ana.id, "x"]}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "club", "participantIds": [ben.id]}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "group", "participantIds": [ben.id]}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "group", "participantIds": [ben.id], "name": "x".repeat(81)}))
        .await
        .expect_problem(422, "validation_failed");
    start(json!({"type": "direct", "participantIds": [ben.id], "extra": 1}))
        .await
        .expect_problem(422, "validation_failed");
    let id = direct(&app, &ana, &ben).await;
    for bad in [json!(""), json!("   "), json!("x".repeat(4001)), json!(42)] {
        let r = call(
            &app,
            Method::POST,
            "/api/social/messages",
            &ana,
            Some(json!({"conversationId": id, "message": bad})),
        )
        .await;
        r.expect_problem(422, "validation_failed");
    }
    // Exactly 4000 characters (not bytes) pass.
    say(&app, &ana, &id, &"é".repeat(4000)).await;
    let p = page(&app, &ben, &id, "").await.expect(200);
    assert_eq!(p.body["messages"].as_array().unwrap().len(), 1);
    app.post("/api/social/messages")
        .json(&json!({"conversationId": id, "message": "anonymous"}))
        .send()
        .await
        .expect_problem(401, "unauthorized");
}

async fn posting_is_rate_limited_per_fan(engine: Engine) {
    let app = spawn_with(engine, |v| {
        v.insert("CHAT_RATE_LIMIT_PER_MINUTE".into(), "3".into());
    })
    .await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "WYDAD_AC").await;
    let id = direct(&app, &ana, &ben).await;
    for i in 0..3 {
        say(&app, &ana, &id, &format!("n{i}")).await;
    }
    let r = call(
        &app,
        Method::POST,
        "/api/social/messages",
        &ana,
        Some(json!({"conversationId": id, "message": "one too many"})),
    )
    .await
    .expect_problem(429, "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    // Another fan is not held back by Ana's burst.
    say(&app, &ben, &id, "moi je peux").await;
    let p = page(&app, &ben, &id, "").await.expect(200);
    assert_eq!(p.body["messages"].as_array().unwrap().len(), 4);
}

async fn a_blocked_fan_cannot_reach_me_and_their_posts_leave_my_feed(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let troll = app.fan("Troll", "RAJA_CA").await;
    let id = direct(&app, &troll, &ana).await;
    say(&app, &troll, &id, "salut").await;
    call(
        &app,
        Method::POST,
        &format!("/api/social/users/{}/follow", troll.id),
        &ana,
        None,
    )
    .await
    .expect(204);
    post(&app, &troll, json!({"content": "mon avis sur le match"})).await;
    assert!(contents(&feed(&app, &ana, "").await).contains(&"mon avis sur le match".to_owned()));

    call(
        &app,
        Method::POST,
        "/api/social/blocks",
        &ana,
        Some(json!({"userId": troll.id})),
    )
    .await
    .expect(204);
    // Blocking twice changes nothing; blocking oneself is refused.
    call(
        &app,
        Method::POST,
        "/api/social/blocks",
        &ana,
        Some(json!({"userId": troll.id})),
    )
    .await
    .expect(204);
    call(
        &app,
        Method::POST,
        "/api/social/blocks",
        &ana,
        Some(json!({"userId": ana.id})),
    )
    .await
    .expect_problem(422, "validation_failed");
    call(
        &app,
        Method::POST,
        "/api/social/messages",
        &troll,
        Some(json!({"conversationId": id, "message": "tu m'ignores ?"})),
    )
    .await
    .expect_problem(403, "blocked");
    call(
        &app,
        Method::POST,
        "/api/social/conversations",
        &troll,
        Some(json!({"type": "group", "participantIds": [ana.id], "name": "piège"})),
    )
    .await
    .expect_problem(403, "blocked");
    assert!(!contents(&feed(&app, &ana, "").await).contains(&"mon avis sur le match".to_owned()));
    let blocks = call(&app, Method::GET, "/api/social/blocks", &ana, None)
        .await
        .expect(200);
    assert_eq!(blocks.body["blocks"][0]["userId"], troll.id.as_str());
    // Ana can still write to the troll (she blocked them, not the reverse).
    say(&app, &ana, &id, "stop").await;

    call(
        &app,
        Method::DELETE,
        &format!("/api/social/blocks/{}", troll.id),
        &ana,
        None,
    )
    .await
    .expect(204);
    say(&app, &troll, &id, "pardon").await;
    assert!(contents(&feed(&app, &ana, "").await).contains(&"mon avis sur le match".to_owned()));
}

async fn the_feed_shows_my_club_and_what_i_follow_with_likes_and_comments(engine: Engine) {
    let app = spawn_app(engine).await;
    let wydad = app.staff(Some("WYDAD_AC")).await;
    let raja = app.staff(Some("RAJA_CA")).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let ben = app.fan("Ben", "RAJA_CA").await;
    post(
        &app,
        &wydad,
        json!({"content": "Wydad: billets en vente", "clubId": "WYDAD_AC"}),
    )
    .await;
    let raja_post = post(&app, &raja, json!({"content": "Raja: nouveau maillot", "clubId": "RAJA_CA", "imageUrl": "https://cdn.example.com/maillot.png"})).await;
    assert_eq!(raja_post["type"], "club");
    assert_eq!(raja_post["imageUrl"], "https://cdn.example.com/maillot.png");
    post(&app, &ben, json!({"content": "Ben: quel match !"})).await;

    // My club's posts, nothing else yet.
    let f = feed(&app, &ana, "").await;
    assert_eq!(contents(&f), ["Wydad: billets en vente"]);
    assert_eq!(f["total"], 1);
    // Following a club and a fan brings their posts.
    call(
        &app,
        Method::POST,
        "/api/social/clubs/RAJA_CA/follow",
        &ana,
        None,
    )
    .await
    .expect(204);
    call(
        &app,
        Method::POST,
        &format!("/api/social/users/{}/follow", ben.id),
        &ana,
        None,
    )
    .await
    .expect(204);
    let f = feed(&app, &ana, "").await;
    assert_eq!(f["total"], 3);
    let follows = call(&app, Method::GET, "/api/social/follows", &ana, None)
        .await
        .expect(200);
    assert_eq!(follows.body["follows"].as_array().unwrap().len(), 2);

    // Likes count once per fan.
    let pid = raja_post["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = call(
            &app,
            Method::POST,
            &format!("/api/social/posts/{pid}/like"),
            &ana,
            None,
        )
        .await
        .expect(200);
        assert_eq!(r.body["likes"], 1);
        assert_eq!(r.body["liked"], true);
    }
    let r = call(
        &app,
        Method::POST,
        &format!("/api/social/posts/{pid}/like"),
        &ben,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["likes"], 2);
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/social/posts/{pid}/like"),
        &ana,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["likes"], 1);
    assert_eq!(r.body["liked"], false);
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/social/posts/{pid}/like"),
        &ana,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["likes"], 1);

    // Comments, oldest first, counted on the post.
    for text in ["premier", "deuxième"] {
        call(
            &app,
            Method::POST,
            &format!("/api/social/posts/{pid}/comments"),
            &ana,
            Some(json!({"content": text})),
        )
        .await
        .expect(201);
    }
    let c = call(
        &app,
        Method::GET,
        &format!("/api/social/posts/{pid}/comments"),
        &ben,
        None,
    )
    .await
    .expect(200);
    let comments = c.body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["content"], "premier");
    assert_eq!(comments[0]["author"]["name"], "Ana");
    let cid = comments[1]["id"].as_str().unwrap();
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/comments/{cid}"),
        &ben,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/comments/{cid}"),
        &ana,
        None,
    )
    .await
    .expect(204);
    let p = call(
        &app,
        Method::GET,
        &format!("/api/social/posts/{pid}"),
        &ana,
        None,
    )
    .await
    .expect(200);
    assert_eq!(p.body["post"]["comments"], 1);
    assert_eq!(p.body["post"]["likes"], 1);
    assert_eq!(p.body["post"]["liked"], false);

    // Unfollowing takes them out again; deleting my post too.
    call(
        &app,
        Method::DELETE,
        "/api/social/clubs/RAJA_CA/follow",
        &ana,
        None,
    )
    .await
    .expect(204);
    let mine = post(&app, &ana, json!({"content": "Ana: mon premier post"})).await;
    let f = feed(&app, &ana, "").await;
    assert_eq!(f["total"], 3, "{f}");
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/posts/{}", mine["id"].as_str().unwrap()),
        &ben,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::DELETE,
        &format!("/api/social/posts/{}", mine["id"].as_str().unwrap()),
        &ana,
        None,
    )
    .await
    .expect(204);
    assert_eq!(feed(&app, &ana, "").await["total"], 2);
    call(
        &app,
        Method::POST,
        "/api/social/clubs/NOPE/follow",
        &ana,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        &format!("/api/social/users/{}/follow", ana.id),
        &ana,
        None,
    )
    .await
    .expect_problem(404, "not_found");
}

async fn lively_posts_rise_and_the_feed_pages_by_cursor(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "COTON_SPORT").await;
    let mut fans = Vec::new();
    for i in 0..4 {
        fans.push(app.fan(&format!("Fan {i}"), "COTON_SPORT").await);
    }
    let old = post(&app, &ana, json!({"content": "old but loved"})).await;
    for i in 0..5 {
        post(&app, &ana, json!({"content": format!("fresh {i}")})).await;
    }
    // Freshest first while nobody reacts.
    let f = feed(&app, &ana, "limit=2").await;
    assert_eq!(contents(&f), ["fresh 4", "fresh 3"]);
    // Four likes and two comments: ten minutes of youth, more than the
    // milliseconds that separate these posts.
    let pid = old["id"].as_str().unwrap();
    for fan in &fans {
        call(
            &app,
            Method::POST,
            &format!("/api/social/posts/{pid}/like"),
            fan,
            None,
        )
        .await
        .expect(200);
    }
    for fan in &fans[..1] {
        call(
            &app,
            Method::POST,
            &format!("/api/social/posts/{pid}/comments"),
            fan,
            Some(json!({"content": "magnifique"})),
        )
        .await
        .expect(201);
    }
    let f = feed(&app, &ana, "limit=2").await;
    assert_eq!(contents(&f)[0], "old but loved");
    assert!(
        f["feed"][0]["likes"] == 4 && f["feed"][0]["comments"] == 1,
        "{f}"
    );
    // Paging by cursor reaches every post once; page/limit (v1.0) agrees.
    let mut seen = contents(&f);
    let mut cursor = f["nextCursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let f = feed(&app, &ana, &format!("limit=2&cursor={c}")).await;
        seen.extend(contents(&f));
        cursor = f["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        seen,
        [
            "old but loved",
            "fresh 4",
            "fresh 3",
            "fresh 2",
            "fresh 1",
            "fresh 0"
        ]
    );
    let p3 = feed(&app, &ana, "page=3&limit=2").await;
    assert_eq!(contents(&p3), ["fresh 1", "fresh 0"]);
    assert_eq!(p3["page"], 3);
    assert_eq!(p3["total"], 6);
    let f = call(&app, Method::GET, "/api/social/feed?page=0", &ana, None).await;
    f.expect_problem(422, "validation_failed");
}

async fn staff_hide_reported_content_of_their_club_only(engine: Engine) {
    let app = spawn_app(engine).await;
    let wydad_staff = app.staff(Some("WYDAD_AC")).await;
    let raja_staff = app.staff(Some("RAJA_CA")).await;
    let admin = app.staff(None).await;
    let ana = app.fan("Ana", "WYDAD_AC").await;
    let troll = app.fan("Troll", "WYDAD_AC").await;
    let room = call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &ana,
        None,
    )
    .await
    .expect(200)
    .body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &app,
        Method::POST,
        "/api/social/clubs/WYDAD_AC/join",
        &troll,
        None,
    )
    .await
    .expect(200);
    let bad = say(&app, &troll, &room, "insulte").await;
    let bad_id = bad["id"].as_str().unwrap();

    let report = call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{bad_id}/report"),
        &ana,
        Some(json!({"reason": "insulte raciste"})),
    )
    .await
    .expect(201);
    assert_eq!(report.body["report"]["clubId"], "WYDAD_AC");
    // Reporting again files nothing new.
    let again = call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{bad_id}/report"),
        &ana,
        Some(json!({"reason": "encore"})),
    )
    .await
    .expect(200);
    assert_eq!(again.body["report"]["id"], report.body["report"]["id"]);

    // Fans do not read reports; staff read their club's.
    call(&app, Method::GET, "/api/social/reports", &ana, None)
        .await
        .expect_problem(403, "forbidden");
    let mine = call(&app, Method::GET, "/api/social/reports", &wydad_staff, None)
        .await
        .expect(200);
    assert_eq!(mine.body["reports"].as_array().unwrap().len(), 1);
    let theirs = call(&app, Method::GET, "/api/social/reports", &raja_staff, None)
        .await
        .expect(200);
    assert_eq!(theirs.body["reports"].as_array().unwrap().len(), 0);

    // Another club's staff cannot hide it; a fan neither.
    call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{bad_id}/hide"),
        &raja_staff,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{bad_id}/hide"),
        &ana,
        None,
    )
    .await
    .expect_problem(403, "forbidden");
    // The club's staff moderate its room without joining it.
    call(
        &app,
        Method::POST,
        &format!("/api/social/messages/{bad_id}/hide"),
        &wydad_staff,
        None,
    )
    .await
    .expect(204);
    let p = page(&app, &ana, &room, "").await.expect(200);
    let shown = p.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bad_id)
        .unwrap()
        .clone();
    assert_eq!(shown["hidden"], true);
    assert_eq!(shown["message"], "");
    let open = call(&app, Method::GET, "/api/social/reports", &wydad_staff, None)
        .await
        .expect(200);
    assert_eq!(open.body["reports"].as_array().unwrap().len(), 0);

    // A fan's post: the staff of the author's club, or an admin, hide it.
    let spam = post(&app, &troll, json!({"content": "achetez mes faux billets"})).await;
    let sid = spam["id"].as_str().unwrap();
    call(
        &app,
        Method::POST,
        &format!("/api/social/posts/{sid}/hide"),
        &raja_staff,
        None,
    )
    .await
    .expect_problem(403, "forbidden");
    call(
        &app,
        Method::POST,
        &format!("/api/social/posts/{sid}/hide"),
        &admin,
        None,
    )
    .await
    .expect(204);
    call(
        &app,
        Method::GET,
        &format!("/api/social/posts/{sid}"),
        &ana,
        None,
    )
    .await
    .expect_problem(404, "not_found");
    // Comments on the club's posts are the club's space.
    let club_post = post(
        &app,
        &wydad_staff,
        json!({"content": "Match samedi", "clubId": "WYDAD_AC"}),
    )
    .await;
    let cpid = club_post["id"].as_str().unwrap();
    let c = call(
        &app,
        Method::POST,
        &format!("/api/social/posts/{cpid}/comments"),
        &troll,
        Some(json!({"content": "nul"})),
    )
    .await
    .expect(201);
    let cid = c.body["comment"]["id"].as_str().unwrap();
    call(
        &app,
        Method::POST,
        &format!("/api/social/comments/{cid}/hide"),
        &wydad_staff,
        None,
    )
    .await
    .expect(204);
    let p = call(
        &app,
        Method::GET,
        &format!("/api/social/posts/{cpid}"),
        &ana,
        None,
    )
    .await
    .expect(200);
    assert_eq!(p.body["post"]["comments"], 0);
}

async fn posts_are_checked_and_club_posts_need_staff(engine: Engine) {
    let app = spawn_app(engine).await;
    let ana = app.fan("Ana", "RAJA_CA").await;
    let staff = app.staff(Some("RAJA_CA")).await;
    for bad in [
        json!({"content": ""}),
        json!({"content": "x".repeat(2001)}),
        json!({"content": "ok", "imageUrl": "javascript:alert(1)"}),
        json!({"content": "ok", "imageUrl": "not a url"}),
        json!({"content": "ok", "unknown": true}),
    ] {
        call(&app, Method::POST, "/api/social/posts", &ana, Some(bad))
            .await
            .expect_problem(422, "validation_failed");
    }
    call(
        &app,
        Method::POST,
        "/api/social/posts",
        &ana,
        Some(json!({"content": "officiel", "clubId": "RAJA_CA"})),
    )
    .await
    .expect_problem(403, "forbidden");
    call(
        &app,
        Method::POST,
        "/api/social/posts",
        &staff,
        Some(json!({"content": "officiel", "clubId": "WYDAD_AC"})),
    )
    .await
    .expect_problem(403, "forbidden");
    let p = post(
        &app,
        &staff,
        json!({"content": "officiel", "clubId": "RAJA_CA"}),
    )
    .await;
    assert_eq!(p["author"]["id"], "RAJA_CA");
    assert_eq!(p["author"]["name"], "Raja CA");
    assert_eq!(p["userId"], staff.id.as_str());
    // A fan of the club sees it without following anything.
    assert_eq!(contents(&feed(&app, &ana, "").await), ["officiel"]);
}
