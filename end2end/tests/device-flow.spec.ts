import { test, expect } from "@playwright/test";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EMAIL, poll, signIn, startFlow, watchPage } from "./helpers";

test("approving in the browser gives the polling device a token /v1/me accepts", async ({ page, request, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const flow = await startFlow(request, `e2e-approve-${info.project.name}`);

  // The link from the terminal pre-fills the code but approves nothing.
  await page.goto(flow.verification_uri_complete);
  await signIn(page);
  await expect(page).toHaveURL(/\/device\?user_code=/);
  await watch.hydrated();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Gatehouse CLI");
  await expect(page.getByText(`e2e-approve-${info.project.name}`)).toBeVisible();
  await expect(page.getByText("as reported by the device")).toBeVisible();
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await expect(page.getByText("Act as you")).toBeVisible();
  expect((await poll(request, flow.device_code)).body.error).toBe("authorization_pending");

  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();
  await expect(page.getByText("Return to your terminal")).toBeVisible();

  await new Promise((resolve) => setTimeout(resolve, flow.interval * 1000));
  const token = await poll(request, flow.device_code);
  expect(token.status).toBe(200);
  expect(token.body.access_token).toMatch(/^gtha_[0-9A-Za-z]{36}$/);
  const me = await request.get("/v1/me", { headers: { authorization: `Bearer ${token.body.access_token}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).account.email).toBe(EMAIL);
  expect(watch.errors).toEqual([]);
});

test("denying in the browser answers access_denied to the device", async ({ page, request, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const flow = await startFlow(request, `e2e-deny-${info.project.name}`);

  // Type the code the way a person might: lower case, a space instead of the dash.
  await page.goto("/device");
  await watch.hydrated();
  const input = page.getByLabel("Enter the code shown in your terminal");
  await input.fill(flow.user_code.toLowerCase().replace("-", " "));
  if (javaScriptEnabled) {
    // The code-input island shows it the way the terminal does.
    await expect(input).toHaveValue(flow.user_code);
  }
  await page.getByRole("button", { name: "Continue" }).click();
  await signIn(page);
  await expect(page.locator(".user-code")).toHaveText(flow.user_code);
  await watch.hydrated();
  await page.getByRole("button", { name: "Deny" }).click();
  await expect(page.getByRole("heading", { name: "Denied" })).toBeVisible();

  const answer = await poll(request, flow.device_code);
  expect(answer.status).toBe(400);
  expect(answer.body.error).toBe("access_denied");
  expect(watch.errors).toEqual([]);
});

test("the device page cannot be framed", async ({ page }) => {
  const response = await page.goto("/device");
  expect(response).not.toBeNull();
  const headers = response!.headers();
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["cache-control"]).toBe("no-store");
  expect(headers["referrer-policy"]).toBe("no-referrer");
});

test("`gatehouse login` prints a code, and signs in once the browser approves", async ({ page, javaScriptEnabled, baseURL }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-login-"));
  const credentials = path.join(dir, "credentials.json");
  const binary = path.resolve(__dirname, "../../target/release/gatehouse");
  const login = spawn(binary, ["login", "--server", baseURL!, "--device-label", `e2e-login-${info.project.name}`], {
    env: { ...process.env, GATEHOUSE_CREDENTIALS_FILE: credentials },
  });
  let output = "";
  login.stdout.on("data", (chunk) => (output += chunk));
  login.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number>((resolve) => login.on("exit", (code) => resolve(code ?? -1)));

  await expect.poll(() => /Or open this link[^:]*: (\S+)/.exec(output)?.[1], { timeout: 15_000 }).toBeTruthy();
  const link = /Or open this link[^:]*: (\S+)/.exec(output)![1];
  const code = /^\s+([B-Z]{4}-[B-Z]{4})$/m.exec(output)![1];
  await page.goto(link);
  await signIn(page);
  await expect(page.locator(".user-code")).toHaveText(code);
  await watch.hydrated();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();

  expect(await exited).toBe(0);
  expect(output).toContain("Signed in as E2E Tester <e2e@example.com>.");
  expect(fs.statSync(credentials).mode & 0o777).toBe(0o600);
  const saved = JSON.parse(fs.readFileSync(credentials, "utf8"))[baseURL!];
  expect(saved.access_token).toMatch(/^gtha_/);
});
