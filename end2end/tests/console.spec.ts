import { test, expect, type APIRequestContext, type Page } from "@playwright/test";
import { ADMIN_EMAIL, EMAIL, poll, signIn, startFlow, watchPage, type DeviceAuthorization } from "./helpers";

/** Approves `flow` in the browser (signing in when sent to), then redeems it as the device. */
async function approveAndRedeem(
  page: Page,
  request: APIRequestContext,
  flow: DeviceAuthorization,
  hydrated: () => Promise<void>,
  clientId = "gatehouse-cli",
): Promise<string> {
  await page.goto(flow.verification_uri_complete);
  if (page.url().includes("/signin")) {
    await signIn(page);
  }
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await hydrated();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  const token = await poll(request, flow.device_code, clientId);
  expect(token.status).toBe(200);
  return token.body.access_token as string;
}

async function meStatus(request: APIRequestContext, token: string) {
  return (await request.get("/v1/me", { headers: { authorization: `Bearer ${token}` } })).status();
}

test("a person finds an approved device under Devices, signs it out, and its token is refused at once", async ({ page, request, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const label = `e2e-devices-${info.project.name}`;
  const token = await approveAndRedeem(page, request, await startFlow(request, label), watch.hydrated);
  expect(await meStatus(request, token)).toBe(200);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Devices" }).click();
  await expect(page).toHaveURL(/\/settings\/authorized-apps$/);
  await watch.hydrated();
  await expect(page.getByRole("heading", { name: `Gatehouse CLI · ${label}` })).toBeVisible();
  await expect(page.getByText("Device name as reported by the device").first()).toBeVisible();
  await page.getByRole("button", { name: `Revoke access of Gatehouse CLI on ${label}` }).click();
  await expect(page.getByRole("status")).toContainText("Signed out");
  await expect(page.getByRole("heading", { name: `Gatehouse CLI · ${label}` })).toHaveCount(0);
  expect(await meStatus(request, token)).toBe(401);
  expect(watch.errors).toEqual([]);
});

test("an admin revokes all of a client's tokens, then all of a user's", async ({ page, browser, request, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const cliLabel = `e2e-admin-cli-${info.project.name}`;
  const botLabel = `e2e-admin-bot-${info.project.name}`;
  const cliToken = await approveAndRedeem(page, request, await startFlow(request, cliLabel), watch.hydrated);
  const botToken = await approveAndRedeem(
    page,
    request,
    await startFlow(request, botLabel, "e2e-bot"),
    watch.hydrated,
    "e2e-bot",
  );

  // The admin, in a browser window of their own.
  const context = await browser.newContext({ javaScriptEnabled });
  const admin = await context.newPage();
  const adminWatch = watchPage(admin, javaScriptEnabled);
  await admin.goto("/admin/authorized-apps");
  await signIn(admin, ADMIN_EMAIL);
  await expect(admin).toHaveURL(/\/admin\/authorized-apps$/);
  await adminWatch.hydrated();
  await expect(admin.getByText(botLabel)).toBeVisible();

  // All of a client's: filter by the client, then revoke through the confirmation.
  await admin.getByLabel("Application").selectOption("e2e-bot");
  await admin.getByRole("button", { name: "Filter" }).click();
  await expect(admin).toHaveURL(/client=e2e-bot/);
  await expect(admin.getByText(cliLabel)).toHaveCount(0);
  await admin.getByRole("link", { name: "Revoke all tokens of E2E Bot" }).first().click();
  await expect(admin.getByRole("alertdialog")).toContainText("Revoke every token issued to E2E Bot");
  await adminWatch.hydrated();
  await admin.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(admin.getByRole("status")).toContainText("Signed out");
  expect(await meStatus(request, botToken)).toBe(401);
  expect(await meStatus(request, cliToken)).toBe(200);

  // All of a user's.
  await admin.goto(`/admin/authorized-apps?email=${encodeURIComponent(EMAIL)}`);
  await adminWatch.hydrated();
  await expect(admin.getByText(cliLabel)).toBeVisible();
  await admin.getByRole("link", { name: `Revoke all of ${EMAIL}’s tokens` }).first().click();
  await expect(admin.getByRole("alertdialog")).toContainText(`Revoke every token of ${EMAIL}?`);
  await adminWatch.hydrated();
  await admin.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(admin.getByRole("status")).toContainText("Signed out");
  expect(await meStatus(request, cliToken)).toBe(401);
  expect(watch.errors).toEqual([]);
  expect(adminWatch.errors).toEqual([]);
  await context.close();
});

test("a person who is not an admin is refused every admin page", async ({ page, javaScriptEnabled }) => {
  const watch = watchPage(page, javaScriptEnabled);
  const response = await page.goto("/admin/authorized-apps");
  expect(response!.status()).toBe(200); // the sign-in page, after the redirect
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Administrators only" })).toBeVisible();
  const direct = await page.goto("/admin/authorized-apps?status=revoked");
  expect(direct!.status()).toBe(403);
  await watch.hydrated();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" })).toHaveCount(0);
  // (The 403 itself is logged by the browser as a failed load, so only
  // script errors count here.)
  expect(watch.errors.filter((e) => !e.includes("Failed to load resource"))).toEqual([]);
});
