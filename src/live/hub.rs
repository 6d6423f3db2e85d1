//! This instance's open sockets, by topic. One task reads the fan-out (every
//! event of every instance) and hands each event, serialised once, to the
//! bounded queue of each socket subscribed to its topic. A queue that is full
//! belongs to a client that does not keep up: it is cut off at once (and
//! resumes from the log when it reconnects), so it never delays the others.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::auth::sessions::REVOKED_EVENT;
use crate::infra::fanout::{Event, Fanout};

/// A frame ready to send, with the log position it carries.
#[derive(Clone)]
pub struct Frame {
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
}

/// Why the hub ended a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its queue overflowed: the client reads too slowly.
    Overflow,
    /// This instance fell behind the fan-out: the client must resume from the log.
    Resync,
    /// The session the socket was opened with has ended.
    SessionEnded,
    /// The server is shutting down.
    Shutdown,
}

/// Membership changes the hub applies to the sockets of the user concerned,
/// so a socket follows the conversations its user joins and leaves.
pub const JOINED: &str = "conversation.joined";
pub const LEFT: &str = "conversation.left";

struct Conn {
    user_topic: String,
    sid: Option<String>,
    topics: HashSet<String>,
    tx: mpsc::Sender<Frame>,
    stop: Option<oneshot::Sender<Stop>>,
}

#[derive(Default)]
struct Registry {
    topics: HashMap<String, HashSet<u64>>,
    conns: HashMap<u64, Conn>,
}

impl Registry {
    fn subscribe(&mut self, id: u64, topic: String) {
        if let Some(c) = self.conns.get_mut(&id)
            && c.topics.insert(topic.clone())
        {
            self.topics.entry(topic).or_default().insert(id);
        }
    }

    fn unsubscribe(&mut self, id: u64, topic: &str) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.topics.remove(topic);
        }
        if let Some(ids) = self.topics.get_mut(topic) {
            ids.remove(&id);
            if ids.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    fn remove(&mut self, id: u64, why: Option<Stop>) {
        if let Some(mut c) = self.conns.remove(&id) {
            for t in &c.topics {
                if let Some(ids) = self.topics.get_mut(t) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.topics.remove(t);
                    }
                }
            }
            if let (Some(why), Some(stop)) = (why, c.stop.take()) {
                let _ = stop.send(why);
            }
        }
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    reg: Mutex<Registry>,
    next: AtomicU64,
    buffer: usize,
}

/// One socket's place in the hub.
pub struct Subscription {
    pub id: u64,
    pub frames: mpsc::Receiver<Frame>,
    pub stop: oneshot::Receiver<Stop>,
}

/// The JSON a client receives: `{id, type, data}`.
pub fn frame_text(id: Option<i64>, kind: &str, data: &serde_json::Value) -> Utf8Bytes {
    let v = serde_json::json!({
        "id": id.map(|s| s.to_string()),
        "type": kind,
        "data": data,
    });
    Utf8Bytes::from(v.to_string())
}

impl Hub {
    /// `buffer`: frames queued per socket before it counts as too slow.
    pub fn new(buffer: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                reg: Mutex::new(Registry::default()),
                next: AtomicU64::new(1),
                buffer: buffer.max(1),
            }),
        }
    }

    fn reg(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(
        &self,
        user_id: &str,
        sid: Option<String>,
        topics: Vec<String>,
    ) -> Subscription {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (tx, frames) = mpsc::channel(self.inner.buffer);
        let (stop_tx, stop) = oneshot::channel();
        let user_topic = format!("user:{user_id}");
        let mut reg = self.reg();
        reg.conns.insert(
            id,
            Conn {
                user_topic: user_topic.clone(),
                sid,
                topics: HashSet::new(),
                tx,
                stop: Some(stop_tx),
            },
        );
        reg.subscribe(id, user_topic);
        for t in topics {
            reg.subscribe(id, t);
        }
        Subscription { id, frames, stop }
    }

    /// Adds topics to a registered socket.
    pub fn subscribe(&self, id: u64, topics: Vec<String>) {
        let mut reg = self.reg();
        for t in topics {
            reg.subscribe(id, t);
        }
    }

    /// Drops the conversation topics of a socket that are not in `current`
    /// (a membership that ended while the socket was being set up).
    pub fn keep_only(&self, id: u64, current: &[String]) {
        let mut reg = self.reg();
        let stale: Vec<String> = match reg.conns.get(&id) {
            Some(c) => c
                .topics
                .iter()
                .filter(|t| t.starts_with("conversation:") && !current.contains(t))
                .cloned()
                .collect(),
            None => return,
        };
        for t in stale {
            reg.unsubscribe(id, &t);
        }
    }

    pub fn unregister(&self, id: u64) {
        self.reg().remove(id, None);
    }

    pub fn is_subscribed(&self, id: u64, topic: &str) -> bool {
        self.reg()
            .conns
            .get(&id)
            .is_some_and(|c| c.topics.contains(topic))
    }

    /// Open sockets on this instance.
    pub fn connections(&self) -> usize {
        self.reg().conns.len()
    }

    pub fn stop_all(&self, why: Stop) {
        let mut reg = self.reg();
        let ids: Vec<u64> = reg.conns.keys().copied().collect();
        for id in ids {
            reg.remove(id, Some(why));
        }
    }

    /// Delivers the fan-out to local sockets until the fan-out closes.
    pub async fn run(self, fanout: Arc<dyn Fanout>) {
        let mut events = fanout.subscribe();
        loop {
            match events.recv().await {
                Ok(e) => self.dispatch(&e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Events were lost on their way to this instance's
                    // sockets; the log still has them, so every client
                    // reconnects and resumes from what it saw.
                    tracing::warn!(
                        lost = n,
                        "live hub fell behind; clients resume from the log"
                    );
                    self.stop_all(Stop::Resync);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    pub fn dispatch(&self, e: &Event) {
        if e.kind == REVOKED_EVENT {
            if let Some(sid) = e.payload["sid"].as_str() {
                let mut reg = self.reg();
                let ids: Vec<u64> = reg
                    .conns
                    .iter()
                    .filter(|(_, c)| c.sid.as_deref() == Some(sid))
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    reg.remove(id, Some(Stop::SessionEnded));
                }
            }
            return;
        }
        if !(e.topic.starts_with("user:") || e.topic.starts_with("conversation:")) {
            return;
        }
        let frame = Frame {
            seq: e.id,
            text: frame_text(e.id, &e.kind, &e.payload),
        };
        let mut reg = self.reg();
        let Some(ids) = reg.topics.get(&e.topic) else {
            return;
        };
        let ids: Vec<u64> = ids.iter().copied().collect();
        let mut too_slow = Vec::new();
        for id in &ids {
            if let Some(c) = reg.conns.get(id)
                && let Err(mpsc::error::TrySendError::Full(_)) = c.tx.try_send(frame.clone())
            {
                too_slow.push(*id);
            }
        }
        for id in too_slow {
            reg.remove(id, Some(Stop::Overflow));
        }
        if (e.kind == JOINED || e.kind == LEFT)
            && let Some(conversation) = e.payload["conversationId"].as_str()
        {
            let topic = format!("conversation:{conversation}");
            for id in ids {
                if reg.conns.get(&id).is_some_and(|c| c.user_topic == e.topic) {
                    if e.kind == JOINED {
                        reg.subscribe(id, topic.clone());
                    } else {
                        reg.unsubscribe(id, &topic);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, kind: &str, id: i64) -> Event {
        Event {
            topic: topic.into(),
            kind: kind.into(),
            payload: serde_json::json!({"conversationId": "c1"}),
            id: Some(id),
        }
    }

    #[tokio::test]
    async fn a_slow_socket_is_cut_off_and_the_others_still_receive() {
        let hub = Hub::new(2);
        let mut fast = hub.register("a", None, vec!["conversation:c1".into()]);
        let mut slow = hub.register("b", None, vec!["conversation:c1".into()]);
        for i in 1..=3 {
            hub.dispatch(&event("conversation:c1", "message.created", i));
            // The fast reader keeps up.
            assert_eq!(fast.frames.recv().await.map(|f| f.seq), Some(Some(i)));
        }
        assert_eq!(slow.stop.try_recv().ok(), Some(Stop::Overflow));
        assert_eq!(hub.connections(), 1);
        hub.dispatch(&event("conversation:c1", "message.created", 4));
        assert_eq!(fast.frames.recv().await.map(|f| f.seq), Some(Some(4)));
    }

    #[tokio::test]
    async fn sockets_follow_their_user_into_and_out_of_conversations() {
        let hub = Hub::new(8);
        let mut sub = hub.register("u", None, vec![]);
        hub.dispatch(&event("conversation:c1", "message.created", 1));
        assert!(sub.frames.try_recv().is_err());
        hub.dispatch(&event("user:u", JOINED, 2));
        assert!(hub.is_subscribed(sub.id, "conversation:c1"));
        hub.dispatch(&event("conversation:c1", "message.created", 3));
        assert_eq!(sub.frames.recv().await.map(|f| f.seq), Some(Some(2)));
        assert_eq!(sub.frames.recv().await.map(|f| f.seq), Some(Some(3)));
        hub.dispatch(&event("user:u", LEFT, 4));
        assert!(!hub.is_subscribed(sub.id, "conversation:c1"));
    }

    #[test]
    fn a_membership_gone_before_the_subscription_is_dropped() {
        let hub = Hub::new(8);
        let sub = hub.register(
            "u",
            None,
            vec!["conversation:c1".into(), "conversation:c2".into()],
        );
        hub.keep_only(sub.id, &["conversation:c2".into()]);
        assert!(!hub.is_subscribed(sub.id, "conversation:c1"));
        assert!(hub.is_subscribed(sub.id, "conversation:c2"));
        assert!(hub.is_subscribed(sub.id, "user:u"));
    }
}
