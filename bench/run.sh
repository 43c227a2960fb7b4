#!/usr/bin/env bash
# Load benchmark of the release binary, loopback only, bounded in time:
# device-code issuance, the pending poll and /v1/me on a warm cache, and the
# server's memory with 100,000 pending flows, on the embedded backend
# (SQLite + in-process) and on PostgreSQL + Redis.
#
#   bench/run.sh [embedded|postgres-redis|both]   (default: both)
#
# Needs: wrk (apt-get install wrk), the release binary (cargo leptos build
# --release), and for postgres-redis the local servers on their default ports.
# Tunables: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
# BENCH_MEMORY_FLOWS (100000).
set -euo pipefail
cd "$(dirname "$0")"
bench_dir="$PWD"
bin="$bench_dir/../target/release/gatehouse"
[ -x "$bin" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-32}"
export BENCH_THREADS="${BENCH_THREADS:-2}"
port=3390
base="http://127.0.0.1:$port"
password="bench-password-123"

run_backend() {
  local backend="$1"
  local work; work="$(mktemp -d)"
  export BENCH_CODES_DIR="$work/codes"; mkdir -p "$BENCH_CODES_DIR"
  export GATEHOUSE_DATA_DIR="$work/data" GATEHOUSE_BIND="127.0.0.1:$port" GATEHOUSE_LOG_FORMAT=text RUST_LOG=warn
  export GATEHOUSE_SITE_ROOT="$bench_dir/../target/site"
  # Loopback load comes from one address: no per-IP limit may hide the figure.
  unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL
  if [ "$backend" = postgres-redis ]; then
    local db="gatehouse_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db" >/dev/null
    export GATEHOUSE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    export GATEHOUSE_REDIS_URL="redis://127.0.0.1:6379"
    export GATEHOUSE_REDIS_KEY_PREFIX="gatehouse-bench-$$:"
  fi
  printf '%s\n' "$password" | "$bin" user create --email bench@example.com --name Bench >/dev/null
  "$bin" serve >"$work/server.log" 2>&1 &
  local pid=$!
  trap 'kill $pid 2>/dev/null || true' RETURN
  for _ in $(seq 1 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  local rss_idle; rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

  echo "=== $backend: issuance (POST /v1/oauth/device/code), ${seconds}s, $connections connections"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${seconds}s" --latency -s issue.lua "$base/v1/oauth/device/code") | grep -E "Requests/sec|Latency|99%|Non-2xx"
  local pending; pending=$(cat "$BENCH_CODES_DIR"/codes-*.txt | wc -l)
  local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "pending flows: $pending; server RSS: $((rss / 1024)) MB (idle before: $((rss_idle / 1024)) MB)"

  echo "=== $backend: pending poll (POST /v1/oauth/device/token), ${seconds}s, $connections connections"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${seconds}s" --latency -s poll.lua "$base/v1/oauth/device/token") | grep -E "Requests/sec|p50"
  echo "--- the same polls for 3s more, counting the answers"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d3s -s poll-answers.lua "$base/v1/oauth/device/token") | grep -E "pool"

  # One real token for /v1/me: sign in, approve a flow, redeem it.
  local jar="$work/cookies"
  local flow; flow=$(curl -s "$base/v1/oauth/device/code" -d client_id=gatehouse-cli -d device_label=bench-me)
  local user_code device_code csrf
  user_code=$(sed -E 's/.*"user_code":"([^"]+)".*/\1/' <<<"$flow")
  device_code=$(sed -E 's/.*"device_code":"([^"]+)".*/\1/' <<<"$flow")
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/signin" | grep -oE 'name="csrf_token" value="[^"]+"' | sed -E 's/.*value="([^"]+)"/\1/')
  curl -s -c "$jar" -b "$jar" "$base/console/api/signin" --data-urlencode email=bench@example.com \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" >/dev/null
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/device?user_code=$user_code" | grep -oE 'name="csrf_token" value="[^"]+"' | head -n1 | sed -E 's/.*value="([^"]+)"/\1/')
  curl -s -c "$jar" -b "$jar" "$base/console/api/oauth/device/approve" --data-urlencode "user_code=$user_code" \
    --data-urlencode "csrf_token=$csrf" >/dev/null
  export BENCH_TOKEN
  BENCH_TOKEN=$(curl -s "$base/v1/oauth/device/token" -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
    -d client_id=gatehouse-cli -d "device_code=$device_code" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -sf "$base/v1/me" -H "Authorization: Bearer $BENCH_TOKEN" >/dev/null

  echo "=== $backend: GET /v1/me (warm cache), ${seconds}s, $connections connections"
  (cd "$bench_dir" && wrk -t"$BENCH_THREADS" -c"$connections" -d"${seconds}s" --latency -s me.lua "$base/v1/me") | grep -E "Requests/sec|p50|Non-2xx"
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "server RSS at the end: $((rss / 1024)) MB"
  kill $pid; wait $pid 2>/dev/null || true
  if [ "$backend" = postgres-redis ]; then
    redis-cli -h 127.0.0.1 --scan --pattern "gatehouse-bench-$$:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE gatehouse_bench_$$" >/dev/null
  fi
  rm -rf "$work"
}

# RSS with exactly BENCH_MEMORY_FLOWS (100,000) pending flows on a fresh server.
memory_phase() {
  local backend="$1"
  local work; work="$(mktemp -d)"
  export BENCH_CODES_DIR="$work/codes"; mkdir -p "$BENCH_CODES_DIR"
  export GATEHOUSE_DATA_DIR="$work/data" GATEHOUSE_BIND="127.0.0.1:$port" GATEHOUSE_LOG_FORMAT=text RUST_LOG=warn
  unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL
  if [ "$backend" = postgres-redis ]; then
    local db="gatehouse_bench_mem_$$"
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db" >/dev/null
    export GATEHOUSE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    export GATEHOUSE_REDIS_URL="redis://127.0.0.1:6379"
    export GATEHOUSE_REDIS_KEY_PREFIX="gatehouse-bench-mem-$$:"
  fi
  "$bin" serve >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  local idle; idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  local flows="${BENCH_MEMORY_FLOWS:-100000}"
  (cd "$bench_dir" && BENCH_MAX_FLOWS="$flows" wrk -t"$BENCH_THREADS" -c"$connections" -d120s -s issue.lua "$base/v1/oauth/device/code") >/dev/null
  local pending; pending=$(cat "$BENCH_CODES_DIR"/codes-*.txt | wc -l)
  local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "=== $backend: memory: server RSS $((rss / 1024)) MB with $pending pending flows (idle before: $((idle / 1024)) MB)"
  kill $pid; wait $pid 2>/dev/null || true
  if [ "$backend" = postgres-redis ]; then
    redis-cli -h 127.0.0.1 --scan --pattern "gatehouse-bench-mem-$$:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE gatehouse_bench_mem_$$" >/dev/null
  fi
  rm -rf "$work"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); wrk $(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
case "${1:-both}" in
  embedded) run_backend embedded; memory_phase embedded ;;
  postgres-redis) run_backend postgres-redis; memory_phase postgres-redis ;;
  both) run_backend embedded; memory_phase embedded; run_backend postgres-redis; memory_phase postgres-redis ;;
  *) echo "usage: bench/run.sh [embedded|postgres-redis|both]" >&2; exit 2 ;;
esac
