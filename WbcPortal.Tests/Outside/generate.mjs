// @ts-check
// The typed client's types, generated from a portal's live OpenAPI document, never edited by hand:
//   WBC_TOKEN=... node generate.mjs http://127.0.0.1:5080
// writes generated/openapi-v1.json (the document as served) and generated/v1.d.ts (openapi-typescript's output).
// One generator option: `format: binary` becomes Blob (the documented transform for file uploads), so an image part is a File.
import { mkdir, writeFile } from "node:fs/promises";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const portal = process.argv[2] ?? process.env.WBC_PORTAL;
const token = process.env.WBC_TOKEN;
if (!portal || !token) {
  console.error("usage: WBC_TOKEN=API_TOKEN node generate.mjs PORTAL_URL   (the document needs a token like every API call)");
  process.exit(2);
}
const url = new URL("openapi/v1.json", portal.endsWith("/") ? portal : portal + "/");
const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
if (!response.ok) {
  console.error(`GET ${url}: ${response.status} ${await response.text()}`);
  process.exit(1);
}
const text = await response.text();
const blob = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const ast = await openapiTS(text, {
  transform(schema) {
    if (schema.format === "binary") return blob;
    return undefined;
  },
});
await mkdir(new URL("./generated/", import.meta.url), { recursive: true });
await writeFile(new URL("./generated/openapi-v1.json", import.meta.url), text);
await writeFile(new URL("./generated/v1.d.ts", import.meta.url), astToString(ast));
console.error(`generated/v1.d.ts from ${url} (${text.length} bytes)`);
