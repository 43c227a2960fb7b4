import { test, expect, type Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";
import { MAIL_DIR } from "../playwright.config";
import { check, watchPage } from "./helpers";

// The password pages, JavaScript on and off: a forgotten password reset by
// the emailed link (read from the test's real SMTP server), the link
// refused a second time, and a change of password while signed in.

const RESET_EMAIL = "reset@example.com";

interface Mail {
  rcpt_tos: string[];
  subject: string;
  text: string;
}

/** Every message the SMTP server took, in order. */
function mails(): Mail[] {
  return fs
    .readdirSync(MAIL_DIR)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => JSON.parse(fs.readFileSync(path.join(MAIL_DIR, name), "utf8")) as Mail);
}

/** Waits for the next message to `to` with `subject` after the first `seen`. */
async function nextMail(to: string, subject: string, seen: number): Promise<Mail> {
  let found: Mail | undefined;
  await expect
    .poll(() => {
      found = mails().slice(seen).find((m) => m.rcpt_tos.includes(to) && m.subject === subject);
      return found !== undefined;
    }, { timeout: 30_000 })
    .toBe(true);
  return found as Mail;
}

async function signInWith(page: Page, email: string, password: string) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a forgotten password is reset through the emailed link, which works once", async ({ page, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const newPassword = `reset-${info.project.name}-${Date.now()}`;
  await page.goto("/signin");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page.getByRole("heading", { name: "Forgot your password" })).toBeVisible();
  await check(page, "password-forgot", javaScriptEnabled, info.project.name);

  const seen = mails().length;
  await page.getByLabel("Email").fill(RESET_EMAIL);
  await page.getByRole("button", { name: "Send the link" }).click();
  await expect(page.getByRole("status")).toContainText("If that address belongs to a Gatehouse account");
  await check(page, "password-forgot-sent", javaScriptEnabled, info.project.name);

  const mail = await nextMail(RESET_EMAIL, "Reset your Gatehouse password", seen);
  const link = mail.text.split("\n").find((line) => line.includes("/signin/reset?token="));
  expect(link, mail.text).toBeDefined();
  await page.goto(link as string);
  await expect(page.getByRole("heading", { name: "Choose a new password" })).toBeVisible();
  await watch.hydrated();
  await check(page, "password-reset", javaScriptEnabled, info.project.name);

  // Two different passwords change nothing, and say why.
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("New password, again").fill("something else entirely");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.getByRole("alert")).toContainText("not the same");

  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("New password, again").fill(newPassword);
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page).toHaveURL(/\/signin\?done=password_reset$/);
  await expect(page.getByRole("status")).toContainText("Your new password is set");
  await check(page, "password-reset-done", javaScriptEnabled, info.project.name);

  await signInWith(page, RESET_EMAIL, newPassword);
  await expect(page).not.toHaveURL(/\/signin/);
  const changed = await nextMail(RESET_EMAIL, "Your Gatehouse password was changed", seen);
  expect(changed.text).toContain("reset with an emailed link");

  // The link is used up.
  await page.goto(link as string);
  await expect(page.getByRole("alert")).toContainText("does not work any more");
  await expect(page.getByRole("link", { name: "Ask for a new link" })).toBeVisible();
  await check(page, "password-reset-used", javaScriptEnabled, info.project.name);
  expect(watch.errors).toEqual([]);
});

test("a signed-in person changes their password and every browser is signed out", async ({ page, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  // An account of this project's own (start-server.sh), so nothing another
  // test does to a password can land in the same second as this one.
  const email = `change-${info.project.name}@example.com`;
  const first = "e2e-password-123";
  await signInWith(page, email, first);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Password" }).click();
  await expect(page.getByRole("heading", { name: "Change your password" })).toBeVisible();
  await watch.hydrated();
  await check(page, "password-change", javaScriptEnabled, info.project.name);
  // Signing out devices and apps too is offered, and ticked.
  await expect(page.getByLabel("Also sign out my devices and apps")).toBeChecked();

  await page.getByLabel("Current password").fill("not the password");
  const second = `second-${info.project.name}-${Date.now()}`;
  await page.getByLabel("New password", { exact: true }).fill(second);
  await page.getByLabel("New password, again").fill(second);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("alert")).toContainText("not your current password");

  await page.getByLabel("Current password").fill(first);
  await page.getByLabel("New password", { exact: true }).fill(second);
  await page.getByLabel("New password, again").fill(second);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/signin\?done=password_changed$/);
  await expect(page.getByRole("status")).toContainText("every browser, device and app signed in as you was signed out");
  await page.goto("/settings/password");
  await expect(page).toHaveURL(/\/signin\?next=/);
  await signInWith(page, email, second);
  await expect(page).not.toHaveURL(/\/signin/);
  expect(watch.errors).toEqual([]);
});
