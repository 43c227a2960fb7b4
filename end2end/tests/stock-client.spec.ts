import { test, expect } from "@playwright/test";
import { signIn, watchPage } from "./helpers";

// A stock OAuth client, unchanged: openid-client discovers Gatehouse through
// RFC 8414 metadata, starts the device flow, and polls until the person
// approves in the browser.
test("openid-client completes the device flow through discovery", async ({ page, baseURL, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const client = await import("openid-client");
  const config = await client.discovery(new URL(baseURL!), "gatehouse-cli", undefined, client.None(), {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
  });
  const metadata = config.serverMetadata();
  expect(metadata.device_authorization_endpoint).toBe(`${baseURL}/v1/oauth/device/code`);

  const label = `openid-client-${info.project.name}`;
  const authorization = await client.initiateDeviceAuthorization(config, { scope: "full", device_label: label });
  expect(authorization.user_code).toMatch(/^[B-Z]{4}-[B-Z]{4}$/);
  const tokens = client.pollDeviceAuthorizationGrant(config, authorization);

  await page.goto(authorization.verification_uri_complete!);
  await signIn(page);
  await expect(page.locator(".user-code")).toHaveText(authorization.user_code);
  await expect(page.getByText(label)).toBeVisible();
  await watch.hydrated();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();

  const granted = await tokens;
  expect(granted.access_token).toMatch(/^gtha_[0-9A-Za-z]{36}$/);
  expect(granted.token_type).toBe("bearer");
  expect(granted.scope).toBe("full");
  const me = await page.request.get("/v1/me", { headers: { authorization: `Bearer ${granted.access_token}` } });
  expect(me.status()).toBe(200);
  expect(watch.errors).toEqual([]);
});
