import { test, expect } from "@playwright/test";

// The admin API's OpenAPI 3.1 document, as the running release binary
// serves it, checked by a stock validator (swagger-parser: schema
// validation of the whole document, and every $ref resolved).
test("the OpenAPI document is valid OpenAPI 3.1", async ({ request, baseURL }) => {
  const response = await request.get(`${baseURL}/v1/openapi.json`);
  expect(response.status()).toBe(200);
  const document = await response.json();
  expect(document.openapi).toMatch(/^3\.1\./);

  const { default: SwaggerParser } = await import("@apidevtools/swagger-parser");
  // validate() dereferences in place: hand it a copy.
  const api: any = await SwaggerParser.validate(structuredClone(document));
  expect(Object.keys(api.paths)).toEqual(
    expect.arrayContaining(["/v1/admin/clients", "/v1/admin/accounts", "/v1/admin/authorizations", "/v1/admin/audit"]),
  );
  expect(api.components.securitySchemes.admin_token.type).toBe("http");
  // Every operation needs the admin token.
  for (const [path, operations] of Object.entries<any>(api.paths)) {
    for (const [method, operation] of Object.entries<any>(operations)) {
      expect(operation.security, `${method} ${path}`).toEqual([{ admin_token: [] }]);
    }
  }
});
