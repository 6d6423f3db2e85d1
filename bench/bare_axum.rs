//! The reference for `bench/reads.sh`: the smallest axum server answering a
//! JSON health route, to compare the real server's per-request cost with.
//!   bare_axum <port>

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: bare_axum <port>"))?
        .parse()?;
    let app = Router::new().route(
        "/api/health",
        get(|| async { Json(serde_json::json!({"status": "ok"})) }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
