/**
 * `TransformStream`s between the chunks Web Streams programs have (text,
 * bytes) and events, for the parts the platform does not ship: the platform
 * decodes and encodes text (`TextDecoderStream`, `TextEncoderStream`) and
 * compresses (`CompressionStream`, `DecompressionStream`); these split text
 * and bytes into events and write events as lines.
 *
 * ```ts ignore
 * await Deno.stdin.readable
 *   .pipeThrough(new TextDecoderStream())
 *   .pipeThrough(textLinesToEvents())
 *   .pipeThrough(toTransformStream(jsonata, { expression: "..." }))
 *   .pipeThrough(eventsToTextLines())
 *   .pipeThrough(new TextEncoderStream())
 *   .pipeTo(Deno.stdout.writable);
 * ```
 *
 * What cannot be decoded or encoded (a line longer than the limit, a line
 * that is not JSON, data JSON cannot hold) errors the stream, naming the
 * line, unless `onFailure` is given: it is then handed an event describing
 * the failure (`header.error`, as the inputs send to their `error` queue)
 * and the stream goes on.
 *
 * @module
 */

import {
  type Codec,
  CODECS,
  type DecodeFailure,
  type DecodeSink,
  DEFAULT_MAX_LINE_BYTES,
  failureEvent,
  SAMPLE_CHARS,
  StreamDecoder,
} from "../actors/input/codec.ts";
import { ByteBuilder, toJson } from "../actors/payload.ts";
import { describe, errorMessage } from "./actor.ts";
import { type Event, isEvent, whyNotEvent } from "./event.ts";
import type { StreamChunk } from "./stream.ts";

/**
 * Options shared by the adapters that make events.
 *
 * @example
 * ```ts
 * import type { ToEventsOptions } from "./adapters.ts";
 * const options: ToEventsOptions = { batch: true, onFailure: (event) => console.error(event.header.error) };
 * ```
 */
export interface ToEventsOptions {
  /**
   * Whether each chunk read gives one array of the events it holds instead
   * of one chunk per event (default `false`): much faster with stages made
   * with `batch: true`.
   */
  batch?: boolean;
  /**
   * Takes what could not be decoded, as an event with `header.error`; the
   * stream goes on. Without it, the stream errors.
   */
  onFailure?: (failed: Event) => void;
}

/**
 * Options of {@link textLinesToEvents}.
 *
 * @example
 * ```ts
 * import type { TextLinesOptions } from "./adapters.ts";
 * const options: TextLinesOptions = { maxLineLength: 4096 };
 * ```
 */
export interface TextLinesOptions extends ToEventsOptions {
  /**
   * The longest line, in characters (UTF-16 code units), without its
   * `"\n"` (default 1,048,576). A longer line is a failure: it is skipped
   * up to its end, so memory stays bounded.
   */
  maxLineLength?: number;
}

/**
 * A `TransformStream` from text (as `TextDecoderStream` gives it) to one
 * event per line, `{ header: {}, data: line }`: without its `"\n"` (nor a
 * `"\r"` before it); empty lines are lines; a last line without `"\n"`
 * counts when the text ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textLinesToEvents } from "./adapters.ts";
 * const events = await Array.fromAsync(
 *   ReadableStream.from(["one\r\ntw", "o\n", "three"])
 *     .pipeThrough(textLinesToEvents()),
 * );
 * assert.deepEqual(events.map((event) => event.data), ["one", "two", "three"]);
 * ```
 */
export function textLinesToEvents<
  const S extends TextLinesOptions = TextLinesOptions,
>(options?: S): TransformStream<string, StreamChunk<S>> {
  const max = atLeastOne(
    "textLinesToEvents",
    "maxLineLength",
    options?.maxLineLength ?? DEFAULT_MAX_LINE_BYTES,
  );
  let tail = "";
  let skipping = false;
  let lines = 0;
  const decoded = new Decoded("textLinesToEvents", options);
  const line = (text: string): void => {
    lines++;
    if (skipping) {
      skipping = false;
      return;
    }
    if (text.length > max) {
      decoded.failure(tooLong(lines, max, text));
      return;
    }
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    decoded.value(text);
  };
  return new TransformStream<string, StreamChunk<S>>({
    transform: (chunk, controller) => {
      if (typeof chunk !== "string") {
        throw new TypeError(
          `textLinesToEvents() takes text, not ${
            typeName(chunk)
          }: pipe bytes through TextDecoderStream first, or use bytesToEvents()`,
        );
      }
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf("\n", start);
        if (newline === -1) break;
        const text = chunk.slice(start, newline);
        if (tail === "") {
          line(text);
        } else {
          line(tail + text);
          tail = "";
        }
        start = newline + 1;
      }
      if (start < chunk.length && !skipping) {
        const rest = chunk.slice(start);
        if (tail.length + rest.length > max) {
          decoded.failure(tooLong(lines + 1, max, tail + rest));
          tail = "";
          skipping = true;
        } else {
          tail += rest;
        }
      }
      decoded.hand(controller);
    },
    flush: (controller) => {
      if (tail !== "" && !skipping) line(tail);
      tail = "";
      decoded.hand(controller);
    },
  });
}

/**
 * Options of {@link bytesToEvents}.
 *
 * @example
 * ```ts
 * import type { BytesOptions } from "./adapters.ts";
 * const options: BytesOptions = { codec: "ndjson", maxLineBytes: 65_536 };
 * ```
 */
export interface BytesOptions extends ToEventsOptions {
  /**
   * How bytes become event data, as the `codec` option of the inputs
   * (default `"lines"`): `"lines"` one string per line, `"ndjson"` one JSON
   * value per line (blank lines skipped), `"json"` the whole input as one
   * JSON document, `"raw"` the bytes of each chunk as they are.
   */
  codec?: Codec;
  /** The longest line (or `json` document), in bytes (default 1 MiB). */
  maxLineBytes?: number;
}

/**
 * A `TransformStream` from bytes (a `fetch` body, a file, `Deno.stdin`) to
 * events, decoded as the `codec` option of the inputs says (the same code:
 * UTF-8 split across chunks, `"\r\n"`, over-long lines).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesToEvents } from "./adapters.ts";
 * const body = new Response('{"a":1}\n{"a":2}\n').body!;
 * const events = await Array.fromAsync(
 *   body.pipeThrough(bytesToEvents({ codec: "ndjson" })),
 * );
 * assert.deepEqual(events.map((event) => event.data), [{ a: 1 }, { a: 2 }]);
 * ```
 */
export function bytesToEvents<const S extends BytesOptions = BytesOptions>(
  options?: S,
): TransformStream<Uint8Array, StreamChunk<S>> {
  const codec = options?.codec ?? "lines";
  if (!(CODECS as readonly unknown[]).includes(codec)) {
    throw new TypeError(
      `bytesToEvents(): codec must be one of ${
        CODECS.map((known) => `"${known}"`).join(", ")
      }, not ${JSON.stringify(codec)}`,
    );
  }
  const decoded = new Decoded("bytesToEvents", options);
  const decoder = new StreamDecoder(
    codec,
    atLeastOne(
      "bytesToEvents",
      "maxLineBytes",
      options?.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
    ),
    decoded,
  );
  return new TransformStream<Uint8Array, StreamChunk<S>>({
    transform: (chunk, controller) => {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(
          `bytesToEvents() takes bytes (Uint8Array), not ${
            typeName(chunk)
          }: use textLinesToEvents() for text`,
        );
      }
      decoder.write(chunk);
      decoded.hand(controller);
    },
    flush: (controller) => {
      decoder.end();
      decoded.hand(controller);
    },
  });
}

/**
 * Options of {@link eventsToTextLines} and {@link eventsToBytes}.
 *
 * @example
 * ```ts
 * import type { LinesOptions } from "./adapters.ts";
 * const options: LinesOptions = { format: "ndjson" };
 * ```
 */
export interface LinesOptions {
  /**
   * How each event becomes a line, as `file_out` writes it (default
   * `"lines"`): `"lines"` writes string data as it is, bytes as they are and
   * other data as JSON; `"ndjson"` writes the data as JSON, strings
   * included.
   */
  format?: "lines" | "ndjson";
  /**
   * Takes an event whose data cannot be written (JSON cannot hold it), with
   * `header.error` set; the stream goes on without it. Without it, the
   * stream errors.
   */
  onFailure?: (failed: Event) => void;
}

/**
 * A `TransformStream` from events (one per chunk, or arrays of them) to
 * text, one line per event ending with `"\n"`, one string per chunk; pipe
 * it through `TextEncoderStream` for bytes, or use {@link eventsToBytes}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventsToTextLines } from "./adapters.ts";
 * const text = await Array.fromAsync(
 *   ReadableStream.from([{ header: {}, data: "a" }, [{ header: {}, data: { b: 1 } }]])
 *     .pipeThrough(eventsToTextLines()),
 * );
 * assert.equal(text.join(""), 'a\n{"b":1}\n');
 * ```
 */
export function eventsToTextLines(
  options?: LinesOptions,
): TransformStream<Event | Event[], string> {
  const decoder = new TextDecoder();
  return linesStream("eventsToTextLines", options, (lines) => {
    let text = "";
    for (const line of lines) {
      text += typeof line === "string" ? line : decoder.decode(line);
      text += "\n";
    }
    return text;
  });
}

/**
 * A `TransformStream` from events (one per chunk, or arrays of them) to
 * UTF-8 bytes, one line per event ending with `"\n"`, one `Uint8Array` per
 * chunk: ready for `CompressionStream`, a file's or a socket's writable, or
 * a `Response` body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventsToBytes } from "./adapters.ts";
 * const body = ReadableStream.from([{ header: {}, data: { a: 1 } }])
 *   .pipeThrough(eventsToBytes({ format: "ndjson" }));
 * assert.equal(await new Response(body).text(), '{"a":1}\n');
 * ```
 */
export function eventsToBytes(
  options?: LinesOptions,
): TransformStream<Event | Event[], Uint8Array<ArrayBuffer>> {
  const bytes = new ByteBuilder();
  return linesStream("eventsToBytes", options, (lines) => {
    bytes.clear();
    for (const line of lines) {
      if (typeof line === "string") bytes.addText(line);
      else bytes.addBytes(line);
      bytes.addByte(10);
    }
    return bytes.bytes().slice();
  });
}

/**
 * The stream of {@link eventsToTextLines} and {@link eventsToBytes} (named
 * `adapter`): each chunk's lines (text, or bytes for byte data in `"lines"`
 * format) go to `join`, whose result is the chunk written on. A value that
 * is not an event is a failure.
 */
function linesStream<T>(
  adapter: string,
  options: LinesOptions | undefined,
  join: (lines: (string | Uint8Array)[]) => T,
): TransformStream<Event | Event[], T> {
  const format = options?.format ?? "lines";
  if (format !== "lines" && format !== "ndjson") {
    throw new TypeError(
      `${adapter}(): format must be "lines" or "ndjson", not ${
        JSON.stringify(format)
      }`,
    );
  }
  const raw = format === "lines";
  const lines: (string | Uint8Array)[] = [];
  /** `value` makes no line: `error` goes to `onFailure`, or errors the stream. */
  const fail = (error: unknown, value: unknown) => {
    if (options?.onFailure === undefined) throw error;
    options.onFailure(
      failureEvent("eventsToLines", {}, {
        name: "TypeError",
        message: errorMessage(error),
        sample: describe(value).slice(0, SAMPLE_CHARS),
      }),
    );
  };
  return new TransformStream<Event | Event[], T>({
    transform: (chunk, controller) => {
      const events = Array.isArray(chunk) ? chunk : [chunk];
      lines.length = 0;
      for (const event of events) {
        if (!isEvent(event)) {
          fail(new TypeError(`Not an event: ${whyNotEvent(event)}`), event);
          continue;
        }
        const data = event.data;
        if (raw && (typeof data === "string" || data instanceof Uint8Array)) {
          lines.push(data);
          continue;
        }
        try {
          lines.push(toJson(data));
        } catch (error) {
          fail(error, data);
        }
      }
      if (lines.length > 0) controller.enqueue(join(lines));
    },
  });
}

/**
 * `value` of option `option` of `adapter`, when it is a whole number of at
 * least 1; else a `RangeError` naming them.
 */
function atLeastOne(adapter: string, option: string, value: number): number {
  if (Number.isInteger(value) && value >= 1) return value;
  throw new RangeError(
    `${adapter}(): ${option} must be a whole number of at least 1, not ${
      describe(value)
    }`,
  );
}

/**
 * The type or class of `value` as JavaScript names it (`"string"`,
 * `"Uint8Array"`), for an error message.
 */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return Object.getPrototypeOf(value)?.constructor?.name ?? "object";
}

/** The failure of an over-long line. */
function tooLong(line: number, max: number, text: string): DecodeFailure {
  return {
    name: "RangeError",
    message: `Line ${line} is longer than ${max} characters`,
    sample: text.slice(0, SAMPLE_CHARS),
  };
}

/**
 * What an adapter decoded from one chunk: the events, handed on as one
 * chunk each or as one array, and the failures, handed to `onFailure` or
 * thrown (the first) to error the stream.
 */
class Decoded implements DecodeSink {
  #adapter: string;
  #options: ToEventsOptions | undefined;
  #events: Event[] = [];
  #failures: DecodeFailure[] = [];

  constructor(adapter: string, options: ToEventsOptions | undefined) {
    this.#adapter = adapter;
    this.#options = options;
  }

  value(data: unknown): void {
    this.#events.push({ header: {}, data });
  }

  failure(failure: DecodeFailure): void {
    this.#failures.push(failure);
  }

  /** Hands on what was decoded since the last call. */
  hand<C>(controller: TransformStreamDefaultController<C>): void {
    const events = this.#events;
    const failures = this.#failures;
    this.#events = [];
    this.#failures = [];
    if (failures.length > 0) {
      const onFailure = this.#options?.onFailure;
      if (onFailure === undefined) {
        const [{ name, message }] = failures as [DecodeFailure];
        throw name === "RangeError"
          ? new RangeError(message)
          : new SyntaxError(message);
      }
      for (const failure of failures) {
        onFailure(failureEvent(this.#adapter, {}, failure));
      }
    }
    if (events.length === 0) return;
    if (this.#options?.batch === true) {
      controller.enqueue(events as C);
    } else {
      for (const event of events) controller.enqueue(event as C);
    }
  }
}
