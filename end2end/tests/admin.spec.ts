import { test, expect } from "@playwright/test";
import { ADMIN_EMAIL, check, signIn, watchPage } from "./helpers";

test("an admin creates and disables an account, disables and re-enables a client, and reads both in the audit log", async ({ page, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const email = `temp-${info.project.name}@example.com`;
  await page.goto("/admin/accounts");
  await signIn(page, ADMIN_EMAIL);
  await expect(page).toHaveURL(/\/admin\/accounts$/);

  // Create an account.
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Name", { exact: true }).fill("Temporary Person");
  await page.getByLabel("Initial password").fill("a long initial password");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("status")).toContainText("Account created");
  await expect(page.getByRole("heading", { name: `Temporary Person (${email})` })).toBeVisible();

  // Disable it, through the confirmation step.
  await page.getByRole("link", { name: "Disable…" }).first().click();
  await expect(page.getByRole("alertdialog")).toContainText(`Disable Temporary Person (${email})?`);
  await page.getByRole("button", { name: "Yes, disable" }).click();
  await expect(page.getByRole("status")).toContainText("Account disabled");
  await expect(page.getByRole("button", { name: `Enable ${email}` })).toBeVisible();

  // Disable the bot client, then enable it again.
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: "Clients" }).click();
  await expect(page.getByRole("heading", { name: "E2E Bot (e2e-bot)" })).toBeVisible();
  await page.goto("/admin/clients?confirm=disable%3Ae2e-bot");
  await page.getByRole("button", { name: "Yes, disable" }).click();
  await expect(page.getByRole("status")).toContainText("Client disabled");
  await page.getByRole("button", { name: "Enable e2e-bot" }).click();
  await expect(page.getByRole("status")).toContainText("Client enabled");

  // Every one of those actions is in the audit log, with the admin as actor.
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: "Audit log" }).click();
  await page.getByLabel("Actor").fill(ADMIN_EMAIL);
  await page.getByRole("button", { name: "Filter" }).click();
  const log = page.locator(".audit-list");
  for (const kind of ["account.created", "account.disabled", "client.disabled", "client.enabled"]) {
    await expect(log.getByText(kind).first()).toBeVisible();
  }
  await page.getByLabel("Event", { exact: true }).selectOption("account.disabled");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(log).toContainText(email);
  await expect(log.getByText("client.disabled")).toHaveCount(0);
  expect(watch.errors).toEqual([]);
});

test("an admin adds a scope in plain words and allows it to a client by ticking it", async ({ page, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const project = info.project.name;
  const scope = `reports:read-${project}`;
  await page.goto("/admin/scopes");
  await signIn(page, ADMIN_EMAIL);
  await expect(page).toHaveURL(/\/admin\/scopes$/);
  await expect(page.getByRole("heading", { name: "full" })).toBeVisible();

  await page.getByLabel("Name, as clients ask for it").fill(scope);
  await page.getByLabel("What it lets a client do, in plain words").fill("Read your team's reports");
  await page.getByLabel("People signed in with SSO only").check();
  await page.getByRole("button", { name: "Add scope" }).click();
  await expect(page.getByRole("status")).toContainText("Scope added");
  const row = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: scope }) });
  await expect(row).toContainText("Read your team's reports");
  await expect(row).toContainText("Held by people signed in with SSO only · no client allows it");
  await check(page, "admin-scopes", javaScriptEnabled, project);

  // The client editor offers it as a box to tick, in its words.
  await page.goto("/admin/clients?edit=e2e-bot");
  const editor = page.getByRole("form", { name: "Edit e2e-bot" });
  const box = editor.getByRole("checkbox", { name: `${scope}: Read your team's reports` });
  await expect(box).not.toBeChecked();
  await box.check();
  await editor.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Client updated");
  await expect(page.getByText(new RegExp(`scopes: [^·]*${scope}`))).toBeVisible();
  await page.goto("/admin/scopes");
  await expect(row).toContainText("allowed to e2e-bot");

  // Built-in scopes cannot be deleted; the new one cannot while e2e-bot allows it.
  await expect(page.getByRole("link", { name: "Delete full…" })).toHaveCount(0);
  await page.getByRole("link", { name: `Delete ${scope}…` }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByRole("alert")).toContainText("Clients still allow this scope");
  expect(watch.errors).toEqual([]);
});
