//! Event fan-out: what one instance publishes, every subscriber of every instance sees.
//!
//! `Local` is one process's broadcast channel (SQLite, single instance). The
//! real-time chat and feed will add a Redis-backed implementation that publishes
//! to a channel and relays what it receives into the same local broadcast, so
//! WebSocket handlers only ever depend on this trait.

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Who should receive it: `user:<id>`, `club:<id>`, `conversation:<id>`.
    pub topic: String,
    /// Event name, such as `notification.created` or `ticket.checked_in`.
    pub kind: String,
    pub payload: serde_json::Value,
}

pub trait Fanout: Send + Sync {
    fn publish(&self, event: Event);
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

pub struct LocalFanout {
    tx: broadcast::Sender<Event>,
}

impl LocalFanout {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        LocalFanout { tx }
    }
}

impl Fanout for LocalFanout {
    fn publish(&self, event: Event) {
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_published_events() {
        let f = LocalFanout::new(16);
        let mut rx = f.subscribe();
        f.publish(Event {
            topic: "user:1".into(),
            kind: "notification.created".into(),
            payload: serde_json::json!({"n": 1}),
        });
        let e = rx.recv().await.unwrap();
        assert_eq!(e.topic, "user:1");
        assert_eq!(e.payload["n"], 1);
    }
}
