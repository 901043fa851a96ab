// An outside integrator's program (README "Run it outside the portal"): classifies a folder of images through the portal's
// API with a client generated from its OpenAPI document (openapi-fetch on openapi-typescript's types, generated/v1.d.ts),
// and again locally: the active model's ONNX file downloaded, each image's window asked of the portal
// (POST /api/v1/window), the graph run by onnxruntime-node. It reports both answers per image; it judges nothing.
//   WBC_TOKEN=... node dist/src/outside.js PORTAL_URL IMAGE_FOLDER > report.json
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/v1.js";
import { classifyWindows, decodeWindow, describe, openSession, readMetadata, runtimeVersion } from "../lib/model.mjs";

type Problem = components["schemas"]["ApiProblem"];
type Answer = { label: string; probabilities: Record<string, number> } | { error: string };

const [portal, folder] = process.argv.slice(2);
const token = process.env.WBC_TOKEN;
if (!portal || !folder || !token) {
  console.error("usage: WBC_TOKEN=API_TOKEN node dist/src/outside.js PORTAL_URL IMAGE_FOLDER   (a Reviewer's or Admin's token; the report is written to stdout)");
  process.exit(2);
}

const api = createClient<paths, `${string}/${string}json`>({ baseUrl: portal.replace(/\/$/, ""), headers: { Authorization: `Bearer ${token}` } });

/** The body of an upload route: one `images` file part per image (the document's multipart schema, images typed Blob). */
function multipart(body: { images: Blob[] }): FormData {
  const form = new FormData();
  for (const image of body.images) form.append("images", image, image instanceof File ? image.name : "image");
  return form;
}

/** A refusal in one line, with what the document promises every problem carries. */
function refused(what: string, status: number, problem: Problem | undefined): Error {
  return new Error(problem
    ? `${what}: ${status} ${problem.code} (${problem.title}): ${problem.detail ?? ""} [traceId ${problem.traceId}]`
    : `${what}: ${status} without a problem document`);
}

// The active model: the list's active card (the active one comes first).
const listed = await api.GET("/api/v1/models");
if (listed.error || !listed.data) throw refused("GET /api/v1/models", listed.response.status, listed.error);
const card = listed.data.find((m) => m.active);
if (!card) throw new Error("The portal has no active model: make one active on its Models page.");

// Its ONNX file, and what the file itself says about it.
const download = await api.GET("/api/v1/models/{id}/onnx", { params: { path: { id: card.id } }, parseAs: "arrayBuffer" });
if (download.error || !download.data) throw refused(`GET /api/v1/models/${card.id}/onnx`, download.response.status, download.error);
const onnx = new Uint8Array(download.data);
const model = describe(readMetadata(onnx));
if (JSON.stringify(model.labels) !== JSON.stringify(card.labels) || model.height !== card.inputHeight || model.width !== card.inputWidth) {
  throw new Error(`The downloaded file (${model.labels.join(",")}, ${model.width}x${model.height}) is not the card's model (${card.labels.join(",")}, ${card.inputWidth}x${card.inputHeight}).`);
}
const session = await openSession(onnx);

const names = (await readdir(folder)).filter((f) => [".png", ".jpg", ".jpeg"].includes(extname(f).toLowerCase())).sort();
if (names.length === 0) throw new Error(`${folder} holds no PNG or JPEG image.`);
const files = await Promise.all(names.map(async (name) => new File([await readFile(join(folder, name))], name)));
const query = { model: String(card.id) };

// 1. Through the API: every image in one request.
const predicted = await api.POST("/api/v1/predict", { params: { query }, body: { images: files }, bodySerializer: multipart });
if (predicted.error || !predicted.data) throw refused("POST /api/v1/predict", predicted.response.status, predicted.error);
const viaApi = new Map<string, Answer>(predicted.data.predictions.map((item) =>
  [item.file, "error" in item ? { error: item.error } : { label: item.label, probabilities: item.probabilities }]));

// 2. Locally: each image's window from the portal, the graph in onnxruntime-node, the reject rule from the file's metadata.
const windows = [];
for (const file of files) {
  const cut = await api.POST("/api/v1/window", { params: { query }, body: { images: [file] }, bodySerializer: multipart, parseAs: "arrayBuffer" });
  if (cut.error || !cut.data) throw refused(`POST /api/v1/window (${file.name})`, cut.response.status, cut.error);
  windows.push(decodeWindow(new Uint8Array(cut.data)));
}
const local = await classifyWindows(session, windows, model);

const images = names.map((file, i) => {
  const probs = local[i]!;
  const top = probs.indexOf(Math.max(...probs));
  const label = probs[top]! >= model.rejectThreshold ? model.labels[top]! : "Unidentified";
  return {
    file,
    api: viaApi.get(file) ?? { error: "the API's answer does not name this file" },
    local: { label, probabilities: Object.fromEntries(model.labels.map((l, k) => [l, probs[k]!])) },
  };
});

let agree = 0, maxDiff = 0;
for (const image of images) {
  if ("error" in image.api) continue;
  if (image.api.label === image.local.label) agree++;
  for (const l of model.labels) maxDiff = Math.max(maxDiff, Math.abs((image.api.probabilities[l] ?? NaN) - image.local.probabilities[l]!));
}
console.error(`${names.length} images: labels agree on ${agree}; largest probability difference ${maxDiff.toExponential(2)} (onnxruntime-node ${runtimeVersion}, model ${card.id} "${card.name}")`);
console.log(JSON.stringify({
  portal,
  runtime: { onnxruntimeNode: runtimeVersion, node: process.version },
  model: { id: card.id, name: card.name, cardFormat: card.format ?? null, fileFormat: model.format, labels: model.labels, rejectThreshold: model.rejectThreshold, inputHeight: model.height, inputWidth: model.width,
    onnxBytes: onnx.length, onnxSha256: createHash("sha256").update(onnx).digest("hex") },
  images,
  summary: { images: names.length, labelsAgree: agree, maxProbabilityDifference: maxDiff },
}, null, 2));
