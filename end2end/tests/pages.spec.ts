import { test, expect, type Page } from "@playwright/test";
import { ADMIN_EMAIL, EMAIL, PASSWORD, check, startFlow } from "./helpers";

// Every page people see, checked with axe-core and photographed (`check` in
// helpers.ts).

async function signInAs(page: Page, email: string) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/signin/);
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
  // Four more codes that match nothing pause this browser's session (five
  // an hour): even the right code then gets the 429 page.
  for (const code of ["CDFG-HJKL", "DFGH-JKLM", "FGHJ-KLMN", "GHJK-LMNP"]) {
    await page.goto(`/device?user_code=${code}`);
    await expect(page.getByRole("heading", { name: "This code isn’t valid" })).toBeVisible();
  }
  const paused = await page.goto(flow.verification_uri_complete);
  expect(paused?.status()).toBe(429);
  expect(paused?.headers()["retry-after"]).toBeTruthy();
  await expect(page.getByRole("heading", { name: "Too many codes tried" })).toBeVisible();
  await expect(page.getByText(/Please try again in about \d+ minutes/)).toBeVisible();
  await check(page, "device-too-many-attempts", javaScriptEnabled, project);
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
