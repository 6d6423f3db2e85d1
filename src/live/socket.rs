//! One WebSocket, from upgrade to close.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::db::now_ms;
use crate::domain::UserId;
use crate::infra::fanout::Event;
use crate::live::hub::{Frame, Stop, frame_text};
use crate::live::{Live, store};

/// Close codes a client can act on (4000–4999 are the application's).
pub const CLOSE_TOO_SLOW: u16 = 4000;
pub const CLOSE_SESSION_ENDED: u16 = 4001;
pub const CLOSE_RESUME: u16 = 4002;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_NO_HEARTBEAT: u16 = 4003;

/// Who opened the socket, from the access token.
pub struct Opener {
    pub user_id: UserId,
    pub name: String,
    pub sid: Option<String>,
    /// When the access token expires (Unix seconds): the socket closes then,
    /// and the client reconnects with a fresh token and its last event id.
    pub expires_at: u64,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum ClientMessage {
    #[serde(rename = "typing")]
    Typing {
        #[serde(rename = "conversationId")]
        conversation_id: String,
    },
}

/// A client typing into a conversation is announced at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);
/// Frames written with one flush at most.
const MAX_BATCH: usize = 64;
/// A frame the client's TCP window cannot take within this is a dead client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// After the server's close frame, how long the client has to answer it.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

pub async fn run(socket: WebSocket, live: Live, who: Opener, resume: Option<i64>) {
    // Registered before memberships and the log are read: a join or an
    // event committed meanwhile reaches the queue (the hub subscribes the
    // socket on `conversation.joined`), and an event's seq says whether the
    // replay already carried it.
    let sub = live.hub.register(&who.user_id, who.sid.clone(), Vec::new());
    let id = sub.id;
    let memberships = async {
        let topics = store::conversation_topics(live.db.reader(), &who.user_id).await?;
        live.hub.subscribe(id, topics);
        // A membership that ended between the read and the subscription
        // announced itself to no one: read again and drop it.
        let current = store::conversation_topics(live.db.reader(), &who.user_id).await?;
        live.hub.keep_only(id, &current);
        Ok::<_, sqlx::Error>(())
    };
    let closing = match memberships.await {
        Ok(()) => serve(socket, &live, &who, resume, sub).await,
        Err(e) => {
            tracing::warn!(error = %e, "live: cannot load memberships");
            let mut socket = socket;
            let _ = socket.send(close(1011, "try again")).await;
            None
        }
    };
    live.hub.unregister(id);
    metrics::gauge!("ws_connections").set(live.hub.connections() as f64);
    if let Some(rx) = closing {
        await_close_answer(rx).await;
    }
}

async fn serve(
    socket: WebSocket,
    live: &Live,
    who: &Opener,
    resume: Option<i64>,
    sub: crate::live::hub::Subscription,
) -> Option<Rx> {
    metrics::gauge!("ws_connections").set(live.hub.connections() as f64);
    let (mut tx, mut rx) = socket.split();
    let mut frames = sub.frames;
    let mut stop = sub.stop;
    let last_heard = AtomicI64::new(now_ms());

    // What the client missed, then `ready` with where the log stands.
    let mut replayed_up_to = 0;
    let head = match resume {
        Some(after) => {
            let limit = live.settings.replay_max;
            match store::after(live.db.reader(), &who.user_id, after, limit + 1).await {
                Ok(events) => {
                    let truncated = events.len() as i64 > limit;
                    for e in events.iter().take(limit as usize) {
                        let data = serde_json::from_str(&e.payload).unwrap_or_default();
                        let text = frame_text(Some(e.seq), &e.kind, &data);
                        if send(&mut tx, Message::Text(text)).await.is_err() {
                            return None;
                        }
                        replayed_up_to = e.seq;
                    }
                    if truncated {
                        let text = frame_text(None, "replay.truncated", &serde_json::json!({}));
                        let _ = send(&mut tx, Message::Text(text)).await;
                    }
                    replayed_up_to.max(after)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live: replay failed");
                    let sent = send(&mut tx, close(1011, "try again")).await.is_ok();
                    return sent.then_some(rx);
                }
            }
        }
        None => store::head(live.db.reader()).await.unwrap_or(0),
    };
    replayed_up_to = replayed_up_to.max(resume.unwrap_or(0));
    let ready = frame_text(
        None,
        "ready",
        &serde_json::json!({"lastEventId": head.to_string(), "userId": who.user_id}),
    );
    if send(&mut tx, Message::Text(ready)).await.is_err() {
        return None;
    }

    let heartbeat = live.settings.heartbeat;
    let expires_in =
        Duration::from_secs(who.expires_at.saturating_sub(now_ms().max(0) as u64 / 1000));
    let writer = async {
        let mut ticker = tokio::time::interval(heartbeat);
        ticker.tick().await;
        let expiry = tokio::time::sleep(expires_in);
        tokio::pin!(expiry);
        loop {
            // Biased: when the hub ends a socket it also drops its queue,
            // and the reason must win over the empty queue.
            tokio::select! {
                biased;
                why = &mut stop => {
                    return send(&mut tx, stop_frame(why.ok())).await.is_ok();
                }
                _ = &mut expiry => {
                    return send(&mut tx, close(CLOSE_SESSION_ENDED, "access token expired")).await.is_ok();
                }
                _ = ticker.tick() => {
                    let silent_for = now_ms() - last_heard.load(Ordering::Relaxed);
                    if silent_for > 2 * heartbeat.as_millis() as i64 {
                        return send(&mut tx, close(CLOSE_NO_HEARTBEAT, "no heartbeat")).await.is_ok();
                    }
                    if send(&mut tx, Message::Ping(bytes::Bytes::new())).await.is_err() {
                        return false;
                    }
                }
                frame = frames.recv() => {
                    let Some(first) = frame else {
                        return send(&mut tx, stop_frame(stop.try_recv().ok())).await.is_ok();
                    };
                    // What queued up meanwhile goes out in the same write: a
                    // burst costs one system call per socket, not one per frame.
                    let mut next = Some(first);
                    let mut batched = 0;
                    while let Some(Frame { seq, text }) = next {
                        if seq.is_none_or(|s| s > replayed_up_to) {
                            if feed(&mut tx, Message::Text(text)).await.is_err() {
                                return false;
                            }
                            batched += 1;
                        }
                        next = if batched < MAX_BATCH { frames.try_recv().ok() } else { None };
                    }
                    if flush(&mut tx).await.is_err() {
                        return false;
                    }
                }
            }
        }
    };
    let reader = async {
        let mut typed: HashMap<String, Instant> = HashMap::new();
        while let Some(Ok(msg)) = rx.next().await {
            last_heard.store(now_ms(), Ordering::Relaxed);
            match msg {
                Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(ClientMessage::Typing { conversation_id }) => {
                        let topic = format!("conversation:{conversation_id}");
                        let due = typed
                            .get(&conversation_id)
                            .is_none_or(|at| at.elapsed() >= TYPING_EVERY);
                        if due && live.hub.is_subscribed(sub.id, &topic) {
                            typed.insert(conversation_id.clone(), Instant::now());
                            live.fanout.publish(Event {
                                topic,
                                kind: "typing".into(),
                                payload: serde_json::json!({
                                    "conversationId": conversation_id,
                                    "userId": who.user_id,
                                    "name": who.name,
                                }),
                                id: None,
                            });
                        }
                    }
                    // Unknown frames are ignored: a newer client may send
                    // what this server does not know yet.
                    Err(_) => {}
                },
                Message::Close(_) => return,
                _ => {}
            }
        }
    };
    let close_sent = tokio::select! {
        sent = writer => Some(sent),
        _ = reader => None,
    };
    match close_sent {
        // The socket stays open, unregistered, until the client answers.
        Some(sent) => sent.then_some(rx),
        None => {
            // The client closed (or vanished): the answer to its close is
            // queued, and goes out before the connection is dropped.
            let _ = tokio::time::timeout(CLOSE_GRACE, tx.flush()).await;
            None
        }
    }
}

/// RFC 6455 7.1.1: the connection ends once the client has answered the
/// server's close. Dropping it at once resets it, and a client with a pong
/// still to write (to a ping sent before the close) then meets the reset
/// before it reads the close code that says why.
async fn await_close_answer(mut rx: Rx) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(msg)) = rx.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn stop_frame(why: Option<Stop>) -> Message {
    match why {
        Some(Stop::Overflow) => close(CLOSE_TOO_SLOW, "too slow: resume with lastEventId"),
        Some(Stop::Resync) => close(CLOSE_RESUME, "resume with lastEventId"),
        Some(Stop::SessionEnded) => close(CLOSE_SESSION_ENDED, "session ended"),
        Some(Stop::Shutdown) | None => close(CLOSE_GOING_AWAY, "server restarting"),
    }
}

type Tx = futures::stream::SplitSink<WebSocket, Message>;
type Rx = futures::stream::SplitStream<WebSocket>;

async fn send(tx: &mut Tx, msg: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn feed(tx: &mut Tx, msg: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.feed(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn flush(tx: &mut Tx) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.flush()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
