#!/usr/bin/env bash
# Builds and runs Gatehouse on its embedded default: a SQLite file in ./data
# and in-process state, at http://127.0.0.1:3000. Nothing else needs to run.
#
# The build is cargo's dev profile (no wasm-opt, no LTO): a fresh machine
# serves the first page in minutes, and the server is still fast enough to
# try every flow by hand (argon2 is optimised even there, see Cargo.toml).
# The benchmarks and the browser tests use the release build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo leptos build
exec ./target/debug/gatehouse serve "$@"
