#!/usr/bin/env bash
# Recommendations at scale: FANS fans (default 10,000) with PURCHASES
# purchases (default 100,000), the model rebuilt once (time and server
# memory), then GET /api/ai/recommendations from CLIENTS clients (default
# 32) for SECONDS_RUN seconds. Builds the release server, starts it on a
# fresh SQLite database (or PostgreSQL with ENGINE=postgres). Loopback only.
# The load generators read the current shapes (decimal strings, RFC 3339).
export API_DEFAULT_VERSION=2026-12-01
set -euo pipefail
cd "$(dirname "$0")/.."
FANS=${FANS:-10000}
PURCHASES=${PURCHASES:-100000}
CLIENTS=${CLIENTS:-32}
SECONDS_RUN=${SECONDS_RUN:-20}
PORT=${PORT:-3995}
ENGINE=${ENGINE:-sqlite}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=pcf_bench_ai
SECRET=bench-secret-bench-secret-bench-secret-42

cargo build --release --bin paiecashfan --example ai_recs
if [ "$ENGINE" = sqlite ]; then
  rm -rf target/ai_bench && mkdir -p target/ai_bench
  DATABASE_URL="sqlite://$PWD/target/ai_bench/db.sqlite"
else
  psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  DATABASE_URL="$PGURL/$DB"
fi
export DATABASE_URL JWT_SECRET=$SECRET DEMO_DATA=true RUST_LOG=warn LOG_FORMAT=json PORT
./target/release/paiecashfan serve > target/ai_recs_server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; engine $ENGINE; $(date -u +%FT%TZ)"
/usr/bin/time -f "bench client CPU: %U s user, %S s system, %e s wall" ./target/release/examples/ai_recs "http://127.0.0.1:$PORT" "$DATABASE_URL" "$SECRET" "$SERVER" "$FANS" "$PURCHASES" "$CLIENTS" "$SECONDS_RUN"
grep -c '"level":"ERROR"' target/ai_recs_server.log && echo "server errors logged (see target/ai_recs_server.log)" || echo "no server errors logged"
