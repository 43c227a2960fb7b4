#!/usr/bin/env bash
# Scale benchmark of the admin console's listing on PostgreSQL + Redis:
# 1,000,000 token rows and 100,000 accounts, then the server time of the
# first page of /admin/authorized-apps and of a page filtered by user and by
# client (p50 and p99 over BENCH_REQUESTS sequential requests each), and
# EXPLAIN of each listing query, which must use an index.
#
#   bench/console.sh
#
# Needs: the release binary (cargo leptos build --release --precompress), PostgreSQL and
# Redis on their default local ports, psql and curl. Loopback only.
# Tunables: BENCH_TOKENS (1000000), BENCH_ACCOUNTS (100000), BENCH_REQUESTS (200).
set -euo pipefail
cd "$(dirname "$0")"
bench_dir="$PWD"
bin="$bench_dir/../target/release/gatehouse"
[ -x "$bin" ] || { echo "build first: cargo leptos build --release --precompress" >&2; exit 1; }
tokens="${BENCH_TOKENS:-1000000}"
accounts="${BENCH_ACCOUNTS:-100000}"
requests="${BENCH_REQUESTS:-200}"
port=3391
base="http://127.0.0.1:$port"
password="bench-password-123"

run_id="gatehouse_bench_console_$$"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $run_id" >/dev/null 2>&1 || true
  redis-cli --scan --pattern "$run_id:*" | xargs -r -n 500 redis-cli DEL >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $run_id" >/dev/null
export GATEHOUSE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id"
export GATEHOUSE_REDIS_URL="redis://127.0.0.1:6379" GATEHOUSE_REDIS_KEY_PREFIX="$run_id:"
export GATEHOUSE_DATA_DIR="$work/data" GATEHOUSE_BIND="127.0.0.1:$port" RUST_LOG=warn
export GATEHOUSE_SITE_ROOT="$bench_dir/../target/site"
db() { psql -q -h 127.0.0.1 -U postgres -d "$run_id" "$@"; }

"$bin" migrate >/dev/null
printf '%s\n' "$password" | "$bin" user create --email admin@bench.example --name "Bench Admin" --admin >/dev/null

echo "==> seeding $accounts accounts and $tokens tokens (10 clients; a third never used, a tenth revoked)"
seed_start=$(date +%s)
db <<SQL
INSERT INTO oauth_clients (client_id, name, client_type, allowed_scopes, device_grant_enabled, created_at)
SELECT 'client-' || g, 'Client ' || g, 'public', 'full', TRUE, now() FROM generate_series(1, 10) g;
INSERT INTO accounts (id, email, name, password_hash, is_admin, created_at)
SELECT gen_random_uuid(), 'user' || g || '@bench.example', 'User ' || g, 'not-a-hash', FALSE, now()
FROM generate_series(1, $accounts) g;
INSERT INTO oauth_access_tokens (id, subject_email, subject_issuer, account_id, client_id, device_label, prefix,
    token_hash, scopes, created_at, last_used_at, last_used_ip, expires_at, revoked_at)
SELECT gen_random_uuid(), 'user' || (g % $accounts + 1) || '@bench.example', 'local', NULL,
    'client-' || (g % 10 + 1), 'device-' || g, 'gtha_', md5(g::text) || md5((g * 7)::text), 'full',
    now() - interval '29 days' + (g % 2000000) * interval '1 second',
    CASE WHEN g % 3 = 0 THEN NULL ELSE now() - (g % 2000000) * interval '1 second' END,
    '10.0.0.1', now() + interval '30 days',
    CASE WHEN g % 10 = 0 THEN now() - interval '1 day' ELSE NULL END
FROM generate_series(1, $tokens) g;
ANALYZE;
SQL
echo "    seeded in $(( $(date +%s) - seed_start )) s"

"$bin" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

# Sign the admin in (a cookie jar, the CSRF token from the sign-in page).
jar="$work/cookies"
csrf=$(curl -s -c "$jar" -b "$jar" "$base/signin" | grep -o 'name="csrf_token" value="[^"]*"' | head -n 1 | sed 's/.*value="//; s/"$//')
curl -sf -o /dev/null -c "$jar" -b "$jar" -H 'sec-fetch-site: same-origin' "$base/console/api/signin" \
  --data-urlencode "email=admin@bench.example" --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf"

# p50 and p99 of the time to the first byte, in ms (the server renders the
# whole page before it answers), over $requests sequential requests.
measure() {
  local name="$1" path="$2"
  local status
  status=$(curl -s -o "$work/page.html" -w '%{http_code}' -b "$jar" "$base$path")
  [ "$status" = 200 ] || { echo "$path answered $status" >&2; exit 1; }
  grep -q 'class="app-list"' "$work/page.html" || { echo "$path listed nothing" >&2; exit 1; }
  for _ in $(seq 1 "$requests"); do
    curl -s -o /dev/null -w '%{time_starttransfer}\n' -b "$jar" "$base$path"
  done | sort -n | awk -v name="$name" '{ t[NR] = $1 * 1000 } END {
    p50 = t[int(NR * 0.50)]; p99 = t[int(NR * 0.99)];
    printf "%-34s p50 %6.1f ms   p99 %6.1f ms   (%d requests)\n", name, p50, p99, NR }'
}

echo "==> server time of /admin/authorized-apps (50 rows a page)"
measure "first page" "/admin/authorized-apps"
measure "filtered by user" "/admin/authorized-apps?email=user4242%40bench.example"
measure "filtered by client" "/admin/authorized-apps?client=client-3"
measure "first page, revoked" "/admin/authorized-apps?status=revoked"

echo "==> EXPLAIN of each listing query (as the server sends it)"
activity="COALESCE(last_used_at, created_at)"
columns="id, subject_email, subject_issuer, account_id, client_id, device_label, prefix, scopes, created_at, last_used_at, last_used_ip, expires_at, revoked_at"
explain() {
  local name="$1" where="$2"
  local plan
  plan=$(db -At -c "EXPLAIN SELECT $columns FROM oauth_access_tokens WHERE $where ORDER BY $activity DESC, id DESC LIMIT 51")
  local scan
  scan=$(echo "$plan" | grep -oE '(Index Only Scan|Index Scan|Bitmap Index Scan)( Backward)? using [a-z_]+' | head -n 1 || true)
  printf '%-20s %s\n' "$name" "${scan:-NO INDEX SCAN}"
  [ -n "$scan" ] || { echo "$plan" >&2; exit 1; }
}
explain "first page" "revoked_at IS NULL AND expires_at > now()"
explain "filtered by user" "revoked_at IS NULL AND expires_at > now() AND subject_email = 'user4242@bench.example'"
explain "filtered by client" "revoked_at IS NULL AND expires_at > now() AND client_id = 'client-3'"
explain "revoked" "revoked_at IS NOT NULL AND revoked_at < expires_at"
