/**
 * @module The versioned binary codec for weights.
 *
 * Layout (all integers little-endian):
 *   magic "TSRW" | u16 version (=1) | u16 reserved (=0) | u32 header length H |
 *   H bytes of UTF-8 JSON {"dtype":"float32","tensors":[{"name","shape"}...]} |
 *   zero padding to a 4-byte boundary | float32 LE data of every tensor in order.
 * The decoder checks the magic, version, header, that the data length equals the sum of the
 * shapes, and rejects trailing bytes, so a torn or padded file never decodes.
 */
import { TesseraError } from './errors.ts';
import { contentHash } from './hash.ts';
import type { Tensor, TensorLayout, Weights } from './tensors.ts';
import { sizeOf } from './tensors.ts';

const MAGIC = [0x54, 0x53, 0x52, 0x57]; // "TSRW"
export const CODEC_VERSION = 1;
const PREFIX = 12;
const MAX_HEADER = 1 << 20;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new TesseraError('BAD_ENCODING', message, { field: 'body' });
}

/** Encodes weights into the binary format. */
export function encodeWeights(weights: Weights): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ dtype: 'float32', tensors: weights.map((t) => ({ name: t.name, shape: t.shape })) }),
  );
  const dataStart = PREFIX + header.length + ((4 - ((PREFIX + header.length) % 4)) % 4);
  let values = 0;
  for (const t of weights) {
    if (t.data.length !== sizeOf(t.shape)) {
      throw new TesseraError('BAD_TENSORS', `tensor "${t.name}": shape [${t.shape}] needs ${sizeOf(t.shape)} values, has ${t.data.length}`);
    }
    values += t.data.length;
  }
  const out = new Uint8Array(dataStart + values * 4);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, CODEC_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, header.length, true);
  out.set(header, PREFIX);
  let off = dataStart;
  for (const t of weights) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), off);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(off + i * 4, t.data[i], true);
    }
    off += t.data.byteLength;
  }
  return out;
}

/** Reads only the header: tensor names and shapes, and where the data starts. */
export function decodeLayout(bytes: Uint8Array): { layout: TensorLayout; dataStart: number } {
  if (bytes.length < PREFIX) fail(`weights file too short: ${bytes.length} bytes`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) fail('not a Tessera weights file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== CODEC_VERSION) fail(`unsupported weights codec version ${version} (this build reads ${CODEC_VERSION})`);
  const headerLength = view.getUint32(8, true);
  if (headerLength > MAX_HEADER || PREFIX + headerLength > bytes.length) fail('weights header length out of range');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
  } catch {
    fail('weights header is not valid JSON');
  }
  const h = header as { dtype?: unknown; tensors?: unknown };
  if (h.dtype !== 'float32') fail(`unsupported dtype ${JSON.stringify(h.dtype)} (expected "float32")`);
  if (!Array.isArray(h.tensors)) fail('weights header has no tensor list');
  const layout = (h.tensors as unknown[]).map((t, i) => {
    const { name, shape } = (t ?? {}) as { name?: unknown; shape?: unknown };
    if (typeof name !== 'string' || name.length === 0) fail(`tensor ${i}: name must be a non-empty string`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`tensor ${i} ("${name}"): shape must be a list of non-negative integers`);
    return { name, shape: shape as number[] };
  });
  const dataStart = PREFIX + headerLength + ((4 - ((PREFIX + headerLength) % 4)) % 4);
  return { layout, dataStart };
}

/** Decodes and checks a weights file; the returned tensors own their memory. */
export function decodeWeights(bytes: Uint8Array): Tensor[] {
  const { layout, dataStart } = decodeLayout(bytes);
  const values = layout.reduce((n, t) => n + sizeOf(t.shape), 0);
  const expected = dataStart + values * 4;
  if (bytes.length !== expected) fail(`weights file is ${bytes.length} bytes, header says ${expected} (torn or padded)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = dataStart;
  return layout.map(({ name, shape }) => {
    const n = sizeOf(shape);
    let data: Float32Array;
    if (LITTLE_ENDIAN) {
      data = new Float32Array(n);
      new Uint8Array(data.buffer).set(bytes.subarray(off, off + n * 4));
    } else {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(off + i * 4, true);
    }
    off += n * 4;
    return { name, shape, data };
  });
}

/** The content hash of encoded weights: the model version's address. */
export function weightsHash(weights: Weights): string {
  return contentHash(encodeWeights(weights));
}
