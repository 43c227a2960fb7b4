import { test, expect, type Page } from "@playwright/test";
import { OIDC_PORT, SSO_BASE_URL } from "../playwright.config";
import { check, poll, startFlow, watchPage } from "./helpers";

// These run against the second Gatehouse, whose SSO branch points at the
// real OpenID provider started from npm (oidc-provider.mjs).
test.use({ baseURL: SSO_BASE_URL });

/** From the device page's chooser to the provider's sign-in page. */
async function chooseSso(page: Page, userCodeLink: string, shoot?: { javaScriptEnabled: boolean; project: string }) {
  await page.goto(userCodeLink);
  await expect(page.getByRole("heading", { name: "Sign in to continue" })).toBeVisible();
  if (shoot) await check(page, "device-chooser", shoot.javaScriptEnabled, shoot.project);
  await page.getByRole("link", { name: "Continue with Example SSO" }).click();
  await expect(page).toHaveURL(/^http:\/\/localhost:\d+\//);
}

/** Signs in at the provider's development login if it asks (it remembers a
 * browser that signed in before), and consents. */
async function signInOrConsent(page: Page, login: string) {
  const form = page.locator("input[name=login]");
  const consent = page.getByRole("button", { name: "Continue" });
  await expect(form.or(consent)).toBeVisible();
  if (await form.isVisible()) {
    await signInAtProvider(page, login);
  } else {
    await consent.click();
  }
}

/** Signs in at the provider's development login, and consents. */
async function signInAtProvider(page: Page, login: string) {
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any-password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
}

test("signing in with SSO and approving gives the device a gthe_ token", async ({ page, request, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled, SSO_BASE_URL);
  const flow = await startFlow(request, `e2e-sso-${info.project.name}`);
  const project = info.project.name;
  await chooseSso(page, flow.verification_uri_complete, { javaScriptEnabled, project });
  const login = `sam-${info.project.name}`;
  await signInAtProvider(page, login);

  // Back at Gatehouse: the authorize-sso view, filled from the approval grant.
  await expect(page).toHaveURL(/\/v1\/oauth\/device\/authorize-sso$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Gatehouse CLI");
  await expect(page.getByText(`${login}@sso.example`)).toBeVisible();
  await expect(page.locator(".issuer")).toHaveText(/^http:\/\/localhost:\d+$/);
  await expect(page.getByText(`e2e-sso-${info.project.name}`)).toBeVisible();
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await expect(page.getByText("Run apps you have access to")).toBeVisible();
  expect((await poll(request, flow.device_code)).body.error).toBe("authorization_pending");
  await check(page, "device-authorize-sso", javaScriptEnabled, project);

  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
  await check(page, "device-approved-sso", javaScriptEnabled, project);

  // Honour the interval since the earlier poll (else: slow_down).
  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  const token = await poll(request, flow.device_code);
  expect(token.status).toBe(200);
  expect(token.body.access_token).toMatch(/^gthe_[0-9A-Za-z]{36}$/);
  const me = await request.get("/v1/me", { headers: { authorization: `Bearer ${token.body.access_token}` } });
  expect(me.status()).toBe(200);
  const subject = await me.json();
  expect(subject.subject_type).toBe("external_sso");
  expect(subject.subject_email).toBe(`${login}@sso.example`);
  expect(watch.errors).toEqual([]);
});

test("a person who leaves at the provider loses the device at its next refresh", async ({ page, request }, info) => {
  const login = `lee-${info.project.name}`;
  const flow = await startFlow(request, `e2e-sso-leaver-${info.project.name}`);
  await chooseSso(page, flow.verification_uri_complete);
  await signInAtProvider(page, login);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
  const token = await poll(request, flow.device_code);
  expect(token.status).toBe(200);
  expect(token.body.refresh_token).toMatch(/^gthr_/);

  const refresh = (refreshToken: string) =>
    request.post("/v1/oauth/device/token", {
      form: { grant_type: "refresh_token", client_id: "gatehouse-cli", refresh_token: refreshToken },
    });
  // This Gatehouse asks the provider at every refresh: it still honours the sign-in.
  const refreshed = await refresh(token.body.refresh_token);
  expect(refreshed.status()).toBe(200);
  const next = await refreshed.json();

  // The company disables the person at the provider.
  const left = await request.post(`http://localhost:${OIDC_PORT}/test/leave/${login}`);
  expect(left.status()).toBe(204);
  const refused = await refresh(next.refresh_token);
  expect(refused.status()).toBe(400);
  expect((await refused.json()).error).toBe("invalid_grant");
  const me = await request.get("/v1/me", { headers: { authorization: `Bearer ${next.access_token}` } });
  expect(me.status()).toBe(401);
});

test("denying after SSO sign-in answers access_denied", async ({ page, request }, info) => {
  const flow = await startFlow(request, `e2e-sso-deny-${info.project.name}`);
  await chooseSso(page, flow.verification_uri_complete);
  await signInAtProvider(page, `dee-${info.project.name}`);
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await page.getByRole("button", { name: "Deny" }).click();
  await expect(page.getByRole("heading", { name: "Denied" })).toBeVisible();
  const answer = await poll(request, flow.device_code);
  expect(answer.status).toBe(400);
  expect(answer.body.error).toBe("access_denied");
});

test("cancelling at the provider says so and leaves the request pending", async ({ page, request, javaScriptEnabled }, info) => {
  const flow = await startFlow(request, `e2e-sso-cancel-${info.project.name}`);
  await chooseSso(page, flow.verification_uri_complete);
  const response = page.waitForResponse((r) => r.url().includes("/v1/device/sso-complete"));
  await page.getByRole("link", { name: "[ Cancel ]" }).click();
  expect((await response).status()).toBe(400);
  await expect(page.getByRole("heading", { name: "Sign-in cancelled" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Back to the device page" })).toBeVisible();
  await check(page, "sso-cancelled", javaScriptEnabled, info.project.name);
  expect((await poll(request, flow.device_code)).body.error).toBe("authorization_pending");
});

test("SSO people use the console, and an SSO admin revokes someone's device", async ({ browser, page, request, javaScriptEnabled }, info) => {
  const project = info.project.name;
  const watch = watchPage(page, javaScriptEnabled, SSO_BASE_URL);
  // Kim approves a device through SSO, then opens their own devices.
  const kim = `kim-${project}`;
  const label = `e2e-sso-console-${project}`;
  const flow = await startFlow(request, label);
  await chooseSso(page, flow.verification_uri_complete);
  await signInAtProvider(page, kim);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
  const token = await poll(request, flow.device_code);
  expect(token.status).toBe(200);

  await page.goto("/settings/authorized-apps");
  await expect(page).toHaveURL(/\/signin\?next=/);
  await check(page, "signin-with-sso", javaScriptEnabled, project);
  await page.getByRole("link", { name: "Continue with Example SSO" }).click();
  await signInOrConsent(page, kim);
  await expect(page).toHaveURL(/\/settings\/authorized-apps$/);
  await expect(page.getByText(label)).toBeVisible();
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await check(page, "my-apps-sso", javaScriptEnabled, project);

  // An admin by the provider's groups, in a browser of their own, with no
  // Gatehouse account at all.
  const context = await browser.newContext({ javaScriptEnabled, baseURL: SSO_BASE_URL });
  const admin = await context.newPage();
  const adminWatch = watchPage(admin, javaScriptEnabled, SSO_BASE_URL);
  await admin.goto(`/admin/authorized-apps?email=${encodeURIComponent(`${kim}@sso.example`)}`);
  await admin.getByRole("link", { name: "Continue with Example SSO" }).click();
  await signInOrConsent(admin, `admin-${project}`);
  await expect(admin).toHaveURL(/\/admin\/authorized-apps\?email=/);
  await adminWatch.hydrated();
  await expect(admin.getByText(label)).toBeVisible();
  await check(admin, "admin-apps-sso-admin", javaScriptEnabled, project);
  await admin.getByRole("link", { name: `Revoke all of ${kim}@sso.example’s tokens` }).first().click();
  await expect(admin.getByRole("alertdialog")).toContainText(`Revoke every token of ${kim}@sso.example signed in through single sign-on`);
  await adminWatch.hydrated();
  await admin.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(admin.getByRole("status")).toContainText("Signed out");
  const me = await request.get("/v1/me", { headers: { authorization: `Bearer ${token.body.access_token}` } });
  expect(me.status()).toBe(401);

  // Kim's page no longer lists the device; signing out ends the session.
  await page.goto("/settings/authorized-apps");
  await expect(page.getByText(label)).toHaveCount(0);
  await watch.hydrated();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.goto("/settings/authorized-apps");
  await expect(page).toHaveURL(/\/signin\?next=/);
  expect(watch.errors).toEqual([]);
  expect(adminWatch.errors).toEqual([]);
  await context.close();
});
