#!/usr/bin/env bash
# Wallet transfers per second at 32 clients on PostgreSQL and on SQLite, with
# pgbench's built-in TPC-B-like run on the same PostgreSQL as the reference.
#
# On a shared machine the speed of the whole box drifts from minute to
# minute, so the PostgreSQL comparison is paired: ROUNDS rounds, each one
# paiecashfan run immediately followed by one pgbench run, and the ratio is
# taken per round (the headline is the median round).
# Loopback only; every run is bounded in time.
# The load generators read the current shapes (decimal strings, RFC 3339).
export API_DEFAULT_VERSION=2026-12-01
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-3995}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
ulimit -n 65536 2>/dev/null || true
cargo build --release --bin paiecashfan --example wallet_transfers
echo "pool: DB_MAX_CONNECTIONS=${DB_MAX_CONNECTIONS:-default}; $CLIENTS clients; $ROUNDS rounds of $SECONDS_PER_RUN s"
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

# One load run; prints "transfers/s p50 p90 p99 max non-201" and keeps the JSON.
load() {
  ./target/release/examples/wallet_transfers "http://127.0.0.1:$PORT" "$CLIENTS" "$SECONDS_PER_RUN" > "$1"
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latencyMs"]
bad = sum(v for k, v in r["statuses"].items() if k != "201")
print(f'{r["transfersPerSecond"]:.0f} {l["p50"]:.1f} {l["p90"]:.1f} {l["p99"]:.1f} {l["max"]:.0f} {bad}/{r["requests"]}')
PY
}

echo "--- PostgreSQL: paiecashfan and pgbench TPC-B-like (reference), paired rounds"
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pcf_bench_wallet" -c "CREATE DATABASE pcf_bench_wallet"
psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS pgbench_ref" -c "CREATE DATABASE pgbench_ref"
pgbench -q -i -s 10 "$PGURL/pgbench_ref" >/dev/null 2>&1
run_server "$PGURL/pcf_bench_wallet" postgres
printf '%-6s %-12s %-8s %-8s %-8s %-8s %-14s %-10s %s\n' round transfers/s p50_ms p90_ms p99_ms max_ms errors pgbench_tps ratio
RATIOS=()
for r in $(seq "$ROUNDS"); do
  read -r tps p50 p90 p99 max errors < <(load "target/wallet_bench_pg_$r.json")
  ref=$(pgbench -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -M prepared "$PGURL/pgbench_ref" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  ratio=$(python3 -c "print(f'{$tps / $ref:.2f}')")
  RATIOS+=("$ratio")
  printf '%-6s %-12s %-8s %-8s %-8s %-8s %-14s %-10.0f %s\n' "$r" "$tps" "$p50" "$p90" "$p99" "$max" "$errors" "$ref" "$ratio"
done
kill $SERVER; wait $SERVER 2>/dev/null || true
echo "median ratio: $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
DATABASE_URL="$PGURL/pcf_bench_wallet" ./target/release/paiecashfan ledger verify | tail -n 1

echo "--- SQLite: paiecashfan"
DIR=$(mktemp -d)
run_server "sqlite://$DIR/bench.db" sqlite
printf '%-12s %-8s %-8s %-8s %-8s %s\n' transfers/s p50_ms p90_ms p99_ms max_ms errors
load target/wallet_bench_sqlite.json
kill $SERVER; wait $SERVER 2>/dev/null || true
DATABASE_URL="sqlite://$DIR/bench.db" ./target/release/paiecashfan ledger verify | tail -n 1
rm -rf "$DIR"
