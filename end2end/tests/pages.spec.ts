import { test, expect, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import * as fs from "node:fs";
import * as path from "node:path";
import { ADMIN_EMAIL, EMAIL, PASSWORD, startFlow } from "./helpers";

// Every page people see, checked with axe-core (JavaScript on: axe runs as a
// script in the page) and photographed at desktop and phone widths into
// end2end/screenshots/ (git-ignored) for review.
const SHOTS = path.resolve(__dirname, "../screenshots");

async function signInAs(page: Page, email: string) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/signin/);
}

async function check(page: Page, name: string, javaScriptEnabled: boolean, project: string) {
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

test("every page passes axe-core and is photographed at 1280 and 390 px", async ({ page, browser, request, javaScriptEnabled }, info) => {
  const project = info.project.name;
  // Anonymous pages.
  for (const [name, url] of [
    ["home", "/"],
    ["device-entry", "/device"],
    ["signin", "/signin"],
    ["not-found", "/no-such-page"],
    ["error", "/error?error=invalid_request"],
  ]) {
    await page.goto(url);
    await check(page, name, javaScriptEnabled, project);
  }
  // A person: the authorize view and the Devices page.
  const flow = await startFlow(request, `e2e-pages-${project}`);
  await signInAs(page, EMAIL);
  await page.goto(flow.verification_uri_complete);
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await check(page, "device-authorize", javaScriptEnabled, project);
  await page.goto("/device?user_code=BCDF-GHJK");
  await check(page, "device-invalid", javaScriptEnabled, project);
  await page.goto("/settings/authorized-apps?confirm=revoke-all");
  await check(page, "settings-authorized-apps", javaScriptEnabled, project);
  await page.goto("/admin/authorized-apps");
  await check(page, "admin-forbidden", javaScriptEnabled, project);

  // An admin, in a window of their own.
  const context = await browser.newContext({ javaScriptEnabled });
  const admin = await context.newPage();
  await signInAs(admin, ADMIN_EMAIL);
  for (const [name, url] of [
    ["admin-authorized-apps", `/admin/authorized-apps?confirm=user%3A${encodeURIComponent(EMAIL)}`],
    ["admin-clients", "/admin/clients?edit=e2e-bot"],
    ["admin-accounts", `/admin/accounts?confirm=disable%3A${encodeURIComponent(EMAIL)}`],
    ["admin-audit", "/admin/audit"],
  ]) {
    await admin.goto(url);
    await check(admin, name, javaScriptEnabled, project);
  }
  await context.close();
});
