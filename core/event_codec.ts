/**
 * Events as bytes and back, for a disk buffer: fast for the common event
 * (a JSON header, data that is text, bytes or JSON), exact for the others
 * (anything `structuredClone` copies: dates, maps, typed arrays deep in a
 * header), with the marks the core keeps beside an event: whether it
 * failed before, and the number of the delivery tracker it had.
 *
 * The payload starts with a flags byte, then, for a tracked event, its
 * tracker's number (8 bytes); then either the header's JSON length (4
 * bytes), the header as JSON and the data (UTF-8 text, raw bytes or JSON),
 * or the whole event in V8's serialization format.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import type { ByteBuilder } from "../actors/payload.ts";
import type { Event } from "./event.ts";
import { FAILED, type TrackedEvent } from "./tracking.ts";

/** The event had failed before (it travels on an error path). */
const FAILED_FLAG = 1;
/** A tracker number follows the flags. */
const TRACKED_FLAG = 2;
/** The data is UTF-8 text. */
const TEXT_DATA = 4;
/** The data is raw bytes (a `Uint8Array`). */
const BYTES_DATA = 8;
/** The whole event is in V8's format (what JSON cannot hold exactly). */
const V8_EVENT = 16;

/** Deepest nesting checked for plain JSON; deeper values use V8's format. */
const MAX_DEPTH = 64;

const decoder = new TextDecoder();

/**
 * Makes the events read back from disk: plain objects (their prototype is
 * `Object.prototype`), made by `new` rather than by an object literal, on
 * purpose. V8 remembers where each object literal is evaluated, and once
 * most objects made at one place outlive a young-generation collection it
 * allocates every later one there directly in the old generation, for the
 * rest of the process ("allocation-site pretenuring"). Events read back
 * while the output is down wait in memory for the whole outage, which is
 * just what makes V8 decide so; the catch-up then filled the old generation
 * with millions of short-lived events, and a run holding 120 MB grew to
 * 200 MB. Objects made by `new` are not tracked that way.
 */
const DecodedEvent = function (
  this: Event,
  header: Record<string, unknown>,
  data: unknown,
): void {
  this.header = header;
  this.data = data;
} as unknown as new (header: Record<string, unknown>, data: unknown) => Event;
DecodedEvent.prototype = Object.prototype;

/**
 * Adds the payload of `event` to `builder`; `tracker` is the number of its
 * delivery tracker, when it has one to find again on reading. Throws a
 * `TypeError` naming what cannot be written (a function, a symbol).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteBuilder } from "../actors/payload.ts";
 * import { decodeEvent, encodeEvent } from "./event_codec.ts";
 * const builder = new ByteBuilder();
 * encodeEvent(builder, { header: { at: new Date(0) }, data: "hi" });
 * const { event } = decodeEvent(builder.bytes(), 0, builder.length);
 * assert.ok(event.header.at instanceof Date);
 * assert.equal(event.data, "hi");
 * ```
 */
export function encodeEvent(
  builder: ByteBuilder,
  event: Event,
  tracker?: number,
): void {
  const { header, data } = event;
  let flags = (event as TrackedEvent)[FAILED] === true ? FAILED_FLAG : 0;
  if (tracker !== undefined) flags |= TRACKED_FLAG;
  let kind: number;
  if (!jsonExact(header, 0)) kind = V8_EVENT;
  else if (typeof data === "string") {
    kind = data.isWellFormed() ? TEXT_DATA : 0;
  } else if (
    data instanceof Uint8Array &&
    Object.getPrototypeOf(data) === Uint8Array.prototype
  ) kind = BYTES_DATA;
  else kind = jsonExact(data, 0) ? 0 : V8_EVENT;
  builder.addByte(flags | kind);
  if (tracker !== undefined) {
    builder.addUint32(Math.floor(tracker / 0x1_0000_0000));
    builder.addUint32(tracker >>> 0);
  }
  if (kind === V8_EVENT) {
    let bytes: Uint8Array;
    try {
      bytes = serialize({ header, data });
    } catch (error) {
      throw new TypeError(
        `The event cannot be written to disk: ${(error as Error).message}`,
        { cause: error },
      );
    }
    builder.addBytes(bytes);
    return;
  }
  const lengthAt = builder.length;
  builder.addUint32(0);
  builder.addText(JSON.stringify(header));
  builder.setUint32(lengthAt, builder.length - lengthAt - 4);
  if (kind === TEXT_DATA) builder.addText(data as string);
  else if (kind === BYTES_DATA) builder.addBytes(data as Uint8Array);
  else builder.addText(JSON.stringify(data));
}

/**
 * The event whose payload is `bytes[start..end)`, with the number of its
 * tracker when it had one (see {@link encodeEvent}). Throws when the
 * payload is not one.
 */
export function decodeEvent(
  bytes: Uint8Array,
  start: number,
  end: number,
): { event: Event; tracker: number | undefined } {
  const flags = bytes[start]!;
  let at = start + 1;
  let tracker: number | undefined;
  if (flags & TRACKED_FLAG) {
    tracker = uint32(bytes, at) * 0x1_0000_0000 + uint32(bytes, at + 4);
    at += 8;
  }
  let event: Event;
  if (flags & V8_EVENT) {
    event = deserialize(bytes.subarray(at, end)) as Event;
  } else {
    const headerEnd = at + 4 + uint32(bytes, at);
    const header = JSON.parse(
      decoder.decode(bytes.subarray(at + 4, headerEnd)),
    );
    const rest = bytes.subarray(headerEnd, end);
    const data = flags & TEXT_DATA
      ? decoder.decode(rest)
      : flags & BYTES_DATA
      ? rest.slice()
      : JSON.parse(decoder.decode(rest));
    event = new DecodedEvent(header, data);
  }
  if (flags & FAILED_FLAG) (event as TrackedEvent)[FAILED] = true;
  return { event, tracker };
}

/** The big-endian unsigned 32-bit number at `bytes[at..at + 4)`. */
function uint32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24 | bytes[at + 1]! << 16 | bytes[at + 2]! << 8 |
    bytes[at + 3]!) >>> 0;
}

/**
 * Whether `value` comes back from `JSON.parse(JSON.stringify(value))` as it
 * was: plain objects and arrays of strings, finite numbers (not -0),
 * booleans and null.
 */
function jsonExact(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_DEPTH) return false;
      if (Array.isArray(value)) {
        // A hole reads as undefined: not exact.
        for (let i = 0; i < value.length; i++) {
          if (!jsonExact(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!jsonExact((value as Record<string, unknown>)[key], depth + 1)) {
          return false;
        }
      }
      return true;
    }
    default:
      return false;
  }
}
