/**
 * Decoding of byte streams for the inputs that read them (`stdin`, `file_in`,
 * `tcp_server`, `udp_in`). Not an actor: a toolbox of decoders that turn bytes
 * into event data and report what they cannot decode, so that each input can
 * send a failure to its `error` queue and go on reading (the
 * {@link InputSink} does both sends for the stream inputs).
 *
 * The codecs:
 *
 * - `lines`: one string per line, without its `"\n"` (nor a `"\r"` before
 *   it). Empty lines are lines. A last line without `"\n"` counts when the
 *   input ends.
 * - `ndjson`: one JSON value per line; blank lines are skipped; a line that is
 *   not JSON is a failure.
 * - `json`: the whole input is one JSON document (whitespace only: nothing).
 * - `syslog`: one syslog message (RFC 5424 or RFC 3164) per line, made into a
 *   record as `actors/syslog.ts` documents; blank lines are skipped; a line
 *   that is not syslog is a failure whose sample is the whole line.
 * - `raw`: bytes as they are read, one `Uint8Array` per chunk read (chunk
 *   sizes are whatever the source delivers).
 *
 * A line (or `json` document) longer than `maxLineBytes` UTF-8 bytes is a
 * failure, not a crash: it is skipped up to its end and decoding goes on with
 * the next line, so memory stays bounded by the limit.
 *
 * @example
 * ```ts
 * import { StreamDecoder } from "./codec.ts";
 *
 * const values: unknown[] = [];
 * const failures: string[] = [];
 * const decoder = new StreamDecoder("ndjson", 1024, {
 *   value: (data) => values.push(data),
 *   failure: (failure) => failures.push(failure.message),
 * });
 * decoder.write(new TextEncoder().encode('{"a":1}\nnot json\n[2'));
 * decoder.write(new TextEncoder().encode("]\n"));
 * decoder.end();
 * values; // [{ a: 1 }, [2]]
 * failures.length; // 1
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Actor, EventError } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { concatBytes, utf8Length } from "../payload.ts";
import { errorMessage } from "../../core/actor.ts";
import { parseSyslog } from "../syslog.ts";

/** The codec names, as used in the `codec` option of the inputs. */
export const CODECS = ["lines", "ndjson", "json", "raw", "syslog"] as const;

/** How an input decodes the bytes it reads; see the module documentation. */
export type Codec = typeof CODECS[number];

/** The zod schema of a `codec` option (add `.default()` and `.describe()`). */
export const CodecSchema: z.ZodEnum<{ [K in Codec]: K }> = z.enum(CODECS);

/** The zod schemas of the `hostname` and `port` options of a listening input. */
export interface ListenOptions {
  /** The address to listen on (default `"127.0.0.1"`). */
  hostname: z.ZodDefault<z.ZodString>;
  /** The port to listen on; 0 picks a free one. */
  port: z.ZodDefault<z.ZodNumber>;
}

/**
 * The `hostname` and `port` options of an input that listens on `transport`
 * (`"TCP"` or `"UDP"`), port `defaultPort` unless told otherwise: spread them
 * into its options schema. The input reports the port it got as its `port`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { listenOptions } from "./codec.ts";
 * const Options = z.strictObject({ ...listenOptions("UDP", 5170) });
 * Options.parse({}); // { hostname: "127.0.0.1", port: 5170 }
 * ```
 */
export function listenOptions(
  transport: "TCP" | "UDP",
  defaultPort: number,
): ListenOptions {
  return {
    hostname: z.string().min(1).default("127.0.0.1").describe(
      'The address to listen on ("0.0.0.0" for every IPv4 interface).',
    ),
    port: z.number().int().min(0).max(65535).default(defaultPort).describe(
      `The ${transport} port to listen on; 0 picks a free port (see the actor's \`port\`).`,
    ),
  };
}

/** The default longest line (or `json` document), in bytes: 1 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 1_048_576;

/** The size of the buffer inputs read into, in bytes: 64 KiB. */
export const READ_BUFFER_BYTES = 65_536;

/** Most characters of an over-long line kept as the data of its failure. */
export const SAMPLE_CHARS = 200;

/**
 * What could not be decoded. `name` is `"RangeError"` for a size limit and
 * `"SyntaxError"` for content that does not decode; `sample` is the text
 * concerned (a whole undecodable line, or the first {@link SAMPLE_CHARS}
 * characters of an over-long one).
 */
export interface DecodeFailure {
  /** `"RangeError"` (a limit) or `"SyntaxError"` (undecodable content). */
  name: "RangeError" | "SyntaxError";
  /** What is wrong, in one sentence naming the line when there is one. */
  message: string;
  /** The text concerned, or its beginning. */
  sample: string;
}

/**
 * Receives what a decoder makes, synchronously. `line` is the 1-based line
 * number (counted since the decoder was made or reset) for the line codecs,
 * and 0 for `json` and `raw`.
 */
export interface DecodeSink {
  /** One decoded value. */
  value(data: unknown, line: number): void;
  /** One failure; decoding goes on after it. */
  failure(failure: DecodeFailure, line: number): void;
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const UTF8 = new TextDecoder();

/**
 * Splits a byte stream into lines, each at most `maxLineBytes` long, in text
 * mode (strings, decoded as UTF-8 one chunk at a time) or byte mode (copies of
 * each line's bytes). Over-long lines are reported once and skipped to their
 * end.
 *
 * @example
 * ```ts
 * import { LineSplitter } from "./codec.ts";
 * const lines: unknown[] = [];
 * const splitter = new LineSplitter(16, "text", (line) => lines.push(line), () => {});
 * splitter.write(new TextEncoder().encode("a\r\nb\nc"));
 * splitter.end();
 * lines; // ["a", "b", "c"]
 * ```
 */
export class LineSplitter {
  readonly #max: number;
  readonly #text: boolean;
  readonly #onLine: (line: string | Uint8Array, number: number) => void;
  readonly #onTooLong: (sample: string, number: number) => void;
  #tail: Uint8Array[] = [];
  #tailBytes = 0;
  #skipping = false;
  #lines = 0;

  /**
   * @param maxLineBytes longest line accepted, in bytes, without its `"\n"`
   * @param mode `"text"`: lines are strings without a trailing `"\r"`;
   * `"bytes"`: lines are `Uint8Array` copies, exactly as received
   * @param onLine called with each line and its 1-based number
   * @param onTooLong called once per over-long line with its beginning
   */
  constructor(
    maxLineBytes: number,
    mode: "text" | "bytes",
    onLine: (line: string | Uint8Array, number: number) => void,
    onTooLong: (sample: string, number: number) => void,
  ) {
    this.#max = maxLineBytes;
    this.#text = mode === "text";
    this.#onLine = onLine;
    this.#onTooLong = onTooLong;
  }

  /** Bytes of an unfinished line held until its `"\n"` arrives. */
  get pendingBytes(): number {
    return this.#tailBytes;
  }

  /** Lines completed so far (over-long ones included). */
  get lines(): number {
    return this.#lines;
  }

  /** Splits `chunk`; the splitter copies what it keeps, so it may be reused. */
  write(chunk: Uint8Array): void {
    let start = 0;
    if (this.#skipping || this.#tailBytes > 0) {
      const newline = chunk.indexOf(NEWLINE);
      if (!this.#skipping) {
        this.#hold(newline === -1 ? chunk : chunk.subarray(0, newline));
      }
      if (newline === -1) return;
      if (this.#skipping) {
        this.#skipping = false;
        this.#lines++;
      } else {
        this.#emitHeld();
      }
      start = newline + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= start) {
      if (this.#text) this.#emitText(chunk, start, last);
      else this.#emitBytes(chunk, start, last);
      start = last + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
  }

  /** Ends the stream: an unfinished last line counts as a line. */
  end(): void {
    if (this.#tailBytes > 0) this.#emitHeld();
    this.reset(this.#lines);
  }

  /**
   * Forgets any unfinished line; line numbers start again after `lines`
   * (default 0).
   */
  reset(lines = 0): void {
    this.#tail = [];
    this.#tailBytes = 0;
    this.#skipping = false;
    this.#lines = lines;
  }

  #hold(part: Uint8Array): void {
    if (part.length === 0) return;
    if (this.#tailBytes + part.length > this.#max) {
      this.#onTooLong(sampleOf(this.#tail[0] ?? part), this.#lines + 1);
      this.#tail = [];
      this.#tailBytes = 0;
      this.#skipping = true;
      return;
    }
    this.#tail.push(part.slice());
    this.#tailBytes += part.length;
  }

  #emitHeld(): void {
    const line = concatBytes(this.#tail, this.#tailBytes);
    this.#tail = [];
    this.#tailBytes = 0;
    if (this.#text) this.#emitText(line, 0, line.length);
    else this.#emitBytes(line, 0, line.length);
  }

  /** Emits the lines of `chunk[start, end)`, which holds whole lines. */
  #emitText(chunk: Uint8Array, start: number, end: number): void {
    const text = UTF8.decode(chunk.subarray(start, end));
    const max = this.#max;
    for (let line of text.split("\n")) {
      const number = ++this.#lines;
      if (
        line.length > max || (line.length * 3 > max && utf8Length(line) > max)
      ) {
        this.#onTooLong(line.slice(0, SAMPLE_CHARS), number);
        continue;
      }
      if (line.charCodeAt(line.length - 1) === RETURN) {
        line = line.slice(0, -1);
      }
      this.#onLine(line, number);
    }
  }

  /** Emits copies of the lines of `chunk[start, end)`. */
  #emitBytes(chunk: Uint8Array, start: number, end: number): void {
    for (let from = start; from <= end;) {
      let newline = chunk.indexOf(NEWLINE, from);
      if (newline === -1 || newline > end) newline = end;
      const number = ++this.#lines;
      if (newline - from > this.#max) {
        this.#onTooLong(sampleOf(chunk.subarray(from)), number);
      } else {
        this.#onLine(chunk.slice(from, newline), number);
      }
      from = newline + 1;
    }
  }
}

/**
 * Decodes a byte stream with one codec: `write` each chunk as it is read,
 * `end` when the stream ends. What it decodes goes to the sink synchronously,
 * so an input can send it and then wait once for back-pressure.
 *
 * With `perLine` (for newline-framed sockets), `json` decodes each line like
 * `ndjson` and `raw` gives each line's bytes instead of each chunk.
 *
 * @example
 * ```ts
 * import { StreamDecoder } from "./codec.ts";
 * const lines: unknown[] = [];
 * const decoder = new StreamDecoder("lines", 1024, {
 *   value: (data, line) => lines.push([line, data]),
 *   failure: () => {},
 * });
 * decoder.write(new TextEncoder().encode("one\ntwo\n"));
 * lines; // [[1, "one"], [2, "two"]]
 * ```
 */
export class StreamDecoder {
  readonly #codec: Codec;
  readonly #max: number;
  readonly #sink: DecodeSink;
  readonly #splitter: LineSplitter | undefined;
  #document: Uint8Array[] = [];
  #documentBytes = 0;
  #documentTooLong = false;

  /**
   * @param codec how to decode
   * @param maxLineBytes longest line (or `json` document) accepted, in bytes
   * @param sink receives the values and failures
   * @param perLine decode `json` and `raw` line by line
   */
  constructor(
    codec: Codec,
    maxLineBytes: number,
    sink: DecodeSink,
    perLine = false,
  ) {
    this.#codec = codec;
    this.#max = maxLineBytes;
    this.#sink = sink;
    const tooLong = (sample: string, line: number) =>
      sink.failure({
        name: "RangeError",
        message:
          `Line ${line} is longer than ${maxLineBytes} bytes (max_line_bytes)`,
        sample,
      }, line);
    if (
      codec === "lines" || codec === "ndjson" || codec === "syslog" || perLine
    ) {
      const parses = codec === "ndjson" || codec === "json";
      this.#splitter = new LineSplitter(
        maxLineBytes,
        codec === "raw" ? "bytes" : "text",
        codec === "syslog"
          ? (line, number) => decodeSyslog(line as string, number, sink)
          : parses
          ? (line, number) => parseLine(line as string, number, sink)
          : (line, number) => sink.value(line, number),
        tooLong,
      );
    }
  }

  /** Bytes held for an unfinished line or document. */
  get pendingBytes(): number {
    return this.#splitter?.pendingBytes ?? this.#documentBytes;
  }

  /** Decodes `chunk`; the decoder copies what it keeps. */
  write(chunk: Uint8Array): void {
    if (this.#splitter !== undefined) {
      this.#splitter.write(chunk);
    } else if (this.#codec === "raw") {
      if (chunk.length > 0) this.#sink.value(chunk.slice(), 0);
    } else {
      this.#holdDocument(chunk);
    }
  }

  /** Ends the stream: decodes an unfinished last line or the document. */
  end(): void {
    if (this.#splitter !== undefined) {
      this.#splitter.end();
      return;
    }
    if (this.#codec !== "json" || this.#documentTooLong) {
      this.reset();
      return;
    }
    const bytes = concatBytes(this.#document, this.#documentBytes);
    this.reset();
    const text = UTF8.decode(bytes);
    if (text.trim() === "") return;
    try {
      this.#sink.value(JSON.parse(text), 0);
    } catch (error) {
      this.#sink.failure({
        name: "SyntaxError",
        message: `The input is not a JSON document: ${errorMessage(error)}`,
        sample: text,
      }, 0);
    }
  }

  /** Forgets what is held (a truncated file); line numbers start again. */
  reset(): void {
    this.#splitter?.reset();
    this.#document = [];
    this.#documentBytes = 0;
    this.#documentTooLong = false;
  }

  #holdDocument(chunk: Uint8Array): void {
    if (this.#documentTooLong || chunk.length === 0) return;
    if (this.#documentBytes + chunk.length > this.#max) {
      this.#sink.failure({
        name: "RangeError",
        message:
          `The JSON document is longer than ${this.#max} bytes (max_line_bytes)`,
        sample: sampleOf(this.#document[0] ?? chunk),
      }, 0);
      this.#document = [];
      this.#documentBytes = 0;
      this.#documentTooLong = true;
      return;
    }
    this.#document.push(chunk.slice());
    this.#documentBytes += chunk.length;
  }
}

/**
 * Splits a byte stream into frames that each start with their length as a
 * 4-byte big-endian unsigned integer, and decodes each frame with
 * {@link decodeMessage}. A frame longer than `maxFrameBytes` is reported and
 * skipped without being held in memory.
 *
 * @example
 * ```ts
 * import { LengthFrameDecoder } from "./codec.ts";
 * const values: unknown[] = [];
 * const decoder = new LengthFrameDecoder("json", 1024, {
 *   value: (data) => values.push(data),
 *   failure: () => {},
 * });
 * decoder.write(new Uint8Array([0, 0, 0, 2, 0x34, 0x32])); // "42"
 * values; // [42]
 * ```
 */
export class LengthFrameDecoder {
  readonly #codec: Codec;
  readonly #max: number;
  readonly #sink: DecodeSink;
  /** A length prefix split across chunks, gathered byte by byte. */
  readonly #prefix = new Uint8Array(4);
  readonly #prefixView = new DataView(this.#prefix.buffer);
  #prefixBytes = 0;
  /** The length of the frame being read; 0 between frames. */
  #length = 0;
  /** The frame's bytes when it spans chunks, made on its first part. */
  #frame: Uint8Array | undefined;
  #frameBytes = 0;
  #skip = 0;

  /**
   * @param codec how to decode each frame
   * @param maxFrameBytes longest frame accepted, in bytes, without its prefix
   * @param sink receives the values and failures
   */
  constructor(codec: Codec, maxFrameBytes: number, sink: DecodeSink) {
    this.#codec = codec;
    this.#max = maxFrameBytes;
    this.#sink = sink;
  }

  /** Bytes held for an unfinished frame. */
  get pendingBytes(): number {
    return this.#length === 0 ? this.#prefixBytes : this.#frameBytes;
  }

  /** Decodes `chunk`; the decoder copies what it keeps. */
  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, chunk.length - at);
        this.#skip -= skipped;
        at += skipped;
        continue;
      }
      const length = this.#length;
      if (length === 0) {
        if (this.#prefixBytes === 0 && chunk.length - at >= 4) {
          const prefix = ((chunk[at]! << 24) | (chunk[at + 1]! << 16) |
            (chunk[at + 2]! << 8) | chunk[at + 3]!) >>> 0;
          at += 4;
          this.#begin(prefix);
          continue;
        }
        this.#prefix[this.#prefixBytes++] = chunk[at++]!;
        if (this.#prefixBytes === 4) {
          this.#prefixBytes = 0;
          this.#begin(this.#prefixView.getUint32(0));
        }
        continue;
      }
      const wanted = length - this.#frameBytes;
      const available = chunk.length - at;
      if (this.#frameBytes === 0 && available >= wanted) {
        // The whole frame is in this chunk: decode it from there.
        const end = at + wanted;
        decodeMessage(
          this.#codec,
          this.#codec === "raw"
            ? chunk.slice(at, end)
            : chunk.subarray(at, end),
          this.#sink,
        );
        this.#length = 0;
        at += wanted;
        continue;
      }
      const frame = this.#frame ??= new Uint8Array(length);
      const taken = Math.min(wanted, available);
      frame.set(chunk.subarray(at, at + taken), this.#frameBytes);
      this.#frameBytes += taken;
      at += taken;
      if (this.#frameBytes === length) {
        this.#length = 0;
        this.#frame = undefined;
        this.#frameBytes = 0;
        decodeMessage(this.#codec, frame, this.#sink);
      }
    }
  }

  /** Ends the stream: an unfinished frame is a failure. */
  end(): void {
    const betweenFrames = this.#length === 0;
    const held = betweenFrames ? this.#prefixBytes : this.#frameBytes;
    if (held > 0 || this.#skip > 0) {
      this.#sink.failure({
        name: "SyntaxError",
        message: betweenFrames && this.#skip === 0
          ? `The stream ended inside a length prefix (${held} of 4 bytes)`
          : "The stream ended inside a frame",
        sample: "",
      }, 0);
    }
    this.#length = 0;
    this.#frame = undefined;
    this.#frameBytes = 0;
    this.#prefixBytes = 0;
    this.#skip = 0;
  }

  #begin(length: number): void {
    if (length > this.#max) {
      this.#sink.failure({
        name: "RangeError",
        message:
          `A frame of ${length} bytes is longer than ${this.#max} bytes (max_frame_bytes)`,
        sample: "",
      }, 0);
      this.#skip = length;
      return;
    }
    if (length === 0) {
      decodeMessage(this.#codec, new Uint8Array(0), this.#sink);
      return;
    }
    this.#length = length;
  }
}

/**
 * Decodes one whole message (a length-prefixed frame, a datagram): `lines`
 * gives its UTF-8 text, `ndjson` and `json` its JSON value, `syslog` its
 * syslog record, `raw` the bytes themselves (pass a copy you will not reuse).
 *
 * @example
 * ```ts
 * import { decodeMessage } from "./codec.ts";
 * const values: unknown[] = [];
 * const sink = { value: (data: unknown) => values.push(data), failure: () => {} };
 * decodeMessage("json", new TextEncoder().encode('{"a":1}'), sink);
 * values; // [{ a: 1 }]
 * ```
 */
export function decodeMessage(
  codec: Codec,
  bytes: Uint8Array,
  sink: DecodeSink,
): void {
  if (codec === "raw") {
    sink.value(bytes, 0);
    return;
  }
  const text = UTF8.decode(bytes);
  if (codec === "lines") {
    sink.value(text, 0);
    return;
  }
  if (codec === "syslog") {
    decodeSyslog(text, 0, sink);
    return;
  }
  try {
    sink.value(JSON.parse(text), 0);
  } catch (error) {
    sink.failure({
      name: "SyntaxError",
      message: `The message is not valid JSON: ${errorMessage(error)}`,
      sample: text,
    }, 0);
  }
}

/**
 * The event an input sends to its `error` queue for a failure (a
 * {@link DecodeFailure}, or one of the same shape): `data` is the failure's
 * sample, `header[actor]` describes the source as for a decoded
 * event, and `header.error` follows the core's {@link EventError} shape with
 * an empty `queue` (the event was made by an input, not consumed from a
 * queue).
 *
 * @example
 * ```ts
 * import { failureEvent } from "./codec.ts";
 * const event = failureEvent("input", { line: 3 }, {
 *   name: "SyntaxError",
 *   message: "Line 3 is not valid JSON: Unexpected token",
 *   sample: "{oops",
 * });
 * (event.header.error as { message: string }).message; // "Line 3 is not valid JSON: Unexpected token"
 * ```
 */
export function failureEvent(
  actor: string,
  source: Record<string, unknown>,
  failure: { name: string; message: string; sample: string },
): Event {
  const error: EventError = {
    actor,
    queue: "",
    name: failure.name,
    message: failure.message,
    time: new Date().toISOString(),
  };
  return { header: { [actor]: source, error }, data: failure.sample };
}

/**
 * The {@link DecodeSink} of an input reading a stream: sends each value to
 * `outbox` as `{ header: { <actor name>: source(line) }, data }`, and each
 * failure to `error` as a {@link failureEvent} when that queue is connected,
 * else hands it to `skipped` (which logs it). After each chunk decoded, the
 * input awaits {@link InputSink.takeWaiting} before reading on, so that a
 * full queue holds the reading back: once a send must wait, the events
 * decoded after it are kept here and sent one by one as there is room, so
 * an input never sends more than its outbound queues take (what it keeps is
 * at most the events of one chunk read).
 *
 * @example
 * ```ts
 * import { Actor } from "../../core/actor.ts";
 * import { InputSink, StreamDecoder } from "./codec.ts";
 *
 * class Input extends Actor {
 *   readonly kind = "input";
 * }
 * const input = new Input("input", {}, { inbound: [] });
 * const skipped: string[] = [];
 * const sink = new InputSink(
 *   input,
 *   (line) => ({ line }),
 *   (failure) => skipped.push(failure.message),
 * );
 * new StreamDecoder("ndjson", 1024, sink).write(
 *   new TextEncoder().encode('{"a":1}\nnot json\n'),
 * );
 * await sink.takeWaiting();
 * skipped.length; // 1: the "error" queue is not connected
 * ```
 */
export class InputSink implements DecodeSink {
  readonly #actor: Actor;
  readonly #source: (line: number) => Record<string, unknown>;
  readonly #skipped: (
    failure: DecodeFailure,
    source: Record<string, unknown>,
  ) => void;
  #waiting: Promise<void> | undefined;
  /** Events decoded while a send waits, with their queue, from `#next` on. */
  #pending: [Event, string][] = [];
  #next = 0;

  /**
   * @param actor the input: sends the events
   * @param source what goes under `header[<actor name>]` for line `line`
   * (0 when the codec has no lines)
   * @param skipped called, with the source, for a failure that cannot go to
   * `error` because that queue is not connected
   */
  constructor(
    actor: Actor,
    source: (line: number) => Record<string, unknown>,
    skipped: (failure: DecodeFailure, source: Record<string, unknown>) => void,
  ) {
    this.#actor = actor;
    this.#source = source;
    this.#skipped = skipped;
  }

  /** Sends `data` to `outbox`. */
  value(data: unknown, line: number): void {
    const name = this.#actor.name;
    this.#deliver({ header: { [name]: this.#source(line) }, data }, "outbox");
  }

  /** Sends `failure` to `error`, or hands it to `skipped`. */
  failure(failure: DecodeFailure, line: number): void {
    const source = this.#source(line);
    if (this.#actor.pool.isConnected("error")) {
      this.#deliver(failureEvent(this.#actor.name, source, failure), "error");
    } else {
      this.#skipped(failure, source);
    }
  }

  /**
   * What to await before reading on: it resolves once every event decoded so
   * far was sent, each when its queue had room; `undefined` when nothing
   * waits.
   */
  takeWaiting(): Promise<void> | undefined {
    if (this.#waiting === undefined) return undefined;
    return this.#sendPending();
  }

  /** The one place where the input hands the events it makes on. */
  #deliver(event: Event, queue: string): void {
    if (this.#waiting !== undefined) {
      this.#pending.push([event, queue]);
      return;
    }
    const waiting = this.#actor.send(event, queue);
    if (waiting !== undefined) this.#waiting = waiting;
  }

  async #sendPending(): Promise<void> {
    while (this.#waiting !== undefined) {
      await this.#waiting;
      this.#waiting = undefined;
      const pending = this.#pending;
      while (this.#waiting === undefined && this.#next < pending.length) {
        const [event, queue] = pending[this.#next]!;
        pending[this.#next++] = undefined as unknown as [Event, string];
        this.#waiting = this.#actor.send(event, queue);
      }
      if (this.#next === pending.length) {
        this.#pending = [];
        this.#next = 0;
      }
    }
  }
}

function parseLine(line: string, number: number, sink: DecodeSink): void {
  if (line.trim() === "") return;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    sink.failure({
      name: "SyntaxError",
      message: `Line ${number} is not valid JSON: ${errorMessage(error)}`,
      sample: line,
    }, number);
    return;
  }
  sink.value(value, number);
}

/**
 * Hands the syslog record of `text` (line `line`, 0 for a whole message) to
 * `sink`, or a failure with the reason and the whole text. Blank lines are
 * skipped.
 */
function decodeSyslog(text: string, line: number, sink: DecodeSink): void {
  if (line > 0 && text.trim() === "") return;
  const record = parseSyslog(text);
  if (typeof record !== "string") {
    sink.value(record, line);
    return;
  }
  sink.failure({
    name: "SyntaxError",
    message: line > 0 ? `${record} (line ${line})` : record,
    sample: text,
  }, line);
}

/**
 * The first {@link SAMPLE_CHARS} characters of `bytes` decoded as UTF-8.
 *
 * @example
 * ```ts
 * import { sampleOf } from "./codec.ts";
 * sampleOf(new TextEncoder().encode("hé")); // "hé"
 * ```
 */
export function sampleOf(bytes: Uint8Array): string {
  return UTF8.decode(bytes.subarray(0, SAMPLE_CHARS * 4)).slice(
    0,
    SAMPLE_CHARS,
  );
}
