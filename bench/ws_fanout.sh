#!/usr/bin/env bash
# Kick-off in a club room: CLIENTS live sockets (default 5,000) in one room;
# one message fanned out to all of them, then RATE messages/s for SECONDS.
# Builds the release server, starts it on a fresh PostgreSQL database (or
# SQLite with ENGINE=sqlite), runs the load from the same machine and prints
# delivery latencies and the server's memory. Loopback only.
# The load generators read the current shapes (decimal strings, RFC 3339).
export API_DEFAULT_VERSION=2026-12-01
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-5000}
RATE=${RATE:-200}
SECONDS_RUN=${SECONDS_RUN:-30}
PORT=${PORT:-3995}
ENGINE=${ENGINE:-postgres}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=pcf_bench_ws
SECRET=bench-secret-bench-secret-bench-secret-42
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --bin paiecashfan --example ws_fanout
if [ "$ENGINE" = sqlite ]; then
  rm -rf target/ws_bench && mkdir -p target/ws_bench
  DATABASE_URL="sqlite://$PWD/target/ws_bench/db.sqlite"
else
  psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  DATABASE_URL="$PGURL/$DB"
fi
# One fan posts every message of the burst: the chat limit is lifted for it.
export DATABASE_URL JWT_SECRET=$SECRET DEMO_DATA=true AUTH_RATE_LIMIT_PER_MINUTE=100000000 \
       CHAT_RATE_LIMIT_PER_MINUTE=100000000 MAX_CONNECTIONS=20000 RUST_LOG=warn LOG_FORMAT=json PORT
[ -n "${REDIS_URL:-}" ] && export REDIS_URL
./target/release/paiecashfan serve > target/ws_fanout_server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; engine $ENGINE; redis ${REDIS_URL:-none}; $(date -u +%FT%TZ)"
./target/release/examples/ws_fanout "http://127.0.0.1:$PORT" "$DATABASE_URL" "$SECRET" "$SERVER" "$CLIENTS" "$RATE" "$SECONDS_RUN"
grep -c '"level":"ERROR"' target/ws_fanout_server.log && echo "server errors logged (see target/ws_fanout_server.log)" || echo "no server errors logged"
