#!/usr/bin/env bash
# Wallet transfers per second at 32 clients on PostgreSQL and on SQLite, with
# pgbench's built-in TPC-B-like run on the same PostgreSQL as the reference.
# Loopback only; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
PORT=${PORT:-3995}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
ulimit -n 65536 2>/dev/null || true
cargo build --release --bin paiecashfan --example wallet_transfers
echo "pool: DB_MAX_CONNECTIONS=${DB_MAX_CONNECTIONS:-default}"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; $(date -u +%FT%TZ)"

# The server runs with its default pool size unless DB_MAX_CONNECTIONS is set
# (BENCHMARKS.md has a sweep: more connections than the database has cores
# only adds context switches).
run_server() {
  env DATABASE_URL="$1" PORT=$PORT JWT_SECRET=bench-secret-bench-secret-bench-secret-42 DEMO_DATA=true \
    AUTH_RATE_LIMIT_PER_MINUTE=100000000 ${DB_MAX_CONNECTIONS:+DB_MAX_CONNECTIONS=$DB_MAX_CONNECTIONS} \
    DEPOSIT_LIMITS=EUR:1000:1000000 RUST_LOG=warn LOG_FORMAT=json \
    ./target/release/paiecashfan serve > "target/wallet_bench_$2.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
}

echo "--- PostgreSQL: paiecashfan"
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pcf_bench_wallet" -c "CREATE DATABASE pcf_bench_wallet"
run_server "$PGURL/pcf_bench_wallet" postgres
./target/release/examples/wallet_transfers "http://127.0.0.1:$PORT" "$CLIENTS" "$SECONDS_PER_RUN"
kill $SERVER; wait $SERVER 2>/dev/null || true
DATABASE_URL="$PGURL/pcf_bench_wallet" ./target/release/paiecashfan ledger verify | tail -n 1

echo "--- PostgreSQL: pgbench TPC-B-like (reference, same server)"
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pgbench_ref" -c "CREATE DATABASE pgbench_ref"
pgbench -q -i -s 10 "$PGURL/pgbench_ref" >/dev/null 2>&1
pgbench -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -M prepared "$PGURL/pgbench_ref" 2>/dev/null \
  | grep -E 'tps|latency average|number of failed'

echo "--- SQLite: paiecashfan"
DIR=$(mktemp -d)
run_server "sqlite://$DIR/bench.db" sqlite
./target/release/examples/wallet_transfers "http://127.0.0.1:$PORT" "$CLIENTS" "$SECONDS_PER_RUN"
kill $SERVER; wait $SERVER 2>/dev/null || true
DATABASE_URL="sqlite://$DIR/bench.db" ./target/release/paiecashfan ledger verify | tail -n 1
rm -rf "$DIR"
