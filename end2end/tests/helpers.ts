import { expect, type APIRequestContext, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import * as fs from "node:fs";
import * as path from "node:path";

export const EMAIL = "e2e@example.com";
export const PASSWORD = "e2e-password-123";
export const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

export const ADMIN_EMAIL = "admin@example.com";

/** Starts a device flow over HTTP, as a CLI would. */
export async function startFlow(
  request: APIRequestContext,
  deviceLabel: string,
  clientId = "gatehouse-cli",
): Promise<DeviceAuthorization> {
  const response = await request.post("/v1/oauth/device/code", {
    form: { client_id: clientId, device_label: deviceLabel },
  });
  expect(response.status()).toBe(200);
  return (await response.json()) as DeviceAuthorization;
}

/** One token poll. */
export async function poll(request: APIRequestContext, deviceCode: string, clientId = "gatehouse-cli") {
  const response = await request.post("/v1/oauth/device/token", {
    form: { grant_type: GRANT_TYPE, device_code: deviceCode, client_id: clientId },
  });
  return { status: response.status(), body: await response.json() };
}

/**
 * Fails the test on any uncaught page error, and (JS on) waits until every
 * island on the page is live. Pages are Leptos islands: only the
 * interactive parts hydrate; everything else is server-rendered HTML.
 */
export function watchPage(page: Page, javaScriptEnabled: boolean, onlyOrigin?: string) {
  const errors: string[] = [];
  // `onlyOrigin`: count only Gatehouse's errors when a test also visits
  // another site (the SSO provider's pages load things it cannot reach here).
  const ours = () => !onlyOrigin || page.url().startsWith(onlyOrigin);
  page.on("pageerror", (err) => {
    if (ours()) errors.push(err.message);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error" && ours()) errors.push(msg.text());
  });
  return {
    errors,
    async hydrated() {
      if (javaScriptEnabled) {
        const islands = await page.locator("leptos-island").count();
        await expect(page.locator("[data-island-ready='true']")).toHaveCount(islands, { timeout: 15_000 });
      }
    },
  };
}

/** Fills in and submits the sign-in form the browser was sent to. */
export async function signIn(page: Page, email = EMAIL) {
  await expect(page).toHaveURL(/\/signin\?next=/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

// Pages are checked with axe-core (JavaScript on: axe runs as a script in the
// page) and photographed at desktop and phone widths into
// end2end/screenshots/ (git-ignored) for review.
const SHOTS = path.resolve(__dirname, "../screenshots");

/** No axe-core violations (JS on), and screenshots at 1280 and 390 px. */
export async function check(page: Page, name: string, javaScriptEnabled: boolean, project: string) {
  if (javaScriptEnabled) {
    const results = await new AxeBuilder({ page }).analyze();
    const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect(summary, `${name}: accessibility violations`).toEqual([]);
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const [label, width] of [["desktop", 1280], ["phone", 390]] as const) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: path.join(SHOTS, `${name}-${label}-${project}.png`), fullPage: true });
  }
}
