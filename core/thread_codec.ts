/**
 * The compact form in which events cross between the main thread and the
 * threads of a stage (`threads: N`, see `threads.ts`): headers and data that
 * are objects travel as one JSON text, string data as the strings
 * themselves, byte data packed into one transferred buffer. Nothing is
 * cloned object by object, except the rare event JSON cannot carry (a
 * `BigInt`, say).
 *
 * JSON carries what events read from the outside are made of. A value it
 * cannot carry as it is arrives as `JSON.stringify` makes it: a `Date` as its
 * ISO text, an `undefined` header value not at all.
 *
 * @module
 */

import type { Event } from "./event.ts";

/** What the data of an event is, in {@link WireEvents.kinds}. */
const STRING = 0;
const BYTES = 1;
const JSON_VALUE = 2;
const UNDEFINED = 3;

/**
 * Events in the form they cross a thread boundary in; see
 * {@link encodeEvents}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEvents, type WireEvents } from "./thread_codec.ts";
 * const wire: WireEvents = encodeEvents([{ header: {}, data: "text" }]);
 * assert.equal(wire.text, "text");
 * ```
 */
export interface WireEvents {
  /**
   * JSON of one item per event: `[header]`, or `[header, data]` when the
   * data is a JSON value; `0` for an item in `cloned`.
   */
  json: string;
  /** The kind of each event's data. */
  kinds: Uint8Array;
  /** The string data, one after the other (one string crosses faster than many). */
  text: string;
  /** Where each string datum ends in `text`, in event order. */
  textEnds: Uint32Array;
  /** The byte data, one after the other. */
  bytes: Uint8Array;
  /** Where each byte datum ends in `bytes`, in event order. */
  ends: Uint32Array;
  /** The items JSON cannot carry, in event order, cloned. */
  cloned: unknown[];
  /**
   * The events that can neither be written as JSON nor cloned (a function
   * beside a `BigInt`, say), with why: they fail instead of crossing.
   */
  refused: [number, string][];
}

/**
 * Encodes `events` for `postMessage`; pass {@link transferables} of the
 * result as its transfer list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEvents, encodeEvents } from "./thread_codec.ts";
 * const wire = encodeEvents([
 *   { header: { a: 1 }, data: { n: 2 } },
 *   { header: {}, data: new Uint8Array([104, 105]) },
 * ]);
 * const [first, second] = decodeEvents(wire);
 * assert.deepEqual(first!.data, { n: 2 });
 * assert.equal(new TextDecoder().decode(second!.data as Uint8Array), "hi");
 * ```
 */
export function encodeEvents(events: readonly Event[]): WireEvents {
  const count = events.length;
  const kinds = new Uint8Array(count);
  const texts: string[] = [];
  const parts: Uint8Array[] = [];
  const items: unknown[] = new Array(count);
  let size = 0;
  for (let i = 0; i < count; i++) {
    const { header, data } = events[i]!;
    if (typeof data === "string") {
      kinds[i] = STRING;
      texts.push(data);
      items[i] = [header];
    } else if (data instanceof Uint8Array) {
      kinds[i] = BYTES;
      parts.push(data);
      size += data.byteLength;
      items[i] = [header];
    } else if (data === undefined) {
      kinds[i] = UNDEFINED;
      items[i] = [header];
    } else {
      kinds[i] = JSON_VALUE;
      items[i] = [header, data];
    }
  }
  const textEnds = new Uint32Array(texts.length);
  let length = 0;
  for (let i = 0; i < texts.length; i++) {
    length += texts[i]!.length;
    textEnds[i] = length;
  }
  const cloned: unknown[] = [];
  const refused: [number, string][] = [];
  let json: string;
  try {
    json = JSON.stringify(items);
  } catch {
    // Some value JSON cannot carry: find which, and clone those; one that
    // cannot be cloned either is refused (its event fails).
    for (let i = 0; i < count; i++) {
      try {
        JSON.stringify(items[i]);
        continue;
      } catch {
        // Below.
      }
      try {
        cloned.push(structuredClone(items[i]));
      } catch (error) {
        cloned.push([{}]);
        refused.push([
          i,
          error instanceof Error ? error.message : String(error),
        ]);
      }
      items[i] = 0;
    }
    json = JSON.stringify(items);
  }
  const bytes = new Uint8Array(size);
  const ends = new Uint32Array(parts.length);
  let end = 0;
  for (let i = 0; i < parts.length; i++) {
    bytes.set(parts[i]!, end);
    end += parts[i]!.byteLength;
    ends[i] = end;
  }
  return {
    json,
    kinds,
    text: texts.join(""),
    textEnds,
    bytes,
    ends,
    cloned,
    refused,
  };
}

/** Byte data from which on its buffer is transferred rather than copied. */
const TRANSFER_FROM_BYTES = 256 * 1024;

/**
 * The buffers of `wire` to transfer rather than copy: the byte data when
 * there is much of it (a transfer costs more than copying a small buffer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEvents, transferables } from "./thread_codec.ts";
 * assert.equal(transferables(encodeEvents([{ header: {}, data: new Uint8Array(10) }])).length, 0);
 * ```
 */
export function transferables(wire: WireEvents): ArrayBuffer[] {
  return wire.bytes.byteLength >= TRANSFER_FROM_BYTES
    ? [wire.bytes.buffer as ArrayBuffer]
    : [];
}

/**
 * The events of `wire`, as {@link encodeEvents} was given them (byte data as
 * views of one buffer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEvents, encodeEvents } from "./thread_codec.ts";
 * assert.deepEqual(decodeEvents(encodeEvents([{ header: { n: 1 }, data: "x" }])), [{ header: { n: 1 }, data: "x" }]);
 * ```
 */
export function decodeEvents(wire: WireEvents): Event[] {
  type Item = [Record<string, unknown>, unknown?];
  const items = JSON.parse(wire.json) as (Item | 0)[];
  const { kinds, text, textEnds, bytes, ends, cloned } = wire;
  const events: Event[] = new Array(items.length);
  let clone = 0;
  let texts = 0;
  let textStart = 0;
  let part = 0;
  let start = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] === 0 ? cloned[clone++] as Item : items[i] as Item;
    const header = item[0];
    switch (kinds[i]) {
      case STRING: {
        const end = textEnds[texts++]!;
        events[i] = { header, data: text.slice(textStart, end) };
        textStart = end;
        break;
      }
      case BYTES: {
        const end = ends[part++]!;
        events[i] = { header, data: bytes.subarray(start, end) };
        start = end;
        break;
      }
      case JSON_VALUE:
        events[i] = { header, data: item[1] };
        break;
      default:
        events[i] = { header, data: undefined };
    }
  }
  return events;
}

/**
 * Where a thread finds the spec of the actor it runs: a built-in stateless
 * actor by type, or the module (a URL) that exports the spec as `default`
 * or `spec`.
 *
 * @example
 * ```ts
 * import type { SpecSource } from "./thread_codec.ts";
 * const source: SpecSource = { type: "jsonata" };
 * ```
 */
export type SpecSource = { type: string } | { module: string };

/**
 * A message from the main thread to a thread: make the actor, consume a
 * batch, or tear the actor down.
 *
 * @example
 * ```ts
 * import type { ToThread } from "./thread_codec.ts";
 * const message: ToThread = { type: "close" };
 * ```
 */
export type ToThread =
  | { type: "init"; name: string; source: SpecSource; options: unknown }
  | { type: "batch"; id: number; queue: string; events: WireEvents }
  | { type: "close" };

/**
 * One event of a batch that failed in a thread: `crash` when it threw a
 * `CrashError` (the thread consumed nothing after it).
 *
 * @example
 * ```ts
 * import type { ThreadFailure } from "./thread_codec.ts";
 * const failure: ThreadFailure = { index: 0, name: "SyntaxError", message: "Unexpected token" };
 * ```
 */
export interface ThreadFailure {
  /** The event's index in its batch. */
  index: number;
  /** The error's name. */
  name: string;
  /** The error's message. */
  message: string;
  /** What the actor added with `context.fail(event, error, details)`. */
  details?: Record<string, unknown>;
  /** The actor threw a `CrashError`. */
  crash?: true;
}

/**
 * What a thread sends back for a batch: the events sent (grouped by the
 * event they derive from, in order), and the failures.
 *
 * @example
 * ```ts
 * import { encodeEvents } from "./thread_codec.ts";
 * import type { ThreadResult } from "./thread_codec.ts";
 * const result: ThreadResult = {
 *   type: "result",
 *   id: 1,
 *   outputs: encodeEvents([]),
 *   sources: new Uint32Array(0),
 *   queues: null,
 *   failures: [],
 *   ms: 0.5,
 * };
 * ```
 */
export interface ThreadResult {
  type: "result";
  /** The batch's id. */
  id: number;
  /** The events sent. */
  outputs: WireEvents;
  /** The index, in the batch, of the event each output derives from. */
  sources: Uint32Array;
  /** The outbound queue of each output; `null` when all went to `outbox`. */
  queues: string[] | null;
  /** The events that failed, in order. */
  failures: ThreadFailure[];
  /** How long the thread took, in ms. */
  ms: number;
}

/**
 * A message from a thread to the main thread.
 *
 * @example
 * ```ts
 * import type { FromThread } from "./thread_codec.ts";
 * const message: FromThread = { type: "ready" };
 * ```
 */
export type FromThread =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "died"; message: string }
  | ThreadResult
  | { type: "closed" };
