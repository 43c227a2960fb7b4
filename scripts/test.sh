#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and API tests on the three
# backend pairs, then the Playwright suite (JavaScript on and off) against
# the release binary in the system Chromium.
#
# PostgreSQL + Redis tests use GATEHOUSE_TEST_DATABASE_URL and
# GATEHOUSE_TEST_REDIS_URL; when unset, local servers on the default ports
# are used if they answer, else those tests are reported as skipped by name
# (under CI=true a missing URL fails instead).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "==> [$(date +%H:%M:%S)] $*"; }
step "setup"
# A clean checkout gains nothing from incremental caches; they only take disk.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
df -h . | tail -n 1 | awk '{ print "disk: " $4 " free" }'
. scripts/setup.sh
# What only the tests need, from the system's packages: Chromium for the
# browser tests (unless CHROMIUM_PATH names another), and systemd-analyze
# and curl for scripts/check-release.sh.
missing=()
if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -z "${GATEHOUSE_TEST_DATABASE_URL:-}" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export GATEHOUSE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -z "${GATEHOUSE_TEST_REDIS_URL:-}" ] && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export GATEHOUSE_TEST_REDIS_URL="redis://127.0.0.1:6379"
fi
# Which half of the suite runs depends on what answers here: say so first.
if [ -n "${GATEHOUSE_TEST_DATABASE_URL:-}" ] && [ -n "${GATEHOUSE_TEST_REDIS_URL:-}" ]; then
  echo "backend pairs: embedded (SQLite + in-process), PostgreSQL + Redis, and PostgreSQL alone"
else
  echo "backend pairs: not all of embedded, PostgreSQL + Redis and PostgreSQL alone; the tests of a pair whose" \
    "service is missing will be reported as skipped (set GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL," \
    "or start both on their default local ports)"
fi

step "rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p gatehouse-app --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "the hydrate build pulls in neither sqlx nor tokio"
if cargo tree -p gatehouse-app --features hydrate --target wasm32-unknown-unknown -e normal | grep -E '^[^a-z]*(sqlx|tokio) '; then
  echo "the wasm build depends on sqlx or tokio" >&2
  exit 1
fi

step "unit and API tests"
# Tests skipped for want of a backend write their names here (the helpers'
# `report_skipped`); nextest shows no output of a passing test.
mkdir -p target
skipped_log="$PWD/target/skipped-tests.txt"
: > "$skipped_log"
export GATEHOUSE_SKIPPED_LOG="$skipped_log"
# The failover drill runs on its own below, with the servers it needs.
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast -E 'not binary(failover)' 2>&1 | tee target/rust-tests.log
  rust_ran=$(grep -oE '[0-9]+ tests? run' target/rust-tests.log | tail -n 1 | grep -oE '^[0-9]+')
else
  cargo test --workspace --no-fail-fast -- --skip a_primary_failover 2>&1 | tee target/rust-tests.log
  rust_ran=$(grep -oE '^test result: ok\. [0-9]+ passed' target/rust-tests.log | awk '{ n += $4 } END { print n + 0 }')
fi

step "failover drill (PostgreSQL alone: a primary and a synchronous replica, the primary stopped mid-run)"
if [ -d /usr/lib/postgresql ]; then
  bash scripts/failover-test.sh 2>&1 | tee target/failover.log
  rust_ran=$((rust_ran + 1))
else
  echo "SKIPPED the failover drill: no PostgreSQL server binaries under /usr/lib/postgresql"
  echo "failover::a_primary_failover (no PostgreSQL server binaries)" >> "$skipped_log"
fi

step "browser tests"
cargo leptos build --release --precompress
# The browser bundle holds only the islands; keep it small (budget 150 KB gzip).
wasm_gzip=$(gzip -9 -c target/site/pkg/gatehouse.wasm | wc -c)
js_gzip=$(gzip -9 -c target/site/pkg/gatehouse.js | wc -c)
echo "browser bundle: wasm $(wc -c < target/site/pkg/gatehouse.wasm) bytes ($wasm_gzip gzip -9), js $js_gzip gzip -9"
if [ "$wasm_gzip" -gt 153600 ]; then
  echo "the wasm bundle is over its 150 KB gzip budget" >&2
  exit 1
fi
bash scripts/check-release.sh
# How many Playwright tests passed, from its list reporter's last line.
browser_passed() { grep -oE '[0-9]+ passed' "$1" | tail -n 1 | grep -oE '^[0-9]+' || echo 0; }
step "playwright (embedded default)"
(cd end2end && npx playwright test) 2>&1 | tee target/browser-embedded.log
browser_ran=$(browser_passed target/browser-embedded.log)
if [ -n "${GATEHOUSE_TEST_DATABASE_URL:-}" ] && [ -n "${GATEHOUSE_TEST_REDIS_URL:-}" ]; then
  step "playwright (PostgreSQL + Redis)"
  (cd end2end && GATEHOUSE_E2E_BACKEND=postgres-redis npx playwright test) 2>&1 | tee target/browser-postgres-redis.log
  browser_ran=$((browser_ran + $(browser_passed target/browser-postgres-redis.log)))
else
  echo "SKIPPED playwright on PostgreSQL + Redis: GATEHOUSE_TEST_DATABASE_URL / GATEHOUSE_TEST_REDIS_URL not set"
  echo "playwright on PostgreSQL + Redis (the whole suite)" >> "$skipped_log"
fi
# PostgreSQL alone (its own tables as the state store): the device flow in
# the browser and the stock OAuth client; the API suite covers the rest.
if [ -n "${GATEHOUSE_TEST_DATABASE_URL:-}" ]; then
  step "playwright (PostgreSQL alone: the device flow)"
  (cd end2end && GATEHOUSE_E2E_BACKEND=postgres npx playwright test tests/device-flow.spec.ts tests/stock-client.spec.ts) 2>&1 \
    | tee target/browser-postgres.log
  browser_ran=$((browser_ran + $(browser_passed target/browser-postgres.log)))
else
  echo "SKIPPED playwright on PostgreSQL alone: GATEHOUSE_TEST_DATABASE_URL not set"
  echo "playwright on PostgreSQL alone (the device flow)" >> "$skipped_log"
fi
step "done"
skipped=$(wc -l < "$skipped_log")
echo "==> ${rust_ran:-0} Rust tests and $browser_ran browser tests ran; $skipped skipped$( [ "$skipped" -gt 0 ] && printf ' (%s)' "$(paste -sd ',' "$skipped_log" | sed 's/,/, /g')")"
