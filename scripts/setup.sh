#!/usr/bin/env bash
# Installs what building Gatehouse needs beyond a Rust toolchain, each step
# only when missing: the wasm target, cargo-leptos, the wasm-bindgen CLI that
# matches Cargo.lock, and the npm packages of end2end/ (Playwright and
# binaryen, whose wasm-opt cargo-leptos uses for release builds), and the
# Python SMTP server the email tests start (aiosmtpd).
# Source it (`. scripts/setup.sh`) so the PATH changes stay.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/end2end/node_modules/.bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "==> adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The two build tools are compiled with a light profile: their own release
# profiles (full LTO, one codegen unit) took 17 of a fresh machine's first 34
# minutes, and neither does work where optimisation shows (they run cargo,
# wasm-bindgen and wasm-opt, and copy files).
light_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install "$@"
}

# cargo-leptos 0.3.10 is the newest release that builds with Rust 1.95.
if ! cargo leptos --version 2>/dev/null | grep -q '0\.3\.10'; then
  echo "==> installing cargo-leptos 0.3.10 (a few minutes, once)"
  light_install cargo-leptos --version 0.3.10 --locked
fi

# cargo-leptos would download wasm-bindgen unless the matching one is on PATH.
wbg_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg_version\$"; then
  echo "==> installing wasm-bindgen-cli $wbg_version"
  # Not --locked: its lock file names a crate the registry no longer has.
  light_install wasm-bindgen-cli --version "$wbg_version"
fi

# Playwright (no browser download: the tests use the system Chromium) and
# binaryen's wasm-opt. Debian's binaryen is too old and breaks hydration.
# (Again whenever package-lock.json is newer than what npm last installed.)
if [ ! -x "$root/end2end/node_modules/.bin/wasm-opt" ] || [ ! -f "$root/end2end/node_modules/.package-lock.json" ] \
  || [ "$root/end2end/package-lock.json" -nt "$root/end2end/node_modules/.package-lock.json" ]; then
  echo "==> installing end2end npm packages"
  (cd "$root/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-fund --no-audit)
fi

# The email tests' SMTP server (tests/support/smtp_sink.py), from PyPI.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "==> installing aiosmtpd (the SMTP server the email tests talk to)"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6
fi
