//! A lean HTTP/1.1 keep-alive load generator (as wrk is): each connection
//! sends the same GET again as soon as the previous answer is read.
//!   reads <url> <connections> <seconds> [Header: value]...
//! Prints one line: requests/s, p50 and p99 latency, non-2xx answers.
//! Loopback only.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: reads <url> <connections> <seconds> [Header: value]..."
    );
    let url = args[1].strip_prefix("http://").unwrap_or(&args[1]);
    let (host, path) = url.split_once('/').unwrap_or((url, ""));
    anyhow::ensure!(
        host.starts_with("127.") || host.starts_with("localhost"),
        "benchmarks only target this machine"
    );
    let connections: usize = args[2].parse()?;
    let seconds: u64 = args[3].parse()?;
    let mut request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in &args[4..] {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let request = request.into_bytes();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (host, request) = (host.to_owned(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0u64;
            let Ok(mut s) = TcpStream::connect(&host).await else {
                return (lat, 1);
            };
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < deadline {
                let t0 = Instant::now();
                if s.write_all(&request).await.is_err() {
                    failed += 1;
                    break;
                }
                match read_response(&mut s, &mut buf).await {
                    Some(status) => {
                        lat.push(t0.elapsed().as_micros() as u64);
                        if !(200..300).contains(&status) && status != 304 {
                            failed += 1;
                        }
                    }
                    None => {
                        failed += 1;
                        break;
                    }
                }
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failed += f;
    }
    all.sort_unstable();
    println!(
        "{:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  non-2xx {}",
        all.len() as f64 / seconds as f64,
        common::percentile(&all, 0.50),
        common::percentile(&all, 0.99),
        failed
    );
    Ok(())
}

/// Reads one answer (headers and a `Content-Length` body); its status.
async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    let mut have = 0;
    let head_end = loop {
        let n = s.read(&mut buf[have..]).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
        if let Some(i) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if have == buf.len() {
            return None;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body_have = have - head_end;
    while body_have < length {
        let n = s.read(&mut buf[..]).await.ok()?;
        if n == 0 {
            return None;
        }
        body_have += n;
    }
    Some(status)
}
