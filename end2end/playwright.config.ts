import { defineConfig } from "@playwright/test";

// Real Chromium from the system (Playwright cannot download browsers here),
// against the real release binary started by start-server.sh.
export const PORT = Number(process.env.GATEHOUSE_E2E_PORT ?? 3137);
export const BASE_URL = `http://127.0.0.1:${PORT}`;
// The SSO tests use a second Gatehouse with the SSO branch on, and a real
// OpenID provider (oidc-provider.mjs) on another host name, so the two keep
// separate cookies as they would in production.
export const SSO_PORT = Number(process.env.GATEHOUSE_E2E_SSO_PORT ?? 3138);
export const SSO_BASE_URL = `http://127.0.0.1:${SSO_PORT}`;
export const OIDC_PORT = Number(process.env.OIDC_PORT ?? 3190);
// The passkey tests use a third Gatehouse at a host name (browsers allow
// passkeys only there), with admin rights behind a passkey.
export const PASSKEYS_PORT = Number(process.env.GATEHOUSE_E2E_PASSKEYS_PORT ?? 3139);
export const PASSKEYS_URL = `http://localhost:${PASSKEYS_PORT}`;
// The mail server the main Gatehouse sends through (tests/support/smtp_sink.py),
// keeping each message as a JSON file in MAIL_DIR for the tests to read.
export const SMTP_PORT = Number(process.env.GATEHOUSE_E2E_SMTP_PORT ?? 3125);
export const MAIL_DIR = `${__dirname}/.mail`;

const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  fullyParallel: false,
  workers: 1,
  reporter: [["list"]],
  use: { baseURL: BASE_URL, launchOptions: chromium, trace: "off" },
  projects: [
    { name: "js-on", use: { javaScriptEnabled: true } },
    { name: "js-off", use: { javaScriptEnabled: false } },
  ],
  webServer: [
    {
      command: `rm -rf ${MAIL_DIR} && mkdir -p ${MAIL_DIR} && python3 ../tests/support/smtp_sink.py ${MAIL_DIR} ${SMTP_PORT}`,
      port: SMTP_PORT,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      command: "bash ./start-server.sh",
      url: `${BASE_URL}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      command: "node oidc-provider.mjs",
      url: `http://localhost:${OIDC_PORT}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      command: "GATEHOUSE_E2E_PASSKEYS=1 bash ./start-server.sh",
      url: `${PASSKEYS_URL}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      command: "GATEHOUSE_E2E_SSO=1 bash ./start-server.sh",
      url: `${SSO_BASE_URL}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
  ],
});
