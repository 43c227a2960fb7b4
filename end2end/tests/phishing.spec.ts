import { test, expect, type Browser, type Page } from "@playwright/test";
import { ADMIN_EMAIL, EMAIL, GRANT_TYPE, check, poll, signIn, watchPage } from "./helpers";

// The approval policy (RFC 10027's defences against device-code phishing):
// set in the client editor, and what the person at /device meets. The
// server trusts 127.0.0.1 as a proxy, so a browser names its network with
// X-Forwarded-For as a real proxy would.
const CLIENT = "e2e-policy";

interface Policy {
  devices: string;
  approvals: "any" | "same_network" | "listed";
  listed: string;
  approvers: string;
  lifetime: string;
  age: string;
  onePerson: boolean;
  confirmation: "off" | "required";
}

const DEFAULTS: Policy = {
  devices: "",
  approvals: "any",
  listed: "",
  approvers: "everyone",
  lifetime: "",
  age: "",
  onePerson: true,
  confirmation: "off",
};

/** Fills in and saves e2e-policy's approval policy as an admin in `page`. */
async function savePolicy(page: Page, policy: Policy) {
  const editor = `/admin/clients?edit=${CLIENT}`;
  await page.goto(editor);
  if (page.url().includes("/signin")) {
    // Signing in returns to the client list; the editor is one more step.
    await signIn(page, ADMIN_EMAIL);
    await expect(page).toHaveURL(/\/admin\/clients/);
    await page.goto(editor);
  }
  const form = page.getByRole("form", { name: "Approval policy" });
  await form.getByLabel("Devices may start sign-ins from").fill(policy.devices);
  await form.getByLabel("Approvals accepted from").selectOption(policy.approvals);
  await form.getByLabel("Listed networks").fill(policy.listed);
  await form.getByLabel("Who may approve").fill(policy.approvers);
  await form.getByLabel("A code lives (60 to 1800)").fill(policy.lifetime);
  await form.getByLabel("A code must be entered within (10 to 1800)").fill(policy.age);
  await form.getByLabel(/One person per code/).setChecked(policy.onePerson);
  await form.getByLabel("Confirm on the device").selectOption(policy.confirmation);
  await form.getByRole("button", { name: "Save approval policy" }).click();
  await expect(page.getByRole("status")).toContainText("Approval policy updated");
}

/** Sets the policy from an admin's browser window of its own. */
async function withPolicy(browser: Browser, javaScriptEnabled: boolean, policy: Partial<Policy>) {
  const context = await browser.newContext({ javaScriptEnabled });
  await savePolicy(await context.newPage(), { ...DEFAULTS, ...policy });
  await context.close();
}

/** A device starts a flow for e2e-policy from `network`. */
async function startFrom(browser: Browser, network: string) {
  const context = await browser.newContext();
  const response = await context.request.post("/v1/oauth/device/code", {
    form: { client_id: CLIENT, device_label: "e2e-policy-device" },
    headers: { "x-forwarded-for": network },
  });
  expect(response.status()).toBe(200);
  const flow = await response.json();
  await context.close();
  return flow;
}

test.afterEach(async ({ browser, javaScriptEnabled }) => {
  await withPolicy(browser, javaScriptEnabled, DEFAULTS);
});

test("the client editor sets each control of the approval policy and says it in plain words", async ({ page, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  await savePolicy(page, {
    devices: "10.0.0.0/8, 2001:db8::/32",
    approvals: "listed",
    listed: "192.0.2.0/24",
    approvers: "admins",
    lifetime: "300",
    age: "120",
    onePerson: false,
    confirmation: "required",
  });
  await page.goto(`/admin/clients?edit=${CLIENT}`);
  await watch.hydrated();
  const words = page.getByRole("list", { name: "In force now" });
  for (const sentence of [
    "Devices may start sign-ins from 10.0.0.0/8, 2001:db8::/32.",
    "Approvals are accepted only from 192.0.2.0/24.",
    "Only Gatehouse administrators may approve.",
    "A code must be entered within 2 minutes of being shown (it lives 5 minutes).",
    "Several people may enter the same code.",
    "The device must type a code the approving browser shows before it gets a token.",
  ]) {
    await expect(words).toContainText(sentence);
  }
  await check(page, "approval-policy-editor", javaScriptEnabled, info.project.name);

  // Nonsense changes nothing and says what to check.
  const form = page.getByRole("form", { name: "Approval policy" });
  await form.getByLabel("Listed networks").fill("the office");
  await form.getByRole("button", { name: "Save approval policy" }).click();
  await expect(page.getByRole("alert")).toContainText("check the approval policy");
  await page.goto(`/admin/clients?edit=${CLIENT}`);
  await expect(page.getByRole("list", { name: "In force now" })).toContainText("only from 192.0.2.0/24");
  expect(watch.errors).toEqual([]);
});

test("an approval from another network is refused in plain words, and the person may still deny", async ({ browser, javaScriptEnabled }, info) => {
  await withPolicy(browser, javaScriptEnabled, { approvals: "same_network" });
  const flow = await startFrom(browser, "198.51.100.9");
  const context = await browser.newContext({ javaScriptEnabled, extraHTTPHeaders: { "x-forwarded-for": "203.0.113.7" } });
  const page = await context.newPage();
  const watch = watchPage(page, javaScriptEnabled);
  await page.goto(flow.verification_uri_complete);
  await signIn(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Not approved from here");
  await watch.hydrated();
  await expect(page.getByRole("alert")).toContainText("Approve from the same network as the device");
  await expect(page.getByText("198.51.100.9")).toBeVisible();
  await expect(page.getByText("203.0.113.7")).toBeVisible();
  await expect(page.getByRole("button", { name: "Approve" })).toHaveCount(0);
  await check(page, "refused-network", javaScriptEnabled, info.project.name);
  expect((await poll(context.request, flow.device_code, CLIENT)).body.error).toBe("authorization_pending");

  await page.getByRole("button", { name: "Deny" }).click();
  await expect(page.getByRole("heading", { name: "Denied" })).toBeVisible();
  // The interval after the poll above, as a device waits it.
  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  expect((await poll(context.request, flow.device_code, CLIENT)).body.error).toBe("access_denied");
  // The refusal page itself is answered 403, which Chromium reports.
  expect(watch.errors.filter((error) => !error.includes("status of 403"))).toEqual([]);
  await context.close();
});

test("a code a second person takes up is stopped for both, who are told so", async ({ browser, page, javaScriptEnabled }, info) => {
  const flow = await startFrom(browser, "198.51.100.9");
  // The first person types the code in.
  const watch = watchPage(page, javaScriptEnabled);
  await page.goto("/signin?next=/device");
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill("e2e-password-123");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/device$/);
  await watch.hydrated();
  await page.getByLabel("Enter the code shown in your terminal").fill(flow.user_code);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);

  // A second person follows a mailed link: told before deciding.
  const context = await browser.newContext({ javaScriptEnabled, extraHTTPHeaders: { "x-forwarded-for": "203.0.113.7" } });
  const second = await context.newPage();
  const secondWatch = watchPage(second, javaScriptEnabled);
  await second.goto(flow.verification_uri_complete);
  await signIn(second, ADMIN_EMAIL);
  await expect(second.getByRole("alert")).toContainText("Someone else already entered this code");
  await secondWatch.hydrated();
  await check(second, "code-opened-by-someone-else", javaScriptEnabled, info.project.name);
  await second.getByRole("button", { name: "Deny" }).click();
  await expect(second.getByRole("heading", { level: 1 })).toHaveText("This sign-in was stopped");
  await expect(second.getByRole("alert")).toContainText("Someone else had already entered this code");
  await check(second, "code-shared", javaScriptEnabled, info.project.name);
  expect((await poll(context.request, flow.device_code, CLIENT)).body.error).toBe("access_denied");

  await page.reload();
  await expect(page.getByRole("alert")).toContainText("After you, someone else entered the same code");
  expect(watch.errors).toEqual([]);
  expect(secondWatch.errors).toEqual([]);
  await context.close();
});

test("an app that requires confirmation shows the code to type on the device", async ({ browser, page, request, javaScriptEnabled }, info) => {
  await withPolicy(browser, javaScriptEnabled, { confirmation: "required" });
  const flow = await startFrom(browser, "127.0.0.1");
  expect(flow.confirmation_required).toBe(true);
  const watch = watchPage(page, javaScriptEnabled);
  await page.goto(flow.verification_uri_complete);
  await signIn(page);
  await watch.hydrated();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Approved: now confirm on your device");
  const shown = (await page.locator(".confirmation-code").textContent()) ?? "";
  const digits = shown.replace(/\D/g, "");
  expect(digits).toMatch(/^\d{6}$/);
  await check(page, "confirm-on-device", javaScriptEnabled, info.project.name);

  // Without the code the device keeps waiting; with it, it gets its token.
  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  const waiting = await poll(request, flow.device_code, CLIENT);
  expect(waiting.body.error).toBe("authorization_pending");
  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  const token = await request.post("/v1/oauth/device/token", {
    form: { grant_type: GRANT_TYPE, device_code: flow.device_code, client_id: CLIENT, confirmation_code: shown },
  });
  expect(token.status()).toBe(200);
  expect(watch.errors).toEqual([]);
});
