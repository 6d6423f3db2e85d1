#!/usr/bin/env bash
# Ticket drop on PostgreSQL: 2,000 concurrent purchase attempts for 500 seats.
# Builds the release server, starts it on a fresh database, runs the load, then
# checks the ledger. Loopback only; bounded by the number of attempts.
# The load generators read the current shapes (decimal strings, RFC 3339).
export API_DEFAULT_VERSION=2026-12-01
set -euo pipefail
cd "$(dirname "$0")/.."
ATTEMPTS=${ATTEMPTS:-2000}
SEATS=${SEATS:-500}
PORT=${PORT:-3996}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=pcf_bench_drop
ulimit -n 65536 2>/dev/null || true

cargo build --release --bin paiecashfan --example ticket_drop
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
# The server's default pool size unless DB_MAX_CONNECTIONS is set.
export DATABASE_URL="$PGURL/$DB" JWT_SECRET=bench-secret-bench-secret-bench-secret-42 \
       DEMO_DATA=true AUTH_RATE_LIMIT_PER_MINUTE=100000000 RUST_LOG=warn LOG_FORMAT=json PORT
[ -n "${DB_MAX_CONNECTIONS:-}" ] && export DB_MAX_CONNECTIONS
echo "pool: DB_MAX_CONNECTIONS=${DB_MAX_CONNECTIONS:-default}"
./target/release/paiecashfan admin create --email bench-admin@example.com --password bench-admin-pw
./target/release/paiecashfan serve > target/ticket_drop_server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; $(date -u +%FT%TZ)"
./target/release/examples/ticket_drop "http://127.0.0.1:$PORT" bench-admin@example.com bench-admin-pw "$ATTEMPTS" "$SEATS"
kill $SERVER; wait $SERVER 2>/dev/null || true
./target/release/paiecashfan ledger verify
grep -c '"level":"ERROR"' target/ticket_drop_server.log && echo "server errors logged (see target/ticket_drop_server.log)" || echo "no server errors logged"
