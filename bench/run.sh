#!/usr/bin/env bash
# Load benchmark of the release binary, loopback only, bounded in time:
# device-code issuance, the pending poll and /v1/me on a warm cache, and the
# server's memory with 100,000 pending flows, on the embedded backend
# (SQLite + in-process) and on PostgreSQL + Redis (and PostgreSQL alone).
#
#   bench/run.sh [embedded|postgres-redis|postgres|both|pairs|memory|limits|overload|ceiling|refresh|dpop]
#   (default: both; memory: only the 100,000-flow RSS measurement, on both
#   backends; limits: the throughput phases with every limiter on, then off,
#   on both backends; overload: /v1/me and the poll alone and under a
#   sign-in flood at three times the hashing capacity; ceiling: the pending
#   poll beside a bare axum handler answering the same requests, and beside
#   node-oidc-provider; refresh: refresh throughput and p99 with
#   BENCH_REFRESH_GRANTS grants; dpop: /v1/me with a bearer token, then
#   with a DPoP-bound one and a proof per request, BENCH_DPOP_PROOFS_COUNT
#   proofs made beforehand by dpop-proofs.mjs with Node; pairs: the
#   throughput phases on all three backend pairs, then PostgreSQL alone's
#   pending poll beside node-oidc-provider, in one run)
#
# Needs: wrk (apt-get install wrk), the release binary (cargo leptos build
# --release), and for postgres-redis and postgres the local servers on their default ports.
# Tunables: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_THREADS (1),
# BENCH_MEMORY_FLOWS (100000), BENCH_ROUNDS (3, overload only), BENCH_REDIS_URL (redis://127.0.0.1:6379; a
# redis+unix:///path URL measures Redis over a Unix socket), BENCH_LIMITS
# (on: every rate limiter checked, with quotas above the benchmark's
# traffic; off: none), BENCH_WORKERS (the server's worker threads; unset:
# one per core).
set -euo pipefail
cd "$(dirname "$0")"
bench_dir="$PWD"
bin="$bench_dir/../target/release/gatehouse"
[ -x "$bin" ] || { echo "build first: cargo leptos build --release --precompress" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-32}"
export BENCH_THREADS="${BENCH_THREADS:-1}"
port=3390
base="http://127.0.0.1:$port"
password="bench-password-123"

# Starts a fresh server for "$1" (embedded, postgres-redis or postgres) with a fresh
# database; sets work (a temp dir), pid and rss_idle.
start_server() {
  local backend="$1"
  work="$(mktemp -d)"
  export BENCH_CODES_DIR="$work/codes"; mkdir -p "$BENCH_CODES_DIR"
  export GATEHOUSE_DATA_DIR="$work/data" GATEHOUSE_BIND="127.0.0.1:$port" GATEHOUSE_LOG_FORMAT=text RUST_LOG=warn
  export GATEHOUSE_SITE_ROOT="$bench_dir/../target/site"
  # Every limiter on with its quota raised past the benchmark's own traffic,
  # so the figures include what checking the limits costs; BENCH_LIMITS=off
  # measures the same without them.
  if [ "${BENCH_LIMITS:-on}" = off ]; then
    export GATEHOUSE_RATE_LIMITS=off
    unset $(env | grep -oE '^GATEHOUSE_LIMIT_[A-Z_]+') 2>/dev/null || true
  else
    export GATEHOUSE_RATE_LIMITS=on
    for limiter in DEVICE_AUTHORIZATION_PER_IP DEVICE_AUTHORIZATION_PER_CLIENT DEVICE_AUTHORIZATION_RESERVED_PER_IP \
      CODE_FAILURES_PER_IP CODE_FAILURES_PER_SESSION CODE_FAILURES_ALARM UNKNOWN_DEVICE_CODE_PER_IP SIGN_IN_FAILURES_PER_ACCOUNT SIGN_IN_FAILURES_PER_IP \
      APPROVALS_PER_ACCOUNT BEARER_PER_TOKEN; do
      export "GATEHOUSE_LIMIT_$limiter=4000000000/1h"
    done
  fi
  unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL
  if [ "$backend" != embedded ]; then
    run_id="gatehouse_bench_$$_$RANDOM"
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $run_id" >/dev/null
    export GATEHOUSE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id"
  fi
  if [ "$backend" = postgres-redis ]; then
    export GATEHOUSE_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
    export GATEHOUSE_REDIS_KEY_PREFIX="$run_id:"
  fi
  printf '%s\n' "$password" | "$bin" user create --email bench@example.com --name Bench >/dev/null
  # BENCH_WORKERS sets the server's tokio worker threads (tokio reads
  # TOKIO_WORKER_THREADS; unset, one per core); only the server gets it.
  env ${BENCH_WORKERS:+TOKIO_WORKER_THREADS=$BENCH_WORKERS} "$bin" serve >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  rss_idle=$(rss_kb)
}

# Stops the server and drops what start_server created.
stop_server() {
  local backend="$1"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres-redis ]; then
    redis_cmd --scan --pattern "$run_id:*" | xargs -r -n 500 redis-cli $(redis_address) DEL >/dev/null
  fi
  if [ "$backend" != embedded ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $run_id" >/dev/null
  fi
  rm -rf "$work"
}

# Whatever stops the script also stops a running server.
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT

# redis-cli's address options for GATEHOUSE_REDIS_URL (TCP or Unix socket).
redis_address() {
  case "$GATEHOUSE_REDIS_URL" in
    redis+unix://*|unix://*) echo "-s ${GATEHOUSE_REDIS_URL#*://}" ;;
    *) echo "-u $GATEHOUSE_REDIS_URL" ;;
  esac
}
redis_cmd() { redis-cli $(redis_address) "$@"; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Runs one measured wrk phase: wrk's figures (the lines matching "$3"), then
# the CPU time the server (and Redis, when in use) spent per request. CPU per
# request varies far less between runs than requests/s on a shared machine.
measured_wrk() {
  local script="$1" url="$2" show="$3"
  local redis_pid="" out server_before redis_before
  [ -n "${GATEHOUSE_REDIS_URL:-}" ] && redis_pid=$(redis_cmd info server | awk -F: '/^process_id/ {print $2+0}')
  server_before=$(cpu_ticks "$pid")
  [ -n "$redis_pid" ] && redis_before=$(cpu_ticks "$redis_pid")
  local wrk_cpu TIMEFORMAT='%U %S'
  wrk_cpu=$({ time (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${seconds}s" --latency -s "$script" "$url" >"$work/wrk.out"); } 2>&1)
  out=$(cat "$work/wrk.out")
  grep -E "$show" <<<"$out"
  local requests hz; requests=$(awk '/requests in/ {print $1}' <<<"$out"); hz=$(getconf CLK_TCK)
  local line; line="CPU per request: server $(( ($(cpu_ticks "$pid") - server_before) * 1000000 / hz / requests )) µs"
  [ -n "$redis_pid" ] && line="$line, Redis $(( ($(cpu_ticks "$redis_pid") - redis_before) * 1000000 / hz / requests )) µs"
  echo "$line, wrk $(awk -v n="$requests" '{printf "%d", ($1 + $2) * 1000000 / n}' <<<"$wrk_cpu") µs"
}

# A flow of the CLI client for the device LABEL, signed in and approved for
# real; its device code goes to standard output.
approved_device_code() {
  local jar="$work/cookies"
  local flow; flow=$(curl -s "$base/v1/oauth/device/code" -d client_id=gatehouse-cli -d "device_label=$1")
  local user_code device_code csrf
  user_code=$(sed -E 's/.*"user_code":"([^"]+)".*/\1/' <<<"$flow")
  device_code=$(sed -E 's/.*"device_code":"([^"]+)".*/\1/' <<<"$flow")
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/signin" | grep -oE 'name="csrf_token" value="[^"]+"' | sed -E 's/.*value="([^"]+)"/\1/')
  curl -s -c "$jar" -b "$jar" "$base/console/api/signin" --data-urlencode email=bench@example.com \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" >/dev/null
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/device?user_code=$user_code" | grep -oE 'name="csrf_token" value="[^"]+"' | head -n1 | sed -E 's/.*value="([^"]+)"/\1/')
  curl -s -c "$jar" -b "$jar" "$base/console/api/oauth/device/approve" --data-urlencode "user_code=$user_code" \
    --data-urlencode "csrf_token=$csrf" >/dev/null
  echo "$device_code"
}

# One real token for /v1/me (BENCH_TOKEN): sign in, approve a flow, redeem it.
make_token() {
  local device_code; device_code=$(approved_device_code bench-me)
  export BENCH_TOKEN
  BENCH_TOKEN=$(curl -s "$base/v1/oauth/device/token" -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
    -d client_id=gatehouse-cli -d "device_code=$device_code" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -sf "$base/v1/me" -H "Authorization: Bearer $BENCH_TOKEN" >/dev/null
}

# One DPoP-bound token for /v1/me and enough proofs for a phase
# (BENCH_DPOP_TOKEN, BENCH_DPOP_PROOFS), made by dpop-proofs.mjs.
make_dpop_token() {
  local device_code; device_code=$(approved_device_code bench-dpop)
  node "$bench_dir/dpop-proofs.mjs" "$base" "$device_code" "${BENCH_DPOP_PROOFS_COUNT:-200000}" "$work"
  export BENCH_DPOP_TOKEN="$work/dpop-token.txt" BENCH_DPOP_PROOFS="$work/dpop-proofs.txt"
}

# What DPoP adds to a resource request: GET /v1/me on a warm cache with a
# bearer token, then with a DPoP-bound token and a fresh proof per request
# (signature check, claims, and the jti recorded in the state store).
dpop_phase() {
  local backend="$1"
  start_server "$backend"
  make_token
  echo "=== $backend: GET /v1/me, Bearer (warm cache), ${seconds}s, $connections connections"
  measured_wrk me.lua "$base/v1/me" "Requests/sec|p50|Non-2xx"
  make_dpop_token
  echo "=== $backend: GET /v1/me, DPoP with a proof per request (warm cache), ${seconds}s, $connections connections"
  measured_wrk me-dpop.lua "$base/v1/me" "Requests/sec|p50|Non-2xx"
  stop_server "$backend"
}

# BENCH_REFRESH_GRANTS (64) grants of the CLI client, one per device, each
# signed in and approved for real; their refresh tokens go to
# BENCH_REFRESH_FILE, one per line.
make_grants() {
  local jar="$work/grant-cookies" count="${BENCH_REFRESH_GRANTS:-64}"
  export BENCH_REFRESH_FILE="$work/refresh-tokens.txt"
  : >"$BENCH_REFRESH_FILE"
  local csrf
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/signin" | grep -oE 'name="csrf_token" value="[^"]+"' | sed -E 's/.*value="([^"]+)"/\1/')
  curl -s -c "$jar" -b "$jar" "$base/console/api/signin" --data-urlencode email=bench@example.com \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" >/dev/null
  for i in $(seq 1 "$count"); do
    local flow user_code device_code
    flow=$(curl -s "$base/v1/oauth/device/code" -d client_id=gatehouse-cli -d "device_label=bench-refresh-$i")
    user_code=$(sed -E 's/.*"user_code":"([^"]+)".*/\1/' <<<"$flow")
    device_code=$(sed -E 's/.*"device_code":"([^"]+)".*/\1/' <<<"$flow")
    csrf=$(curl -s -c "$jar" -b "$jar" "$base/device?user_code=$user_code" | grep -oE 'name="csrf_token" value="[^"]+"' | head -n1 | sed -E 's/.*value="([^"]+)"/\1/')
    curl -s -c "$jar" -b "$jar" "$base/console/api/oauth/device/approve" --data-urlencode "user_code=$user_code" \
      --data-urlencode "csrf_token=$csrf" >/dev/null
    local token
    token=$(curl -s "$base/v1/oauth/device/token" -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
      -d client_id=gatehouse-cli -d "device_code=$device_code")
    grep -oE '"refresh_token":"[^"]+"' <<<"$token" | cut -d'"' -f4 >>"$BENCH_REFRESH_FILE"
  done
}

# Refresh throughput and latency: each of BENCH_REFRESH_GRANTS grants
# refreshed one request at a time (every refresh rotates its token).
refresh_phase() {
  local backend="$1"
  start_server "$backend"
  make_grants
  echo "=== $backend: refresh (grant_type=refresh_token), $(wc -l <"$BENCH_REFRESH_FILE") grants, ${seconds}s, $connections connections"
  measured_wrk refresh.lua "$base/v1/oauth/device/token" "Requests/sec|p50|Non-2xx"
  stop_server "$backend"
}

# A session of its own for the sign-in flood (BENCH_SIGNIN_COOKIE, _CSRF).
make_signin_session() {
  local jar="$work/flood-cookies"
  export BENCH_SIGNIN_CSRF BENCH_SIGNIN_COOKIE
  BENCH_SIGNIN_CSRF=$(curl -s -c "$jar" "$base/signin" | grep -oE 'name="csrf_token" value="[^"]+"' | sed -E 's/.*value="([^"]+)"/\1/')
  BENCH_SIGNIN_COOKIE=$(awk '$6 ~ /gatehouse_session/ {print $6 "=" $7}' "$jar")
}

# /v1/me and the pending poll alone, then under a sign-in flood offered at
# three times what password hashing can serve: the bulkhead keeps the flood
# to its hashing slots and answers the rest 503 at once.
overload_phase() {
  local backend="$1"
  start_server "$backend"
  (cd "$bench_dir" && wrk -t1 -c"$connections" -d3s -s issue.lua "$base/v1/oauth/device/code") >/dev/null
  make_token
  make_signin_session
  echo "=== $backend: sign-in capacity (closed loop, 8 connections, 4s)"
  local answers hashed capacity
  answers=$(cd "$bench_dir" && wrk -t1 -c8 -d4s -s signin.lua "$base/console/api/signin" | grep "sign-in answers")
  echo "$answers"
  hashed=$(grep -oE ' 401=[0-9]+' <<<"$answers" | cut -d= -f2)
  capacity=$(( ${hashed:-4} / 4 ))
  [ "$capacity" -ge 1 ] || capacity=1
  # 16 connections, each waiting between requests: about 3 × capacity a second.
  export BENCH_SIGNIN_DELAY_MS=$(( 16 * 1000 / (3 * capacity) ))
  echo "capacity about $capacity sign-ins/s; the flood offers about $(( 3 * capacity ))/s"
  # p99 of a saturating closed loop moves by a quarter between identical
  # runs on this machine, so each pair runs BENCH_ROUNDS (3) times.
  for round in $(seq 1 "${BENCH_ROUNDS:-3}"); do
    for phase in me poll; do
      local script url
      if [ "$phase" = me ]; then script=me.lua; url="$base/v1/me"; else script=poll.lua; url="$base/v1/oauth/device/token"; fi
      echo "=== $backend, round $round: $phase alone, ${seconds}s"
      measured_wrk "$script" "$url" "Requests/sec|99%"
      echo "=== $backend, round $round: $phase under the sign-in flood, ${seconds}s"
      (cd "$bench_dir" && wrk -t1 -c16 -d"$((seconds + 1))s" -s signin.lua "$base/console/api/signin" | grep "sign-in answers") &
      local flood=$!
      sleep 0.5
      measured_wrk "$script" "$url" "Requests/sec|99%"
      wait "$flood"
    done
  done
  stop_server "$backend"
}

# issuance, pending poll and /v1/me on one server.
throughput_phases() {
  local backend="$1"
  start_server "$backend"

  echo "=== $backend: issuance (POST /v1/oauth/device/code), ${seconds}s, $connections connections"
  measured_wrk issue.lua "$base/v1/oauth/device/code" "Requests/sec|Latency|99%|Non-2xx"
  local pending; pending=$(cat "$BENCH_CODES_DIR"/codes-*.txt | wc -l)
  echo "pending flows: $pending; server RSS: $(($(rss_kb) / 1024)) MB (idle before: $((rss_idle / 1024)) MB)"

  echo "=== $backend: pending poll (POST /v1/oauth/device/token), ${seconds}s, $connections connections"
  measured_wrk poll.lua "$base/v1/oauth/device/token" "Requests/sec|p50|99%"
  echo "--- the same polls for 3s more, counting the answers"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d3s -s poll-answers.lua "$base/v1/oauth/device/token") | grep -E "pool"

  echo "=== $backend: one device code polled flat out (every answer slow_down), ${seconds}s, $connections connections"
  export BENCH_HOT_CODE; BENCH_HOT_CODE=$(head -n1 "$(ls "$BENCH_CODES_DIR"/codes-*.txt | head -n1)")
  measured_wrk hot-poll.lua "$base/v1/oauth/device/token" "Requests/sec|p50|99%"

  make_token
  echo "=== $backend: GET /v1/me (warm cache), ${seconds}s, $connections connections"
  measured_wrk me.lua "$base/v1/me" "Requests/sec|p50|Non-2xx"
  echo "server RSS at the end: $(($(rss_kb) / 1024)) MB"
  stop_server "$backend"
}

# The pending poll beside its ceiling: the same requests (poll.lua, the same
# pending codes) against Gatehouse, then against a bare axum handler that
# parses the form and answers authorization_pending with nothing behind it
# (bench/ceiling). Prints the ratio of the two.
ceiling_phase() {
  local backend="$1"
  local ceiling_bin="$bench_dir/ceiling/target/release/gatehouse-bench-ceiling"
  (cd "$bench_dir/ceiling" && cargo build --release --quiet)
  start_server "$backend"
  # As many pending codes as the throughput phases make, so each is polled
  # less often than its interval and every answer is authorization_pending
  # (a slow_down costs more; poll-answers.lua below counts them).
  # (BENCH_FILL_SECONDS: longer where issuance is slower than the poll, so
  # the codes still outnumber five seconds of polls.)
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${BENCH_FILL_SECONDS:-$seconds}s" -s issue.lua "$base/v1/oauth/device/code") >/dev/null
  echo "=== $backend: pending poll, ${seconds}s, $connections connections"
  local ours ceiling
  ours=$(measured_wrk poll.lua "$base/v1/oauth/device/token" "Requests/sec|p50|99%" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
  local gatehouse_pid="$pid"
  "$ceiling_bin" 127.0.0.1:3391 &
  pid=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:3391/" && break; sleep 0.1; done
  echo "=== ceiling (bare axum, same requests), ${seconds}s, $connections connections"
  ceiling=$(measured_wrk poll.lua "http://127.0.0.1:3391/v1/oauth/device/token" "Requests/sec|p50|99%" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid="$gatehouse_pid"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d3s -s poll-answers.lua "$base/v1/oauth/device/token") | grep -E "pool"
  echo "=== $backend: the pending poll at $(awk -v a="$ours" -v b="$ceiling" 'BEGIN { printf "%.0f%%", 100 * a / b }') of the bare-axum ceiling"
  node_oidc_provider_phase "$ours"
  stop_server "$backend"
}

# The same pending polls against node-oidc-provider (bench/node-oidc-provider.mjs,
# the npm package end2end/ installs, keeping everything in memory): a pool
# issued for as long, then polled. Prints Gatehouse's figure ($1) over its.
node_oidc_provider_phase() {
  local ours="$1" node_url="http://127.0.0.1:3392"
  if [ ! -d "$bench_dir/../end2end/node_modules/oidc-provider" ]; then
    echo "=== node-oidc-provider: not measured (run npm ci in end2end/ first)"
    return
  fi
  local gatehouse_pid="$pid" gatehouse_codes="$BENCH_CODES_DIR"
  export BENCH_CODES_DIR="$work/node-codes"; mkdir -p "$BENCH_CODES_DIR"
  node "$bench_dir/node-oidc-provider.mjs" 127.0.0.1:3392 >"$work/node.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf -o /dev/null "$node_url/.well-known/openid-configuration" && break; sleep 0.1; done
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${seconds}s" -s issue.lua "$node_url/device/auth") >/dev/null
  echo "=== node-oidc-provider (same pending polls, in memory), ${seconds}s, $connections connections"
  local theirs
  theirs=$(GATEHOUSE_REDIS_URL='' measured_wrk poll.lua "$node_url/token" "Requests/sec|p50|99%" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}')
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d3s -s poll-answers.lua "$node_url/token") | grep -E "pool"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid="$gatehouse_pid"; export BENCH_CODES_DIR="$gatehouse_codes"
  echo "=== the pending poll at $(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.1f×", a / b }') node-oidc-provider's"
}

# RSS with exactly BENCH_MEMORY_FLOWS (100,000) pending flows on a fresh server.
memory_phase() {
  local backend="$1"
  start_server "$backend"
  local flows="${BENCH_MEMORY_FLOWS:-100000}"
  (cd "$bench_dir" && BENCH_MAX_FLOWS="$flows" wrk -t"$BENCH_THREADS" -c"$connections" -d120s -s issue.lua "$base/v1/oauth/device/code") >/dev/null
  local pending; pending=$(cat "$BENCH_CODES_DIR"/codes-*.txt | wc -l)
  echo "=== $backend: memory: server RSS $(($(rss_kb) / 1024)) MB with $pending pending flows (idle before: $((rss_idle / 1024)) MB)"
  stop_server "$backend"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); wrk $(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
case "${1:-both}" in
  embedded) throughput_phases embedded; memory_phase embedded ;;
  postgres-redis) throughput_phases postgres-redis; memory_phase postgres-redis ;;
  postgres) throughput_phases postgres; memory_phase postgres ;;
  pairs)
    for backend in embedded postgres-redis postgres; do throughput_phases "$backend"; done
    BENCH_FILL_SECONDS="${BENCH_FILL_SECONDS:-60}" ceiling_phase postgres ;;
  both) throughput_phases embedded; memory_phase embedded; throughput_phases postgres-redis; memory_phase postgres-redis ;;
  memory) memory_phase embedded; memory_phase postgres-redis ;;
  limits)
    for backend in embedded postgres-redis; do
      for limits in on off; do
        echo "##### rate limiters $limits"
        BENCH_LIMITS=$limits throughput_phases "$backend"
      done
    done ;;
  overload) overload_phase embedded; overload_phase postgres-redis ;;
  ceiling) ceiling_phase embedded; ceiling_phase postgres-redis ;;
  refresh) refresh_phase embedded; refresh_phase postgres-redis ;;
  dpop) dpop_phase embedded; dpop_phase postgres-redis ;;
  *) echo "usage: bench/run.sh [embedded|postgres-redis|postgres|both|pairs|memory|limits|overload|ceiling|refresh|dpop]" >&2; exit 2 ;;
esac
