import { test, expect, type Page } from "@playwright/test";
import { ADMIN_EMAIL, EMAIL, GRANT_TYPE, PASSWORD, check, watchPage } from "./helpers";
import { PASSKEYS_URL } from "../playwright.config";

// Passkeys on the third server (start-server.sh, GATEHOUSE_E2E_PASSKEYS=1):
// at http://localhost (a host name, as passkeys need), with admin rights
// behind a passkey and e2e-policy's approvers needing one. Chromium's
// virtual authenticator (the DevTools WebAuthn domain) stands in for a
// phone or laptop: discoverable credentials, user verification done.

/** Gives `page` a virtual platform authenticator that keeps passkeys. */
async function withAuthenticator(page: Page) {
  const devtools = await page.context().newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

/** Signs in with email and password at the passkeys server's /signin. */
async function signInWithPassword(page: Page, email: string, next = "/") {
  await page.goto(`${PASSKEYS_URL}/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** Adds a passkey named `name` under Security. */
async function addPasskey(page: Page, name: string) {
  await page.goto(`${PASSKEYS_URL}/settings/security`);
  await page.getByLabel("Name for the new passkey").fill(name);
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Your passkey was added" })).toBeVisible();
  await expect(page.getByText(name, { exact: false }).first()).toBeVisible();
}

test.describe("passkeys", () => {
  test("register one, sign out, and sign in with it without typing an address", async ({ page }, info) => {
    const js = info.project.use.javaScriptEnabled !== false;
    const watch = watchPage(page, js);
    if (!js) {
      // WebAuthn needs JavaScript: the pages say so and offer the other ways.
      await page.goto(`${PASSKEYS_URL}/signin`);
      await expect(page.getByText("Passkeys need JavaScript, which is off in this browser")).toBeVisible();
      await expect(page.getByRole("button", { name: "Sign in with a passkey" })).toBeHidden();
      await check(page, "passkeys-signin-nojs", js, info.project.name);
      await signInWithPassword(page, EMAIL);
      await page.goto(`${PASSKEYS_URL}/settings/security`);
      await expect(page.getByText("Passkeys need JavaScript").first()).toBeVisible();
      await expect(page.getByRole("button", { name: "Add a passkey" })).toBeHidden();
      await check(page, "passkeys-security-nojs", js, info.project.name);
      return;
    }
    await withAuthenticator(page);
    await signInWithPassword(page, EMAIL);
    await page.goto(`${PASSKEYS_URL}/settings/security`);
    await check(page, "passkeys-security-empty", js, info.project.name);
    await addPasskey(page, "Work laptop");
    await check(page, "passkeys-security-one", js, info.project.name);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/signin/);
    await page.goto(`${PASSKEYS_URL}/signin?next=%2Fsettings%2Fsecurity`);
    await check(page, "passkeys-signin", js, info.project.name);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await expect(page).toHaveURL(/\/settings\/security/);
    await expect(page.getByText(/Work laptop/).first()).toBeVisible();
    await expect(page.getByText(/last used/)).toBeVisible();
    expect(watch.errors).toEqual([]);
  });

  test("a client that needs a passkey asks a password session to use one, then approves", async ({ page, request }, info) => {
    const js = info.project.use.javaScriptEnabled !== false;
    const email = `change-${info.project.name}@example.com`;
    const started = await request.post(`${PASSKEYS_URL}/v1/oauth/device/code`, {
      form: { client_id: "e2e-policy", device_label: `passkey-${info.project.name}` },
    });
    expect(started.status()).toBe(200);
    const flow = await started.json();
    if (js) await withAuthenticator(page);
    await signInWithPassword(page, email);
    await page.goto(`${PASSKEYS_URL}/device?user_code=${flow.user_code}`);
    await expect(page.getByRole("heading", { name: "Not approved from here" })).toBeVisible();
    await expect(page.getByText(/signed in with a passkey or through your organisation/)).toBeVisible();
    await expect(page.getByRole("button", { name: "Deny" })).toBeVisible();
    await check(page, "passkeys-step-up-needed", js, info.project.name);
    if (!js) {
      await expect(page.getByText("Passkeys need JavaScript").first()).toBeVisible();
      return;
    }
    await page.getByRole("link", { name: "Add one under Security" }).click();
    await addPasskey(page, "Phone");
    await page.goto(`${PASSKEYS_URL}/device?user_code=${flow.user_code}`);
    await page.getByRole("button", { name: "Use my passkey" }).click();
    await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
    await page.getByRole("button", { name: "Approve" }).click();
    await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
    const token = await request.post(`${PASSKEYS_URL}/v1/oauth/device/token`, {
      form: { grant_type: GRANT_TYPE, device_code: flow.device_code, client_id: "e2e-policy" },
    });
    expect(token.status()).toBe(200);
  });

  test("admin rights wait for a passkey in the session", async ({ page }, info) => {
    const js = info.project.use.javaScriptEnabled !== false;
    if (js) await withAuthenticator(page);
    await signInWithPassword(page, ADMIN_EMAIL);
    await page.goto(`${PASSKEYS_URL}/admin/accounts`);
    await expect(page.getByRole("heading", { name: "Use your passkey to continue" })).toBeVisible();
    await check(page, "passkeys-admin-step-up", js, info.project.name);
    if (!js) {
      // The console is still there; the step-up says it needs JavaScript.
      await expect(page.getByText("Passkeys need JavaScript").first()).toBeVisible();
      await page.goto(`${PASSKEYS_URL}/settings/authorized-apps`);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      return;
    }
    await addPasskey(page, "Admin key");
    await page.goto(`${PASSKEYS_URL}/admin/accounts`);
    await page.getByRole("button", { name: "Use my passkey" }).click();
    await expect(page.getByRole("heading", { name: "Accounts" })).toBeVisible();
    await expect(page.getByText(/1 passkey/).first()).toBeVisible();
  });
});
