// node-oidc-provider (the `oidc-provider` package the browser tests already
// install in end2end/) serving the same device flow, for `bench/run.sh
// ceiling` to measure the same pending poll against: one public client with
// the CLI's client_id, the device authorization endpoint at /device/auth and
// the token endpoint at /token, everything in its default in-memory store.
//
//   node bench/node-oidc-provider.mjs 127.0.0.1:3392
import { createRequire } from "node:module";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const [host, port] = (process.argv[2] ?? "127.0.0.1:3392").split(":");
const provider = new Provider(`http://${host}:${port}`, {
  clients: [
    {
      client_id: "gatehouse-cli",
      token_endpoint_auth_method: "none",
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code"],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: { deviceFlow: { enabled: true }, devInteractions: { enabled: false } },
});
provider.listen(Number(port), host, () => console.log(`oidc-provider on http://${host}:${port}`));
