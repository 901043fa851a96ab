// @ts-check
// Runs a self-contained model on window PNGs with onnxruntime-node, nothing of the portal involved:
//   node vectors.mjs MODEL.onnx WINDOW.png...
// prints {"runtime": "...", "labels": [...], "windows": [{"file": "...", "probs": [...]}]} (probs in wbc.labels order).
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { classifyWindows, decodeWindow, describe, openSession, readMetadata, runtimeVersion } from "./lib/model.mjs";

const [modelPath, ...windowPaths] = process.argv.slice(2);
if (!modelPath || windowPaths.length === 0) {
  console.error("usage: node vectors.mjs MODEL.onnx WINDOW.png...");
  process.exit(2);
}
const bytes = new Uint8Array(await readFile(modelPath));
const model = describe(readMetadata(bytes));
const session = await openSession(bytes);
const windows = await Promise.all(windowPaths.map(async (p) => decodeWindow(new Uint8Array(await readFile(p)))));
const probs = await classifyWindows(session, windows, model);
console.log(JSON.stringify({
  runtime: `onnxruntime-node ${runtimeVersion}`,
  labels: model.labels,
  windows: windowPaths.map((p, i) => ({ file: basename(p), probs: probs[i] })),
}));
