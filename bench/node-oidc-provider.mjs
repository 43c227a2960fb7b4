// node-oidc-provider (the `oidc-provider` package the browser tests already
// install in end2end/) serving the same device flow, for `bench/run.sh
// ceiling` to measure the same pending poll against: one public client with
// the CLI's client_id, the device authorization endpoint at /device/auth and
// the token endpoint at /token, everything in memory. The package's own
// development store is an LRU of 1,000 entries, which would forget most of
// the benchmark's pool of pending codes (and answer invalid_grant), so this
// gives it a plain in-memory store without eviction instead.
//
//   node bench/node-oidc-provider.mjs 127.0.0.1:3392
import { createRequire } from "node:module";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { default: Provider } = await import(require.resolve("oidc-provider"));

/** oidc-provider's adapter interface over one Map per model, never evicting. */
const stores = new Map();
class MapAdapter {
  constructor(model) {
    if (!stores.has(model)) stores.set(model, new Map());
    this.items = stores.get(model);
  }
  async upsert(id, payload) {
    this.items.set(id, payload);
  }
  async find(id) {
    return this.items.get(id);
  }
  async findByUserCode(userCode) {
    for (const payload of this.items.values()) if (payload.userCode === userCode) return payload;
    return undefined;
  }
  async findByUid(uid) {
    for (const payload of this.items.values()) if (payload.uid === uid) return payload;
    return undefined;
  }
  async consume(id) {
    const payload = this.items.get(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    this.items.delete(id);
  }
  async revokeByGrantId(grantId) {
    for (const [id, payload] of this.items) if (payload.grantId === grantId) this.items.delete(id);
  }
}

const [host, port] = (process.argv[2] ?? "127.0.0.1:3392").split(":");
const provider = new Provider(`http://${host}:${port}`, {
  adapter: MapAdapter,
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
