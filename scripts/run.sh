#!/usr/bin/env bash
# Builds and runs Gatehouse on its embedded default: a SQLite file in ./data
# and in-process state, at http://localhost:3000. Nothing else needs to run.
# (Its public URL is http://localhost:3000 unless GATEHOUSE_PUBLIC_URL says
# otherwise: browsers allow passkeys on a host name in a secure context, and
# http://localhost is one; http://127.0.0.1 is not a host name.)
#
# The build is cargo's dev profile (no wasm-opt, no LTO): a fresh machine
# serves the first page in minutes, and the server is still fast enough to
# try every flow by hand (argon2 is optimised even there, see Cargo.toml).
# The benchmarks and the browser tests use the release build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo leptos build
bind="${GATEHOUSE_BIND:-127.0.0.1:3000}"
export GATEHOUSE_PUBLIC_URL="${GATEHOUSE_PUBLIC_URL:-http://localhost:${bind##*:}}"
exec ./target/debug/gatehouse serve "$@"
