// DPoP for the benchmark (RFC 9449): redeems an approved device code with
// proofs of a fresh Ed25519 key (taking the server's nonce on the way), then
// writes the bound access token and COUNT proofs for GET /v1/me with it,
// each with its own jti, so wrk can present one per request.
//
//   node dpop-proofs.mjs BASE_URL DEVICE_CODE COUNT OUT_DIR
//   -> OUT_DIR/dpop-token.txt, OUT_DIR/dpop-proofs.txt (one per line)
//
// Node's own crypto signs; nothing to install.
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { writeFileSync } from "node:fs";

const [base, deviceCode, count, outDir] = process.argv.slice(2);
const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const { crv, kty, x } = publicKey.export({ format: "jwk" });
const header = Buffer.from(JSON.stringify({ typ: "dpop+jwt", alg: "EdDSA", jwk: { crv, kty, x } })).toString("base64url");

function proof(htm, htu, extra) {
  const claims = { htm, htu, iat: Math.floor(Date.now() / 1000), jti: randomBytes(16).toString("base64url"), ...extra };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
}

const tokenUrl = `${base}/v1/oauth/device/token`;
const form = new URLSearchParams({
  grant_type: "urn:ietf:params:oauth:grant-type:device_code",
  client_id: "gatehouse-cli",
  device_code: deviceCode,
});
let nonce;
let answer;
for (let attempt = 0; attempt < 3; attempt++) {
  const response = await fetch(tokenUrl, {
    method: "POST",
    headers: { DPoP: proof("POST", tokenUrl, nonce ? { nonce } : {}) },
    body: form,
  });
  nonce = response.headers.get("dpop-nonce") ?? nonce;
  answer = await response.json();
  if (answer.error !== "use_dpop_nonce") break;
  // The claim was released; the next poll must wait the interval.
  await new Promise((resolve) => setTimeout(resolve, 5500));
}
if (answer.token_type !== "DPoP") throw new Error(`no DPoP-bound token: ${JSON.stringify(answer)}`);
const token = answer.access_token;
const ath = createHash("sha256").update(token).digest("base64url");
const proofs = [];
for (let i = 0; i < Number(count); i++) proofs.push(proof("GET", `${base}/v1/me`, { ath }));
writeFileSync(`${outDir}/dpop-token.txt`, token);
writeFileSync(`${outDir}/dpop-proofs.txt`, proofs.join("\n") + "\n");
