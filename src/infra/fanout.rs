//! Event fan-out: what one instance publishes, every subscriber of every instance sees.
//!
//! `Local` is one process's broadcast channel (SQLite, single instance).
//! `Redis` also publishes every event to a Redis channel and relays what
//! other instances publish into the same local broadcast, so subscribers
//! (session revocation, the WebSocket hub) only depend on this trait.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::infra::redis::Redis;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Who should receive it: `user:<id>`, `club:<id>`, `conversation:<id>`.
    pub topic: String,
    /// Event name, such as `notification.created` or `ticket.checked_in`.
    pub kind: String,
    pub payload: serde_json::Value,
    /// Position in the live event log (`live_events.seq`) of an event a
    /// reconnecting client can ask for again; `None` for ephemeral events
    /// (typing) and internal ones (session revocation).
    #[serde(default)]
    pub id: Option<i64>,
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

/// Local delivery at once, and through Redis to every other instance. An
/// event carries the instance that sent it, so the sender does not deliver
/// it twice when it comes back from Redis.
pub struct RedisFanout {
    local: broadcast::Sender<Event>,
    redis: Redis,
    channel: String,
    origin: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    event: Event,
}

impl RedisFanout {
    /// Starts relaying the channel into the local broadcast; the relay
    /// reconnects by itself while Redis is away.
    pub fn start(redis: Redis, origin: &str, capacity: usize) -> std::sync::Arc<RedisFanout> {
        let (local, _) = broadcast::channel(capacity);
        let fanout = std::sync::Arc::new(RedisFanout {
            local,
            channel: redis.key("events"),
            redis,
            origin: origin.to_owned(),
        });
        let relay = std::sync::Arc::downgrade(&fanout);
        tokio::spawn(async move {
            loop {
                let Some(f) = relay.upgrade() else { return };
                let (client, channel, origin, local) = (
                    f.redis.client.clone(),
                    f.channel.clone(),
                    f.origin.clone(),
                    f.local.clone(),
                );
                drop(f);
                if let Err(e) = relay_once(&client, &channel, &origin, &local).await {
                    tracing::warn!(error = %e, "fan-out: redis subscription lost; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        fanout
    }
}

async fn relay_once(
    client: &redis::Client,
    channel: &str,
    origin: &str,
    local: &broadcast::Sender<Event>,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        match serde_json::from_str::<Envelope>(&payload) {
            Ok(env) if env.origin != origin => {
                let _ = local.send(env.event);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "fan-out: unreadable event ignored"),
        }
    }
    Ok(())
}

impl Fanout for RedisFanout {
    fn publish(&self, event: Event) {
        let _ = self.local.send(event.clone());
        let Ok(payload) = serde_json::to_string(&Envelope {
            origin: self.origin.clone(),
            event,
        }) else {
            return;
        };
        let mut conn = self.redis.conn.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(payload)
                .query_async(&mut conn)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "fan-out: publish to redis failed");
            }
        });
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
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
            id: None,
        });
        let e = rx.recv().await.unwrap();
        assert_eq!(e.topic, "user:1");
        assert_eq!(e.payload["n"], 1);
    }
}
