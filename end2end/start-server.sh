#!/usr/bin/env bash
# Starts the release binary on a fresh database with the test accounts and a
# second client: the embedded default, or with GATEHOUSE_E2E_BACKEND=
# postgres-redis a fresh PostgreSQL database and Redis key prefix (from
# GATEHOUSE_TEST_DATABASE_URL / GATEHOUSE_TEST_REDIS_URL), or with
# GATEHOUSE_E2E_BACKEND=postgres a fresh PostgreSQL database alone (its own
# tables as the state store).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
bin="$root/target/release/gatehouse"
[ -x "$bin" ] || { echo "missing $bin: run 'cargo leptos build --release --precompress' first" >&2; exit 1; }
# GATEHOUSE_E2E_SSO=1: a second server with the SSO branch on, pointed at
# the test OpenID provider (oidc-provider.mjs). GATEHOUSE_E2E_PASSKEYS=1: a
# third at a host name (passkeys need one), with admin rights behind a
# passkey and e2e-policy's approvers needing one (passkeys.spec.ts).
if [ "${GATEHOUSE_E2E_PASSKEYS:-}" = 1 ]; then
  export GATEHOUSE_DATA_DIR="$PWD/.data-passkeys"
  export GATEHOUSE_BIND="127.0.0.1:${GATEHOUSE_E2E_PASSKEYS_PORT:-3139}"
  export GATEHOUSE_ADMINS_REQUIRE_PASSKEY=true
elif [ "${GATEHOUSE_E2E_SSO:-}" = 1 ]; then
  export GATEHOUSE_DATA_DIR="$PWD/.data-sso"
  export GATEHOUSE_BIND="127.0.0.1:${GATEHOUSE_E2E_SSO_PORT:-3138}"
  export GATEHOUSE_SSO_ISSUER="http://localhost:${OIDC_PORT:-3190}"
  export GATEHOUSE_SSO_CLIENT_ID="gatehouse-e2e"
  export GATEHOUSE_SSO_DISPLAY_NAME="Example SSO"
  export GATEHOUSE_SSO_ALLOWED_EMAIL_DOMAINS="sso.example"
  # Ask the provider at every refresh, so a leaver test need not wait an hour.
  export GATEHOUSE_SSO_RECHECK_SECS=0
  # Logins starting with "admin" are in this group at the provider.
  export GATEHOUSE_SSO_ADMIN_GROUPS="gatehouse-admins"
else
  export GATEHOUSE_DATA_DIR="$PWD/.data"
  export GATEHOUSE_BIND="127.0.0.1:${GATEHOUSE_E2E_PORT:-3137}"
  # Email through the test's SMTP server (playwright.config.ts starts it).
  export GATEHOUSE_SMTP_URL="smtp://127.0.0.1:${GATEHOUSE_E2E_SMTP_PORT:-3125}"
  export GATEHOUSE_EMAIL_FROM="Gatehouse <gatehouse@example.com>"
fi
# No GATEHOUSE_SITE_ROOT: the release binary serves the site it carries.
unset GATEHOUSE_SITE_ROOT LEPTOS_SITE_ROOT
# Every test comes from 127.0.0.1: the per-address and per-account limits
# are raised so the suite's own traffic is not refused. The per-session
# limit keeps its default (each test has its own browser), and pages.spec.ts
# meets it on purpose.
export GATEHOUSE_LIMIT_DEVICE_AUTHORIZATION_PER_IP=100000/1h
export GATEHOUSE_LIMIT_CODE_FAILURES_PER_IP=100000/1h
export GATEHOUSE_LIMIT_UNKNOWN_DEVICE_CODE_PER_IP=100000/1h
export GATEHOUSE_LIMIT_SIGN_IN_FAILURES_PER_IP=100000/1h
export GATEHOUSE_LIMIT_APPROVALS_PER_ACCOUNT=100000/1h
export GATEHOUSE_LIMIT_PASSWORD_RESETS_PER_IP=100000/1h
export GATEHOUSE_LIMIT_PASSWORD_RESETS_PER_ACCOUNT=100000/1h
export GATEHOUSE_LIMIT_PASSKEY_CEREMONIES_PER_IP=100000/1h
unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_PUBLIC_URL
# Loopback is a trusted proxy: a test names a browser's or a device's
# network with X-Forwarded-For (phishing.spec.ts); without one, a request
# counts as the proxy's own, which no approval-policy network rule matches.
export GATEHOUSE_TRUSTED_PROXIES=127.0.0.1
# A mail server needs the public URL its links start with.
if [ -n "${GATEHOUSE_SMTP_URL:-}" ]; then export GATEHOUSE_PUBLIC_URL="http://$GATEHOUSE_BIND"; fi
if [ "${GATEHOUSE_E2E_PASSKEYS:-}" = 1 ]; then export GATEHOUSE_PUBLIC_URL="http://localhost:${GATEHOUSE_BIND##*:}"; fi
rm -rf "$GATEHOUSE_DATA_DIR"
backend="${GATEHOUSE_E2E_BACKEND:-embedded}"
if [ "$backend" = postgres-redis ] || [ "$backend" = postgres ]; then
  base="${GATEHOUSE_TEST_DATABASE_URL:?set GATEHOUSE_TEST_DATABASE_URL}"
  name="gatehouse_e2e_$$_${GATEHOUSE_E2E_SSO:-0}_${GATEHOUSE_E2E_PASSKEYS:-0}"
  psql -q "$base" -c "CREATE DATABASE $name" >/dev/null
  export GATEHOUSE_DATABASE_URL="${base%/*}/$name"
fi
if [ "$backend" = postgres-redis ]; then
  export GATEHOUSE_REDIS_URL="${GATEHOUSE_TEST_REDIS_URL:?set GATEHOUSE_TEST_REDIS_URL}"
  export GATEHOUSE_REDIS_KEY_PREFIX="$name:"
fi
printf '%s\n' "e2e-password-123" | "$bin" user create --email e2e@example.com --name "E2E Tester" --workspace "E2E"
printf '%s\n' "e2e-password-123" | "$bin" user create --email admin@example.com --name "E2E Admin" --admin
# Whose password the reset test changes (each run sets a new one).
printf '%s\n' "e2e-password-123" | "$bin" user create --email reset@example.com --name "Reset Tester"
# Whose password the change test changes, one per Playwright project.
for project in js-on js-off; do
  printf '%s\n' "e2e-password-123" | "$bin" user create --email "change-$project@example.com" --name "Change Tester"
done
"$bin" client create --id e2e-bot --name "E2E Bot" >/dev/null
# Whose approval policy phishing.spec.ts sets (and puts back) in the editor.
"$bin" client create --id e2e-policy --name "E2E Policy" >/dev/null
if [ "${GATEHOUSE_E2E_PASSKEYS:-}" = 1 ]; then
  "$bin" client update --id e2e-policy --approver-auth phishing_resistant >/dev/null
fi
exec "$bin" serve
