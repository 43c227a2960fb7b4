// A real OpenID provider for the SSO browser tests (the `oidc-provider`
// package), on http://localhost:$OIDC_PORT with one public client registered
// for the SSO Gatehouse's redirect URI. Its development login and consent
// pages accept any login name; the account's email is <login>@sso.example.
// Not for production: it keeps everything in memory and signs with
// development keys.
//
// It issues refresh tokens (Gatehouse asks for offline_access with a consent
// prompt), and `POST /test/leave/<login>` makes that account a leaver: the
// provider no longer finds it, so refreshing any of its refresh tokens is
// `invalid_grant`, as at a company whose person was disabled.
//
// Every account is in the group "staff"; those whose login starts with
// "admin" are in "gatehouse-admins" too (the `groups` claim, with `profile`).
import Provider from "oidc-provider";

const leavers = new Set();

const port = Number(process.env.OIDC_PORT ?? 3190);
const gatehouse = process.env.GATEHOUSE_SSO_URL ?? "http://127.0.0.1:3138";

const provider = new Provider(`http://localhost:${port}`, {
  clients: [
    {
      client_id: "gatehouse-e2e",
      token_endpoint_auth_method: "none",
      redirect_uris: [`${gatehouse}/v1/device/sso-complete`],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "groups"] },
  // Put the email in the ID token itself (Gatehouse reads no userinfo).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    if (leavers.has(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        const groups = id.startsWith("admin") ? ["staff", "gatehouse-admins"] : ["staff"];
        return { sub: id, email: `${id}@sso.example`, email_verified: true, name: `${id} (SSO)`, groups };
      },
    };
  },
});
provider.use(async (ctx, next) => {
  const leaving = ctx.method === "POST" && /^\/test\/leave\/([\w-]+)$/.exec(ctx.path);
  if (!leaving) return next();
  leavers.add(leaving[1]);
  ctx.status = 204;
});
provider.listen(port, "localhost", () => console.log(`oidc-provider on http://localhost:${port}`));
