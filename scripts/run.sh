#!/usr/bin/env bash
# Builds and runs Gatehouse on its embedded default: a SQLite file in ./data
# and in-process state, at http://127.0.0.1:3000. Nothing else needs to run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo leptos build --release --precompress
exec ./target/release/gatehouse serve
