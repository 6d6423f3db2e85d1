#!/usr/bin/env bash
# Reads through nginx (deploy/nginx.conf) in front of two instances on
# PostgreSQL and Redis, as .ci/topology.sh sets them up, against the same
# reads on one instance directly: the cost of the proxy hop (health) and
# what the one-second micro-cache does for a public list (events). nginx's
# per-address limits are taken out of the copy of the config used here: the
# load generator is one address. Release build; CONNECTIONS (64) keep-alive
# connections for SECONDS_RUN (10) seconds each; needs root (see
# .ci/topology.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CONNECTIONS=${CONNECTIONS:-64} SECONDS_RUN=${SECONDS_RUN:-10}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
cargo build --release --bin paiecashfan --example reads
sed -e '/limit_req zone=per_client/d' -e '/limit_conn connections/d' deploy/nginx.conf > target/nginx-bench.conf
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/Mem:/{print $2}') RAM; $(date -u +%FT%TZ); $CONNECTIONS connections, $SECONDS_RUN s each; nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')"
CURRENT=$(sed -n 's/^pub const CURRENT: &str = "\(.*\)";/\1/p' src/versions/mod.rs)
export V="PaieCashFan-Version: $CURRENT"
BIN=target/release/paiecashfan NGINX_CONF=$PWD/target/nginx-bench.conf TOPOLOGY_RUN='
  run() { printf "%-52s" "$1"; ./target/release/examples/reads "$2" "$CONNECTIONS" "$SECONDS_RUN" "$V"; }
  run "GET /api/health, instance A directly" "$INSTANCE_A/api/health"
  run "GET /api/health through nginx (both instances)" "$NGINX_URL/api/health"
  run "GET /api/tickets/events, instance A directly" "$INSTANCE_A/api/tickets/events"
  run "GET /api/tickets/events through nginx (micro-cache)" "$NGINX_URL/api/tickets/events"
  echo "  nginx cache status of the events reads: $(grep "\"uri\":\"/api/tickets/events\"" "$NGINX_LOG" | grep -o "\"cache\":\"[A-Z]*\"" | sed "s/\"cache\"://; s/\"//g" | sort | uniq -c | tr -s " " | paste -sd, -) (MISS, EXPIRED and REVALIDATED went to an instance)"
' .ci/topology.sh
