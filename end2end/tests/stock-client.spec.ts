import { test, expect } from "@playwright/test";
import { signIn, watchPage } from "./helpers";

// openid-client as the public CLI client, configured from Gatehouse's RFC
// 8414 metadata (plain http on the test's loopback).
async function discover(baseURL: string) {
  const client = await import("openid-client");
  const config = await client.discovery(new URL(baseURL), "gatehouse-cli", undefined, client.None(), {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
  });
  return { client, config };
}

// A stock OAuth client, unchanged: openid-client discovers Gatehouse through
// RFC 8414 metadata, starts the device flow, and polls until the person
// approves in the browser.
test("openid-client completes the device flow through discovery", async ({ page, baseURL, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const { client, config } = await discover(baseURL!);
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

// The same stock client with DPoP (RFC 9449): its proofs bind the grant to a
// P-256 key it holds, it learns the server's nonce on its own, the access
// token works only with a proof of that key, and refreshing with the key
// rotates both tokens.
test("openid-client refreshes a DPoP-bound grant", async ({ page, baseURL, javaScriptEnabled }, info) => {
  const watch = watchPage(page, javaScriptEnabled);
  const { client, config } = await discover(baseURL!);
  expect(config.serverMetadata().dpop_signing_alg_values_supported).toEqual(["ES256", "EdDSA"]);
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));

  const label = `openid-client-dpop-${info.project.name}`;
  const authorization = await client.initiateDeviceAuthorization(config, { scope: "full", device_label: label });
  const tokens = client.pollDeviceAuthorizationGrant(config, authorization, undefined, { DPoP });

  await page.goto(authorization.verification_uri_complete!);
  await signIn(page);
  await expect(page.locator(".user-code")).toHaveText(authorization.user_code);
  await watch.hydrated();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Approved" })).toBeVisible();

  const granted = await tokens;
  expect(granted.token_type).toBe("dpop");
  expect(granted.refresh_token).toMatch(/^gthr_/);
  const me = new URL("/v1/me", baseURL);
  const bound = await client.fetchProtectedResource(config, granted.access_token, me, "GET", undefined, undefined, { DPoP });
  expect(bound.status).toBe(200);
  // The token alone, as a bearer token, is refused.
  const copied = await page.request.get("/v1/me", { headers: { authorization: `Bearer ${granted.access_token}` } });
  expect(copied.status()).toBe(401);

  const refreshed = await client.refreshTokenGrant(config, granted.refresh_token!, undefined, { DPoP });
  expect(refreshed.token_type).toBe("dpop");
  expect(refreshed.access_token).not.toBe(granted.access_token);
  expect(refreshed.refresh_token).not.toBe(granted.refresh_token);
  const after = await client.fetchProtectedResource(config, refreshed.access_token, me, "GET", undefined, undefined, { DPoP });
  expect(after.status).toBe(200);
  expect((await after.json()).subject_type).toBe("account");
  // The access token the refresh replaced is refused (openid-client raises
  // the 401's WWW-Authenticate challenge as an error).
  const replaced = await client
    .fetchProtectedResource(config, granted.access_token, me, "GET", undefined, undefined, { DPoP })
    .then(() => null, (error) => error);
  expect(replaced?.status).toBe(401);
  expect(watch.errors).toEqual([]);
});
