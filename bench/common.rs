//! What the load generators in `bench/` share (included with `#[path]`).

/// Resident memory of process `pid`, in KiB (0 if it cannot be read).
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The first four arguments every load generator takes: the server's base
/// URL (this machine only), its database, its JWT secret and its pid.
pub struct Target {
    pub base: String,
    pub db_url: String,
    pub secret: String,
    pub pid: String,
}

pub fn target(args: &[String], usage: &str) -> anyhow::Result<Target> {
    anyhow::ensure!(args.len() >= 5, "usage: {usage}");
    let base = args[1].trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("http://localhost"),
        "benchmarks only target this machine"
    );
    Ok(Target {
        base,
        db_url: args[2].clone(),
        secret: args[3].clone(),
        pid: args[4].clone(),
    })
}
