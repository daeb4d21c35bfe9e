/**
 * Event data as what an output writes: strings as text, `Uint8Array`s as
 * bytes, anything else as JSON text; and the byte helpers the actors share.
 *
 * @module
 */

import { errorMessage } from "../core/actor.ts";

const encoder = new TextEncoder();

/**
 * `data` as text or bytes: a string or a `Uint8Array` as it is, any other value
 * as JSON (`undefined`, which JSON cannot hold, as `null`). Data that JSON
 * cannot represent (a BigInt, a cycle) is a `TypeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { payload } from "./payload.ts";
 * assert.equal(payload("text"), "text");
 * assert.equal(payload({ a: 1 }), '{"a":1}');
 * ```
 */
export function payload(data: unknown): string | Uint8Array {
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  return toJson(data);
}

/**
 * `data` as bytes: {@link payload}, with text encoded as UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { payloadBytes } from "./payload.ts";
 * assert.equal(payloadBytes("hé").length, 3);
 * ```
 */
export function payloadBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  return encoder.encode(typeof data === "string" ? data : toJson(data));
}

/**
 * JSON text of `value`; `undefined` becomes `null`; what JSON cannot represent
 * is a `TypeError` saying why, naming `value` as `what` ("Cannot write the
 * data as JSON: ...").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toJson } from "./payload.ts";
 * assert.equal(toJson([1, "a"]), '[1,"a"]');
 * assert.equal(toJson(undefined), "null");
 * ```
 */
export function toJson(value: unknown, what = "data"): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch (error) {
    throw new TypeError(
      `Cannot write the ${what} as JSON: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * The length of `text` encoded as UTF-8, in bytes, without encoding it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8Length } from "./payload.ts";
 * assert.equal(utf8Length("hé🎉"), 7);
 * assert.equal(utf8Length("\ud800"), 3); // as TextEncoder writes a lone surrogate
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text, i + 1)) {
      bytes += 4; // a surrogate pair: two UTF-16 units
      i++;
    } else bytes += 3; // a lone surrogate is encoded as U+FFFD: 3 bytes too
  }
  return bytes;
}

function isLowSurrogate(text: string, at: number): boolean {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The Content-Type of `data` sent as a body by default (see {@link payload}):
 * text for a string, bytes for a `Uint8Array`, JSON for anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultContentType } from "./payload.ts";
 * assert.equal(defaultContentType("text"), "text/plain; charset=utf-8");
 * assert.equal(defaultContentType({ a: 1 }), "application/json");
 * ```
 */
export function defaultContentType(data: unknown): string {
  return typeof data === "string"
    ? "text/plain; charset=utf-8"
    : data instanceof Uint8Array
    ? "application/octet-stream"
    : "application/json";
}

/**
 * Writes every byte of `bytes` to `writer`, calling `writeSync` until all of
 * them are written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAllSync } from "./payload.ts";
 * const written: number[] = [];
 * const oneByteAtATime = { writeSync: (bytes: Uint8Array) => written.push(bytes[0]!) && 1 };
 * writeAllSync(oneByteAtATime, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(written, [1, 2, 3]);
 * ```
 */
export function writeAllSync(
  writer: { writeSync(p: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) {
    written += writer.writeSync(bytes.subarray(written));
  }
}

/**
 * Writes every byte of `bytes` to `writer`, awaiting `write` until all of them
 * are written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./payload.ts";
 * const written: number[] = [];
 * const oneByteAtATime = { write: (bytes: Uint8Array) => Promise.resolve(written.push(bytes[0]!) && 1) };
 * await writeAll(oneByteAtATime, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(written, [1, 2, 3]);
 * ```
 */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await writer.write(bytes.subarray(written));
  }
}

/**
 * `parts` as one array of `length` (their total) bytes; a single part is
 * returned as it is, without a copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./payload.ts";
 * const bytes = concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])], 3);
 * assert.deepEqual(bytes, new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  length: number,
): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return whole;
}

/** Above this many bytes, a {@link ByteBuilder} gives its buffer back on `clear`. */
const KEEP_BYTES = 16 * 1024 * 1024;

/**
 * A growing byte buffer, reused from batch to batch, that text is encoded into
 * in place (no copy per piece): how outputs make one write of a whole batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteBuilder } from "./payload.ts";
 * const builder = new ByteBuilder();
 * builder.addUint32(0);
 * builder.addText("hé");
 * builder.setUint32(0, builder.length - 4);
 * assert.deepEqual(builder.bytes(), new Uint8Array([0, 0, 0, 3, 104, 195, 169]));
 * ```
 */
export class ByteBuilder {
  /** Bytes added since the last `clear`. */
  length = 0;
  #initial: number;
  #buffer: Uint8Array;
  #view: DataView;

  /** Makes an empty builder with room for `initial` bytes to start with. */
  constructor(initial = 65_536) {
    this.#initial = initial;
    this.#buffer = new Uint8Array(initial);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Empties the builder (giving back a very large buffer). */
  clear(): void {
    this.length = 0;
    if (this.#buffer.length > KEEP_BYTES) this.#grow(this.#initial, true);
  }

  /** Adds `text` encoded as UTF-8. */
  addText(text: string): void {
    this.#reserve(text.length * 3);
    this.length += encoder.encodeInto(text, this.#buffer.subarray(this.length))
      .written;
  }

  /** Adds `bytes`. */
  addBytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Adds one byte. */
  addByte(byte: number): void {
    this.#reserve(1);
    this.#buffer[this.length++] = byte;
  }

  /** Adds a 32-bit unsigned integer, big-endian. */
  addUint32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.length, value);
    this.length += 4;
  }

  /** Overwrites the 32-bit unsigned integer (big-endian) at `at`. */
  setUint32(at: number, value: number): void {
    this.#view.setUint32(at, value);
  }

  /** A view of bytes `start` to `end`; valid until the builder changes. */
  bytes(start = 0, end: number = this.length): Uint8Array {
    return this.#buffer.subarray(start, end);
  }

  #reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < needed) size *= 2;
    this.#grow(size, false);
  }

  #grow(size: number, empty: boolean): void {
    const buffer = new Uint8Array(size);
    if (!empty) buffer.set(this.#buffer.subarray(0, this.length));
    this.#buffer = buffer;
    this.#view = new DataView(buffer.buffer);
  }
}
