// @ts-check
// The downloaded model, run with onnxruntime-node: its metadata read from the file itself (onnxruntime-node does not
// expose metadata_props), and window PNGs (decoded by pngjs) classified by the graph alone. Nothing here is the portal's code.
import ort from "onnxruntime-node";
import pngjs from "pngjs";

/**
 * The model's metadata_props (ModelProto field 14, each a StringStringEntryProto: key 1, value 2), read by walking
 * the protobuf's top level; the graph (field 7) and the other fields are skipped by their lengths.
 * @param {Uint8Array} bytes the ONNX file
 * @returns {Map<string, string>}
 */
export function readMetadata(bytes) {
  const props = new Map();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const field of fields(bytes, 0, bytes.length)) {
    if (field.number !== 14 || field.body === undefined) continue;
    let key = "", value = "";
    for (const entry of fields(bytes, field.body[0], field.body[1])) {
      if (entry.body === undefined) continue;
      const text = decoder.decode(bytes.subarray(entry.body[0], entry.body[1]));
      if (entry.number === 1) key = text;
      else if (entry.number === 2) value = text;
    }
    props.set(key, value);
  }
  return props;
}

/**
 * The fields of one protobuf message between start and end: number, wire type, and for length-delimited ones the body's [start, end).
 * @param {Uint8Array} bytes
 * @param {number} start
 * @param {number} end
 * @returns {Generator<{ number: number, body?: [number, number] }>}
 */
function* fields(bytes, start, end) {
  let at = start;
  const varint = () => {
    let result = 0, scale = 1;
    for (;;) {
      if (at >= end) throw new Error("The ONNX file ends inside a protobuf varint: it is truncated or not an ONNX model.");
      const b = /** @type {number} */ (bytes[at++]);
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 56) throw new Error("A protobuf varint is too long: not an ONNX model.");
    }
  };
  while (at < end) {
    const tag = varint();
    const number = Math.floor(tag / 8), wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (at + length > end) throw new Error(`Protobuf field ${number} runs past its message: the ONNX file is truncated.`);
      yield { number, body: [at, at + length] };
      at += length;
      continue;
    } else throw new Error(`Protobuf wire type ${wire} (field ${number}) is not one an ONNX model uses.`);
    yield { number };
  }
}

/**
 * What this program needs of a format-2 model's metadata (README "The model format"): labels in the `probs` columns'
 * order, the window's size, the reject threshold (absent: 0, every image decided).
 * @param {Map<string, string>} props
 */
export function describe(props) {
  const need = (/** @type {string} */ key) => {
    const value = props.get(key);
    if (value === undefined) throw new Error(`The model has no ${key} metadata: it is not a WbcPortal export.`);
    return value;
  };
  const format = Number(props.get("wbc.format") ?? "1");
  if (format !== 2) throw new Error(`The model is format ${format}; this program runs self-contained models (wbc.format 2, input 'window' uint8 [N, H, W, 3]).`);
  const labels = JSON.parse(need("wbc.labels"));
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) throw new Error("wbc.labels is not a JSON array of strings.");
  return {
    format,
    labels: /** @type {string[]} */ (labels),
    height: Number(need("wbc.input_height")),
    width: Number(need("wbc.input_width")),
    rejectThreshold: Number(props.get("wbc.reject_threshold") ?? "0"),
    temperature: Number(need("wbc.temperature")),
  };
}

/**
 * A window PNG's pixels as [H, W, 3] RGB bytes (pngjs decodes to RGBA; a window is opaque).
 * @param {Uint8Array} png
 * @returns {{ width: number, height: number, rgb: Uint8Array }}
 */
export function decodeWindow(png) {
  const image = pngjs.PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  const { width, height, data } = image;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    if (data[i + 3] !== 255) throw new Error(`The window PNG has a transparent pixel at ${(i / 4) % width}, ${Math.floor(i / 4 / width)}: a window is opaque RGB.`);
    rgb.set(data.subarray(i, i + 3), j);
  }
  return { width, height, rgb };
}

/** @param {Uint8Array} bytes the ONNX file */
export async function openSession(bytes) {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
  if (!session.inputNames.includes("window") || !session.outputNames.includes("probs")) {
    throw new Error(`The model's inputs are ${session.inputNames.join(", ")} and outputs ${session.outputNames.join(", ")}: a self-contained model has input 'window' and output 'probs'.`);
  }
  return session;
}

/**
 * The graph's `probs` for each window, in one batch: [N, H, W, 3] uint8 in, [N, C] float out.
 * @param {ort.InferenceSession} session
 * @param {{ width: number, height: number, rgb: Uint8Array }[]} windows
 * @param {{ width: number, height: number, labels: string[] }} model
 * @returns {Promise<number[][]>}
 */
export async function classifyWindows(session, windows, model) {
  const size = model.height * model.width * 3;
  const batch = new Uint8Array(windows.length * size);
  windows.forEach((w, i) => {
    if (w.width !== model.width || w.height !== model.height) throw new Error(`Window ${i} is ${w.width}x${w.height}; the model takes ${model.width}x${model.height}.`);
    batch.set(w.rgb, i * size);
  });
  const input = new ort.Tensor("uint8", batch, [windows.length, model.height, model.width, 3]);
  const output = (await session.run({ window: input }, ["probs"])).probs;
  if (!output) throw new Error("The model gave no 'probs' output.");
  const c = model.labels.length;
  if (output.dims.length !== 2 || output.dims[0] !== windows.length || output.dims[1] !== c) throw new Error(`probs is [${output.dims.join(", ")}], not [${windows.length}, ${c}].`);
  const data = /** @type {Float32Array} */ (output.data);
  return windows.map((_, i) => Array.from(data.subarray(i * c, (i + 1) * c)));
}

/** The onnxruntime-node version this program runs (from its package). */
export const runtimeVersion = ort.env.versions.node ?? ort.env.versions.common;
