#!/usr/bin/env bash
# The production topology without containers: deploy/nginx.conf, unchanged,
# run by Debian's nginx in front of two paiecashfan processes sharing one
# PostgreSQL database and Redis. In docker-compose.yml `api` resolves to
# every replica; here a private mount namespace gives nginx an /etc/hosts
# where `api` is 127.0.0.2 and 127.0.0.3, where the two instances listen on
# port 3000. Then: the JS client's tests through nginx, and
# clients/js/test-e2e (load spread, chat across instances, an admin's price
# change through both, one instance killed mid-run).
# Needs root (unshare -m, port 80), nginx, node, and BIN (default
# target/debug/paiecashfan), TEST_DATABASE_URL and TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/paiecashfan}
# bench/nginx.sh runs its load here instead of the tests (TOPOLOGY_RUN), on
# a copy of the config without the per-address limits (NGINX_CONF).
NGINX_CONF=${NGINX_CONF:-$PWD/deploy/nginx.conf}
: "${TEST_DATABASE_URL:?}" "${TEST_REDIS_URL:?}"
work=$(mktemp -d)
db=pcf_topology_$$
pids=()
keep_work=yes
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$keep_work" = no ] && rm -rf "$work"
  psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Port 80 on any address, port 3000 on 127.0.0.2, 127.0.0.3 or a wildcard.
taken() { ss -ltnH "sport = :$1" | awk '{print $4}' | grep -qE "$2"; }
if taken 80 '.' || taken 3000 '^(127\.0\.0\.[23]|0\.0\.0\.0|\*|\[::\]):'; then
  echo "!!! port 80, or 3000 on 127.0.0.2/3, is taken: the topology run needs them" >&2
  ss -ltnp "( sport = :80 or sport = :3000 )" >&2; exit 1
fi

psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db"
export DATABASE_URL="${TEST_DATABASE_URL%/*}/$db" REDIS_URL="$TEST_REDIS_URL" REDIS_PREFIX="pcf_topology_$$" \
  JWT_SECRET=topology-secret-topology-secret-topology-secret APP_ENV=development DEMO_DATA=true \
  TRUST_FORWARDED_FOR=true AUTH_RATE_LIMIT_PER_MINUTE=100000 LOG_FORMAT=json RUST_LOG=warn PORT=3000
admin_email=ops@topology.example admin_password='topology admin password'
"$BIN" admin create --email "$admin_email" --password "$admin_password" > "$work/admin.log"

HOST=127.0.0.2 "$BIN" serve > "$work/a.log" 2>&1 & a_pid=$!; pids+=("$a_pid")
HOST=127.0.0.3 "$BIN" serve > "$work/b.log" 2>&1 & b_pid=$!; pids+=("$b_pid")
for base in http://127.0.0.2:3000 http://127.0.0.3:3000; do
  for _ in $(seq 200); do curl -sf "$base/api/health" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/api/health" >/dev/null || { echo "!!! $base never became healthy" >&2; cat "$work"/*.log >&2; exit 1; }
done

printf '127.0.0.1 localhost\n127.0.0.2 api\n127.0.0.3 api\n' > "$work/hosts"
printf 'multi on\n' > "$work/host.conf"
in_namespace() {
  exec unshare -m sh -c "mount --bind '$work/hosts' /etc/hosts && mount --bind '$work/host.conf' /etc/host.conf && exec \"\$@\"" sh "$@"
}
(in_namespace nginx -t -c "$NGINX_CONF")
in_namespace nginx -c "$NGINX_CONF" -g 'daemon off;' > "$work/nginx.log" 2>&1 & pids+=("$!")
for _ in $(seq 100); do curl -sf http://127.0.0.1/api/health >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1/api/health >/dev/null || { echo "!!! nginx never answered" >&2; cat "$work/nginx.log" >&2; exit 1; }

if [ -n "${TOPOLOGY_RUN:-}" ]; then
  NGINX_URL=http://127.0.0.1:80 INSTANCE_A=http://127.0.0.2:3000 INSTANCE_B=http://127.0.0.3:3000 \
    NGINX_LOG="$work/nginx.log" bash -c "$TOPOLOGY_RUN"
  exit $?
fi

status=0
echo "--- the JS client's tests through nginx"
(cd clients/js && PCF_BASE_URL=http://127.0.0.1/api npm test --silent) || status=$?
echo "--- across instances, and one of them killed mid-run"
if [ "$status" = 0 ]; then
  (cd clients/js && PCF_BASE_URL=http://127.0.0.1/api PCF_INSTANCE_A=http://127.0.0.2:3000/api \
    PCF_INSTANCE_B=http://127.0.0.3:3000/api PCF_KILL_PID=$a_pid \
    PCF_ADMIN_EMAIL="$admin_email" PCF_ADMIN_PASSWORD="$admin_password" \
    node --experimental-websocket --test test-e2e/) || status=$?
fi
if grep -q '"status":5[0-9][0-9]' "$work/b.log"; then
  echo "!!! instance B answered 5xx" >&2; grep '"status":5' "$work/b.log" | head >&2; status=1
fi
upstream_5xx=$(grep -c '"upstream_status":"5' "$work/nginx.log" || true)
echo "nginx: $(grep -c '"status"' "$work/nginx.log" || true) requests logged, $upstream_5xx with a 5xx from an instance (the killed one's)"
if [ "$status" = 0 ]; then
  keep_work=no
else
  echo "--- logs in $work" >&2; tail -n 20 "$work/nginx.log" >&2
fi
exit $status
