#!/usr/bin/env bash
# Checks what the release build promises an operator (run by scripts/test.sh
# after `cargo leptos build --release --precompress`):
# - the binary carries its site: copied alone into an empty directory and
#   started there, it serves the same CSS, JS and wasm as target/site;
# - deploy/gatehouse.service passes `systemd-analyze verify` without a
#   warning, and its offline exposure score stays at or below 2.0.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

alone="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$alone"
}
trap cleanup EXIT
cp target/release/gatehouse "$alone/"
(
  cd "$alone"
  exec env -u GATEHOUSE_SITE_ROOT -u LEPTOS_SITE_ROOT -u GATEHOUSE_DATABASE_URL -u GATEHOUSE_REDIS_URL \
    -u GATEHOUSE_CONFIG -u GATEHOUSE_PUBLIC_URL -u GATEHOUSE_SECRET_KEY \
    GATEHOUSE_DATA_DIR="$alone/data" GATEHOUSE_BIND=127.0.0.1:0 GATEHOUSE_LOG_FORMAT=json RUST_LOG=info ./gatehouse serve
) >"$alone/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(grep 'Gatehouse is listening' "$alone/server.log" | grep -oE '"port":[0-9]+' | grep -oE '[0-9]+' || true)"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$alone/server.log" >&2; echo "the copied binary did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$alone/server.log" >&2; echo "the copied binary never said where it listens" >&2; exit 1; }
for asset in pkg/gatehouse.wasm pkg/gatehouse.js pkg/gatehouse.css; do
  curl -fsS "http://127.0.0.1:$port/$asset" -o "$alone/served"
  cmp -s "$alone/served" "$root/target/site/$asset" || { echo "/$asset differs from target/site/$asset" >&2; exit 1; }
done
curl -fsS "http://127.0.0.1:$port/device" | grep -q '/pkg/gatehouse.css' || { echo "/device does not link the stylesheet" >&2; exit 1; }
echo "the release binary serves its own site from an empty directory"

unit_dir="$(mktemp -d)"
sed "s#/usr/local/bin/gatehouse#$root/target/release/gatehouse#" deploy/gatehouse.service >"$unit_dir/gatehouse.service"
warnings="$(systemd-analyze verify "$unit_dir/gatehouse.service" 2>&1)" || { echo "$warnings" >&2; exit 1; }
[ -z "$warnings" ] || { echo "systemd-analyze verify: $warnings" >&2; exit 1; }
systemd-analyze security --offline=yes --threshold=20 "$unit_dir/gatehouse.service" >"$unit_dir/security.txt" 2>&1 \
  || { cat "$unit_dir/security.txt" >&2; echo "deploy/gatehouse.service exposure above 2.0" >&2; exit 1; }
echo "deploy/gatehouse.service: $(grep -oE 'Overall exposure level.*' "$unit_dir/security.txt")"
rm -rf "$unit_dir"
