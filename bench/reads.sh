#!/usr/bin/env bash
# Read throughput, as issue "hot public reads" measures it: the bare-axum
# reference (bench/bare_axum.rs), this server's health route, the public lists
# (clubs, products, events, eSIM plans), the products list answered in
# version 1.0 (the cost of the version layer), and two authenticated reads,
# each with CONNECTIONS keep-alive connections (default 64) for SECONDS_RUN
# seconds (default 10), on SQLite and PostgreSQL (ENGINES). Then, on the
# engines in DROP_ENGINES (default postgres: several instances share one
# database in production), the event list read on two instances while a
# 2,000-fan ticket drop (bench/ticket_drop.rs, ATTEMPTS, SEATS) buys through
# the first, without Redis and with it (DROP_REDIS_URL): reads per second,
# latency, and how stale the seats shown were.
# Release build, demo data, loopback only; the load generators share the
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-64}
SECONDS_RUN=${SECONDS_RUN:-10}
ENGINES=${ENGINES:-sqlite postgres}
PORT=${PORT:-3994}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=pcf_bench_reads
SECRET=bench-secret-bench-secret-bench-secret-42
CURRENT=$(sed -n 's/^pub const CURRENT: &str = "\(.*\)";/\1/p' src/versions/mod.rs)

DROP_ENGINES=${DROP_ENGINES:-postgres}
# Empty: the drop runs without Redis only.
DROP_REDIS_URL=${DROP_REDIS_URL-redis://127.0.0.1:6379}
cargo build --release --bin paiecashfan --example reads --example bare_axum --example ticket_drop
ulimit -n 65536 2>/dev/null || true
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; $(date -u +%FT%TZ); $CONNECTIONS connections, $SECONDS_RUN s each"
load() { ./target/release/examples/reads "$@"; }
run() { printf '%-44s' "$1"; shift; load "http://127.0.0.1:$PORT$1" "$CONNECTIONS" "$SECONDS_RUN" "${@:2}"; }

./target/release/examples/bare_axum "$PORT" & REF=$!
sleep 0.5
printf '%-44s' "bare axum JSON handler (reference)"
load "http://127.0.0.1:$PORT/api/health" "$CONNECTIONS" "$SECONDS_RUN"
kill $REF; wait $REF 2>/dev/null || true

for ENGINE in $ENGINES; do
  if [ "$ENGINE" = sqlite ]; then
    rm -rf target/reads_bench && mkdir -p target/reads_bench
    DATABASE_URL="sqlite://$PWD/target/reads_bench/db.sqlite"
  else
    psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
    DATABASE_URL="$PGURL/$DB"
  fi
  DATABASE_URL=$DATABASE_URL JWT_SECRET=$SECRET DEMO_DATA=true RUST_LOG=warn LOG_FORMAT=json PORT=$PORT \
    AUTH_RATE_LIMIT_PER_MINUTE=1000000 ./target/release/paiecashfan serve > "target/reads_$ENGINE.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
  TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"demo@paiecashfan.com","password":"demo123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  V="PaieCashFan-Version: $CURRENT"
  echo "--- $ENGINE"
  run "GET /api/health" /api/health "$V"
  run "GET /api/clubs" /api/clubs "$V"
  run "GET /api/shop/products?category=all" "/api/shop/products?category=all" "$V"
  run "  the same in version 1.0" "/api/shop/products?category=all" "PaieCashFan-Version: 1.0"
  TAG=$(curl -sfi "http://127.0.0.1:$PORT/api/shop/products?category=all" -H "$V" | sed -n 's/^etag: *//Ip' | tr -d '\r')
  run "  the same revalidated (304)" "/api/shop/products?category=all" "$V" "If-None-Match: $TAG"
  run "GET /api/tickets/events" /api/tickets/events "$V"
  run "GET /api/esim/plans" /api/esim/plans "$V"
  run "GET /api/wallet/balance (signed in)" /api/wallet/balance "$V" "Authorization: Bearer $TOKEN"
  run "GET /api/tickets/my-tickets (signed in)" /api/tickets/my-tickets "$V" "Authorization: Bearer $TOKEN"
  echo "server RSS after the run: $(awk '/VmRSS/{print $2, $3}' /proc/$SERVER/status)"
  if [[ " $DROP_ENGINES " == *" $ENGINE "* ]]; then
    kill $SERVER; wait $SERVER 2>/dev/null || true
    DATABASE_URL=$DATABASE_URL ./target/release/paiecashfan admin create --email bench-admin@example.com --password bench-admin-pw
    # Without Redis (sales reach the second instance within READ_MODEL_MAX_AGE_MS),
    # then with it (sales announced through the fan-out).
    for FANOUT in none "$DROP_REDIS_URL"; do
      [ "$FANOUT" = none ] && EXTRA=() || EXTRA=(REDIS_URL="$FANOUT" REDIS_PREFIX="bench-$$")
      [ -z "$FANOUT" ] && continue
      env "${EXTRA[@]}" DATABASE_URL=$DATABASE_URL JWT_SECRET=$SECRET DEMO_DATA=true RUST_LOG=warn LOG_FORMAT=json PORT=$PORT \
        AUTH_RATE_LIMIT_PER_MINUTE=100000000 ./target/release/paiecashfan serve > "target/reads_${ENGINE}_a.log" 2>&1 &
      SERVER=$!
      env "${EXTRA[@]}" DATABASE_URL=$DATABASE_URL JWT_SECRET=$SECRET DEMO_DATA=true RUST_LOG=warn LOG_FORMAT=json PORT=$((PORT + 1)) \
        AUTH_RATE_LIMIT_PER_MINUTE=100000000 ./target/release/paiecashfan serve > "target/reads_${ENGINE}_b.log" 2>&1 &
      SECOND=$!
      for p in $PORT $((PORT + 1)); do
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/api/health" >/dev/null && break; sleep 0.1; done
      done
      echo "event list on two instances (fan-out: ${FANOUT/none/none, no Redis}) during a ticket drop through the first (${ATTEMPTS:-2000} fans, ${SEATS:-500} seats):"
      WATCH_URLS="http://127.0.0.1:$PORT,http://127.0.0.1:$((PORT + 1))" WATCH_CONNECTIONS=$CONNECTIONS \
        ./target/release/examples/ticket_drop "http://127.0.0.1:$PORT" bench-admin@example.com bench-admin-pw "${ATTEMPTS:-2000}" "${SEATS:-500}"
      echo "server RSS after the drop: $(awk '/VmRSS/{print $2, $3}' /proc/$SERVER/status) (first), $(awk '/VmRSS/{print $2, $3}' /proc/$SECOND/status) (second)"
      kill $SERVER $SECOND; wait $SERVER $SECOND 2>/dev/null || true
    done
  fi
  kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true
  [ "$ENGINE" = postgres ] && psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
done
