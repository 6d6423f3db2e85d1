//! Real-time delivery: a WebSocket per client, fed by the fan-out (in-process,
//! or through Redis across instances), and a log of every event a client
//! must not miss, so a reconnecting client resumes from the last event id it
//! saw, on any instance, even after a restart.

pub mod hub;
pub mod routes;
pub mod socket;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::db::Db;
use crate::infra::fanout::Fanout;

pub use hub::Hub;
pub use routes::router;

#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// A ping every `heartbeat`; a client silent for two of them is dead.
    pub heartbeat: Duration,
    /// Frames queued per socket before the client counts as too slow.
    pub buffer: usize,
    /// Events sent again at most on a resume; past it the client is told to
    /// reload through the REST lists (`replay.truncated`).
    pub replay_max: i64,
    /// Open sockets at most on this instance: an upgraded connection leaves
    /// the server's connection count, so the hub keeps its own.
    pub max_sockets: usize,
}

/// The live core: this instance's hub, the log, and the fan-out typing goes through.
#[derive(Clone)]
pub struct Live {
    db: Db,
    hub: Hub,
    fanout: Arc<dyn Fanout>,
    settings: LiveSettings,
}

impl Live {
    pub fn new(db: Db, fanout: Arc<dyn Fanout>, settings: LiveSettings) -> Live {
        Live {
            db,
            hub: Hub::new(settings.buffer),
            fanout,
            settings,
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Delivers fanned-out events to this instance's sockets (a server chore).
    pub async fn run(self) {
        self.hub.clone().run(self.fanout.clone()).await
    }

    /// Forgets log entries older than `keep`.
    pub async fn prune(&self, keep: Duration) -> Result<u64, sqlx::Error> {
        let mut conn = self.db.bookkeeping().await?;
        store::prune(conn.conn(), crate::db::now_ms() - keep.as_millis() as i64).await
    }
}
