//! Redis connection shared by rate limiting, readiness and (later) fan-out.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Clone)]
pub struct Redis {
    pub conn: ConnectionManager,
    pub client: redis::Client,
    pub prefix: String,
}

impl Redis {
    /// Connects lazily: the server starts while Redis is down (readiness says so)
    /// and reconnects by itself when Redis comes back.
    pub fn connect(url: &str, prefix: &str) -> anyhow::Result<Redis> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = client.get_connection_manager_lazy(config)?;
        Ok(Redis {
            conn,
            client,
            prefix: prefix.to_owned(),
        })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{}", self.prefix, suffix)
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
