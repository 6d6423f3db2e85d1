#!/usr/bin/env bash
# Server memory (RSS) idle, under the read and transfer loads, around a
# 1,000-login storm and with 2,000 idle connections, on SQLite and
# PostgreSQL. RSS is read from /proc while each load runs (the highest of
# one sample a second) and after it. Loopback only; every load is bounded.
# The load generators read the current shapes (decimal strings, RFC 3339).
export API_DEFAULT_VERSION=2026-12-01
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3994}
SECS=${SECS:-15}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
ulimit -n 65536 2>/dev/null || true
cargo build --release --bin paiecashfan --example wallet_transfers --example rss_load
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; $(date -u +%FT%TZ)"
BASE="http://127.0.0.1:$PORT"

rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$SERVER/status"; }
# Runs a load in the background and prints the peak RSS seen while it ran
# (with SKIP=n, the peak over the samples after its first n seconds).
peak_during() {
  "$@" > target/rss_load.out 2>&1 &
  local load=$! peak=0 now t=0
  while kill -0 "$load" 2>/dev/null; do
    now=$(rss)
    if [ "$t" -ge "${SKIP:-0}" ]; then peak=$(python3 -c "print(max($peak, $now))"); fi
    sleep 1; t=$((t + 1))
  done
  wait "$load"
  echo "$peak"
}

measure() {
  local url=$1 name=$2
  env DATABASE_URL="$url" PORT=$PORT JWT_SECRET=bench-secret-bench-secret-bench-secret-42 DEMO_DATA=true \
    AUTH_RATE_LIMIT_PER_MINUTE=100000000 DEPOSIT_LIMITS=EUR:1000:1000000 RUST_LOG=warn LOG_FORMAT=json \
    ./target/release/paiecashfan serve > "target/rss_$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "$BASE/api/health" >/dev/null && break; sleep 0.1; done
  sleep 2
  echo "--- $name"
  printf '%-44s %s\n' "after start (demo data hashed a password)" "$(rss) MB"
  printf '%-44s %s\n' "idle, 12 s later" "$(sleep 12; rss) MB"
  printf '%-44s %s\n' "read load (32 clients, ${SECS} s): peak" "$(peak_during ./target/release/examples/rss_load "$BASE" reads 32 "$SECS") MB"
  sed 's/^/    /' target/rss_load.out
  printf '%-44s %s\n' "  after" "$(rss) MB"
  printf '%-44s %s\n' "transfer load (32 clients, ${SECS} s): peak" "$(peak_during ./target/release/examples/wallet_transfers "$BASE" 32 "$SECS") MB"
  python3 -c "import json;r=json.load(open('target/rss_load.out'));print(f'    transfers: {r[\"transfersPerSecond\"]:.0f}/s, p99 {r[\"latencyMs\"][\"p99\"]:.1f} ms')"
  # Its 64 registrations (Argon2) come first; their work areas are given
  # back 10 s later. A second, longer run shows the transfers alone.
  printf '%-44s %s\n' "transfer load, $((SECS + 15)) s: peak after 13 s" "$(SKIP=13 peak_during ./target/release/examples/wallet_transfers "$BASE" 32 "$((SECS + 15))") MB"
  python3 -c "import json;r=json.load(open('target/rss_load.out'));print(f'    transfers: {r[\"transfersPerSecond\"]:.0f}/s, p99 {r[\"latencyMs\"][\"p99\"]:.1f} ms')"
  printf '%-44s %s\n' "  after" "$(rss) MB"
  ./target/release/examples/rss_load "$BASE" logins 1 1 >/dev/null
  printf '%-44s %s\n' "after one more login" "$(rss) MB"
  printf '%-44s %s\n' "1,000-login storm (32 clients): peak" "$(peak_during ./target/release/examples/rss_load "$BASE" logins 1000 32) MB"
  sed 's/^/    /' target/rss_load.out
  printf '%-44s %s\n' "  after" "$(rss) MB"
  printf '%-44s %s\n' "  12 s later (Argon2 work areas released)" "$(sleep 12; rss) MB"
  printf '%-44s %s\n' "2,000 idle keep-alive connections: peak" "$(peak_during ./target/release/examples/rss_load "$BASE" idle 2000 5) MB"
  printf '%-44s %s\n' "  after they closed (next 30 s trim)" "$(sleep 31; rss) MB"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
}

dir=$(mktemp -d)
measure "sqlite://$dir/rss.db" sqlite
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pcf_bench_rss" -c "CREATE DATABASE pcf_bench_rss"
measure "$PGURL/pcf_bench_rss" postgres
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pcf_bench_rss WITH (FORCE)"
rm -rf "$dir"
