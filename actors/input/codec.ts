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
 *   it, nor a byte order mark at the start of the stream). Empty lines are
 *   lines. A last line without `"\n"` counts when the input ends.
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
 * import assert from "node:assert/strict";
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
 * assert.deepEqual(values, [{ a: 1 }, [2]]);
 * assert.equal(failures.length, 1);
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Actor, EventError } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { OutboundQueue } from "../../core/queue.ts";
import { concatBytes } from "../payload.ts";
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
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { listenOptions } from "./codec.ts";
 * const Options = z.strictObject({ ...listenOptions("UDP", 5170) });
 * assert.deepEqual(Options.parse({}), { hostname: "127.0.0.1", port: 5170 });
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
 *
 * A sink that cannot take more for now says so with `full`: a decoder fed
 * with `feed` then stops after the value or failure it just handed over and
 * goes on with `resume` (see {@link PausingDecoder}).
 */
export interface DecodeSink {
  /** One decoded value. */
  value(data: unknown, line: number): void;
  /** One failure; decoding goes on after it. */
  failure(failure: DecodeFailure, line: number): void;
  /** Whether a decoder fed with `feed` must stop (default: never). */
  readonly full?: boolean;
}

/**
 * A decoder that can stop in the middle of a chunk when its sink is full
 * ({@link DecodeSink.full}) and go on later, so that an input holds no more
 * than the one event that filled the sink, however many a chunk makes.
 * `write` decodes a whole chunk regardless; the caller must not change a
 * chunk whose `feed` or `resume` returned `false`.
 */
export interface PausingDecoder {
  /** Bytes held for an unfinished message. */
  readonly pendingBytes: number;
  /**
   * Decodes `chunk` until the sink is full: `true` once all of it was
   * decoded, `false` when it stopped inside it (call `resume` later).
   */
  feed(chunk: Uint8Array): boolean;
  /** Goes on with the chunk `feed` stopped in; `true` once it is done. */
  resume(): boolean;
  /** Ends the stream (an unfinished chunk is decoded first). */
  end(): void;
  /** Forgets what it holds, the rest of a chunk `feed` stopped in too. */
  reset(): void;
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const UTF8 = new TextDecoder();
/** Decodes lines a window at a time: a byte order mark is kept there. */
const UTF8_WITH_BOM = new TextDecoder("utf-8", { ignoreBOM: true });
const BOM = 0xfeff;
const NO_BYTES: Uint8Array = new Uint8Array(0);
const NEVER_FULL = (): boolean => false;

/**
 * Most bytes of whole lines decoded as one text: lines are decoded a window
 * at a time (one `TextDecoder` call for many short lines), and a splitter
 * that stopped holds at most one window of text.
 */
const TEXT_WINDOW_BYTES = 16_384;

/**
 * Splits a byte stream into lines, each at most `maxLineBytes` long, in text
 * mode (strings decoded as UTF-8) or byte mode (copies of each line's bytes).
 * Over-long lines are reported once and skipped to their end. With `feed`
 * it stops after a line when `isFull()` says so (see
 * {@link PausingDecoder}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter } from "./codec.ts";
 * const lines: unknown[] = [];
 * const splitter = new LineSplitter(16, "text", (line) => lines.push(line), () => {});
 * splitter.write(new TextEncoder().encode("a\r\nb\nc"));
 * splitter.end();
 * assert.deepEqual(lines, ["a", "b", "c"]);
 * ```
 */
export class LineSplitter {
  readonly #max: number;
  readonly #text: boolean;
  readonly #window: number;
  readonly #onLine: (line: string | Uint8Array, number: number) => void;
  readonly #onTooLong: (sample: string, number: number) => void;
  readonly #isFull: () => boolean;
  #tail: Uint8Array[] = [];
  #tailBytes = 0;
  #skipping = false;
  #lines = 0;
  /** The chunk being split, and where the part not split yet starts. */
  #chunk = NO_BYTES;
  #at = 0;
  /** The decoded lines of `#chunk[#at, #windowEnd)`, from `#textAt` on. */
  #windowText: string | undefined;
  #textAt = 0;
  #windowEnd = 0;

  /**
   * @param maxLineBytes longest line accepted, in bytes, without its `"\n"`
   * @param mode `"text"`: lines are strings without a trailing `"\r"`;
   * `"bytes"`: lines are `Uint8Array` copies, exactly as received
   * @param onLine called with each line and its 1-based number
   * @param onTooLong called once per over-long line with its beginning
   * @param isFull asked after each line by `feed` and `resume`: `true`
   * stops them there
   */
  constructor(
    maxLineBytes: number,
    mode: "text" | "bytes",
    onLine: (line: string | Uint8Array, number: number) => void,
    onTooLong: (sample: string, number: number) => void,
    isFull: () => boolean = NEVER_FULL,
  ) {
    this.#max = maxLineBytes;
    this.#text = mode === "text";
    this.#window = Math.min(maxLineBytes, TEXT_WINDOW_BYTES);
    this.#onLine = onLine;
    this.#onTooLong = onTooLong;
    this.#isFull = isFull;
  }

  /** Bytes of an unfinished line held until its `"\n"` arrives. */
  get pendingBytes(): number {
    return this.#tailBytes;
  }

  /** Lines completed so far (over-long ones included). */
  get lines(): number {
    return this.#lines;
  }

  /** Splits all of `chunk`; the splitter copies what it keeps. */
  write(chunk: Uint8Array): void {
    this.#begin(chunk);
    this.#split(false);
  }

  /** Splits `chunk` until `isFull()`; see {@link PausingDecoder.feed}. */
  feed(chunk: Uint8Array): boolean {
    this.#begin(chunk);
    return this.#split(true);
  }

  /** Goes on with the chunk `feed` stopped in; `true` once it is done. */
  resume(): boolean {
    return this.#split(true);
  }

  /** Ends the stream: an unfinished last line counts as a line. */
  end(): void {
    this.#split(false);
    if (this.#tailBytes > 0) this.#emitHeld();
    this.reset(this.#lines);
  }

  /**
   * Forgets any unfinished line (and the rest of a chunk `feed` stopped
   * in); line numbers start again after `lines` (default 0).
   */
  reset(lines = 0): void {
    this.#tail = [];
    this.#tailBytes = 0;
    this.#skipping = false;
    this.#lines = lines;
    this.#chunk = NO_BYTES;
    this.#at = 0;
    this.#windowText = undefined;
  }

  /**
   * Goes on splitting the stream `previous` split (a connection handed to
   * a reload's replacement): takes its unfinished line, its line count and
   * the over-long line it was skipping, so that no line is lost, split in
   * two or counted twice; `previous` holds nothing after. This splitter's
   * own `maxLineBytes` applies to the unfinished line too. Throws a
   * `TypeError` while `previous` stopped inside a chunk.
   */
  takeOver(previous: LineSplitter): void {
    if (previous.#at < previous.#chunk.length) {
      throw new TypeError(
        "Cannot take over a splitter stopped inside a chunk: resume it first",
      );
    }
    this.reset(previous.#lines);
    this.#tail = previous.#tail;
    this.#tailBytes = previous.#tailBytes;
    this.#skipping = previous.#skipping;
    previous.reset();
  }

  /** Starts on `chunk`, after the rest of one `feed` stopped in. */
  #begin(chunk: Uint8Array): void {
    if (this.#at < this.#chunk.length) this.#split(false);
    this.#chunk = chunk;
    this.#at = 0;
  }

  /**
   * Splits the rest of the chunk; when `pausable`, stops after a line for
   * which `isFull()` holds and returns `false`.
   */
  #split(pausable: boolean): boolean {
    const chunk = this.#chunk;
    const length = chunk.length;
    for (;;) {
      if (this.#windowText !== undefined && !this.#emitWindow(pausable)) {
        return false;
      }
      const at = this.#at;
      if (at >= length) {
        this.#chunk = NO_BYTES;
        this.#at = 0;
        return true;
      }
      let newline: number;
      if (this.#skipping || this.#tailBytes > 0) {
        newline = chunk.indexOf(NEWLINE, at);
        const end = newline === -1 ? length : newline;
        if (!this.#skipping) this.#hold(chunk.subarray(at, end));
        this.#at = end + 1;
        if (newline === -1) {
          // The line goes on in the next chunk.
        } else if (this.#skipping) {
          this.#skipping = false;
          this.#lines++;
        } else {
          this.#emitHeld();
        }
      } else {
        if (this.#text) {
          // Whole lines in the next window: decoded at once.
          const last = chunk.lastIndexOf(
            NEWLINE,
            Math.min(at + this.#window, length - 1),
          );
          if (last >= at) {
            this.#windowText = UTF8_WITH_BOM.decode(chunk.subarray(at, last));
            this.#textAt = 0;
            this.#windowEnd = last;
            continue;
          }
        }
        newline = chunk.indexOf(NEWLINE, at);
        if (newline === -1) {
          this.#hold(chunk.subarray(at));
          this.#at = length;
        } else {
          this.#at = newline + 1;
          this.#emitLine(chunk, at, newline);
        }
      }
      if (pausable && this.#isFull()) return false;
    }
  }

  /** Emits the lines of the decoded window; `false` when it stopped. */
  #emitWindow(pausable: boolean): boolean {
    const text = this.#windowText!;
    while (this.#textAt <= text.length) {
      const from = this.#textAt;
      let newline = text.indexOf("\n", from);
      if (newline === -1) newline = text.length;
      this.#textAt = newline + 1;
      const end = newline > from && text.charCodeAt(newline - 1) === RETURN
        ? newline - 1
        : newline;
      const number = ++this.#lines;
      // A byte order mark counts only at the start of the stream.
      const start = number === 1 && text.charCodeAt(from) === BOM
        ? from + 1
        : from;
      this.#onLine(text.slice(start, Math.max(start, end)), number);
      if (pausable && this.#isFull()) return false;
    }
    this.#windowText = undefined;
    this.#at = this.#windowEnd + 1;
    return true;
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
    this.#emitLine(line, 0, line.length);
  }

  /** Emits the line `bytes[start, end)`, or reports it as too long. */
  #emitLine(bytes: Uint8Array, start: number, end: number): void {
    const number = ++this.#lines;
    if (end - start > this.#max) {
      this.#onTooLong(sampleOf(bytes.subarray(start, end)), number);
    } else if (!this.#text) {
      this.#onLine(bytes.slice(start, end), number);
    } else {
      if (end > start && bytes[end - 1] === RETURN) end--;
      const decoder = number === 1 ? UTF8 : UTF8_WITH_BOM;
      this.#onLine(decoder.decode(bytes.subarray(start, end)), number);
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
 * import assert from "node:assert/strict";
 * import { StreamDecoder } from "./codec.ts";
 * const lines: unknown[] = [];
 * const decoder = new StreamDecoder("lines", 1024, {
 *   value: (data, line) => lines.push([line, data]),
 *   failure: () => {},
 * });
 * decoder.write(new TextEncoder().encode("one\ntwo\n"));
 * assert.deepEqual(lines, [[1, "one"], [2, "two"]]);
 * ```
 */
export class StreamDecoder implements PausingDecoder {
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
        () => sink.full === true,
      );
    }
  }

  /** Bytes held for an unfinished line or document. */
  get pendingBytes(): number {
    return this.#splitter?.pendingBytes ?? this.#documentBytes;
  }

  /** Decodes all of `chunk`; the decoder copies what it keeps. */
  write(chunk: Uint8Array): void {
    if (this.#splitter !== undefined) {
      this.#splitter.write(chunk);
    } else if (this.#codec === "raw") {
      if (chunk.length > 0) this.#sink.value(chunk.slice(), 0);
    } else {
      this.#holdDocument(chunk);
    }
  }

  /**
   * Decodes `chunk` until the sink is full; see {@link PausingDecoder.feed}.
   * Only the line codecs stop inside a chunk (the others make at most one
   * value of it).
   */
  feed(chunk: Uint8Array): boolean {
    if (this.#splitter !== undefined) return this.#splitter.feed(chunk);
    this.write(chunk);
    return true;
  }

  /** Goes on with the chunk `feed` stopped in; `true` once it is done. */
  resume(): boolean {
    return this.#splitter?.resume() ?? true;
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

  /**
   * Goes on decoding the stream `previous` decoded (see
   * {@link LineSplitter.takeOver}): its unfinished line or document is
   * decoded with this decoder's codec and limit once it ends. Throws a
   * `TypeError` when one splits lines and the other does not, or while
   * `previous` stopped inside a chunk.
   */
  takeOver(previous: StreamDecoder): void {
    const [splitter, before] = [this.#splitter, previous.#splitter];
    if ((splitter === undefined) !== (before === undefined)) {
      throw new TypeError(
        "Cannot take over a decoder that splits the stream differently",
      );
    }
    splitter?.takeOver(before!);
    this.#document = previous.#document;
    this.#documentBytes = previous.#documentBytes;
    this.#documentTooLong = previous.#documentTooLong;
    previous.#document = [];
    previous.#documentBytes = 0;
    previous.#documentTooLong = false;
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
 * skipped without being held in memory; a frame that spans chunks holds
 * only the bytes that arrived. With `feed` it stops after a frame when the
 * sink is full (see {@link PausingDecoder}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LengthFrameDecoder } from "./codec.ts";
 * const values: unknown[] = [];
 * const decoder = new LengthFrameDecoder("json", 1024, {
 *   value: (data) => values.push(data),
 *   failure: () => {},
 * });
 * decoder.write(new Uint8Array([0, 0, 0, 2, 0x34, 0x32])); // length 2, then "42"
 * assert.deepEqual(values, [42]);
 * ```
 */
export class LengthFrameDecoder implements PausingDecoder {
  readonly #codec: Codec;
  readonly #max: number;
  readonly #sink: DecodeSink;
  /** A length prefix split across chunks, gathered byte by byte. */
  readonly #prefix = new Uint8Array(4);
  readonly #prefixView = new DataView(this.#prefix.buffer);
  #prefixBytes = 0;
  /** The length of the frame being read; 0 between frames. */
  #length = 0;
  /** Copies of the parts of a frame that spans chunks. */
  #parts: Uint8Array[] = [];
  #frameBytes = 0;
  #skip = 0;
  /** The chunk being decoded, and where the part not decoded yet starts. */
  #chunk = NO_BYTES;
  #at = 0;

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

  /** Decodes all of `chunk`; the decoder copies what it keeps. */
  write(chunk: Uint8Array): void {
    this.#begin(chunk);
    this.#decode(false);
  }

  /** Decodes `chunk` until the sink is full; see {@link PausingDecoder.feed}. */
  feed(chunk: Uint8Array): boolean {
    this.#begin(chunk);
    return this.#decode(true);
  }

  /** Goes on with the chunk `feed` stopped in; `true` once it is done. */
  resume(): boolean {
    return this.#decode(true);
  }

  /** Ends the stream: an unfinished frame is a failure. */
  end(): void {
    this.#decode(false);
    const betweenFrames = this.#length === 0;
    const held = betweenFrames ? this.#prefixBytes : this.#frameBytes;
    if (!betweenFrames || held > 0 || this.#skip > 0) {
      this.#sink.failure({
        name: "SyntaxError",
        message: betweenFrames && this.#skip === 0
          ? `The stream ended inside a length prefix (${held} of 4 bytes)`
          : "The stream ended inside a frame",
        sample: "",
      }, 0);
    }
    this.reset();
  }

  /** Forgets an unfinished frame and the rest of a chunk `feed` stopped in. */
  reset(): void {
    this.#length = 0;
    this.#parts = [];
    this.#frameBytes = 0;
    this.#prefixBytes = 0;
    this.#skip = 0;
    this.#chunk = NO_BYTES;
    this.#at = 0;
  }

  /**
   * Goes on decoding the stream `previous` decoded (a connection handed to
   * a reload's replacement): takes the length prefix or frame it was
   * reading, or skipping, so that no frame is lost or split; `previous`
   * holds nothing after. A frame already started keeps the length it was
   * accepted with; this decoder's `maxFrameBytes` applies from the next.
   * Throws a `TypeError` while `previous` stopped inside a chunk.
   */
  takeOver(previous: LengthFrameDecoder): void {
    if (previous.#at < previous.#chunk.length) {
      throw new TypeError(
        "Cannot take over a decoder stopped inside a chunk: resume it first",
      );
    }
    this.reset();
    this.#prefix.set(previous.#prefix);
    this.#prefixBytes = previous.#prefixBytes;
    this.#length = previous.#length;
    this.#parts = previous.#parts;
    this.#frameBytes = previous.#frameBytes;
    this.#skip = previous.#skip;
    previous.reset();
  }

  /** Starts on `chunk`, after the rest of one `feed` stopped in. */
  #begin(chunk: Uint8Array): void {
    if (this.#at < this.#chunk.length) this.#decode(false);
    this.#chunk = chunk;
    this.#at = 0;
  }

  /**
   * Decodes the rest of the chunk; when `pausable`, stops after a frame
   * (or failure) that left the sink full and returns `false`.
   */
  #decode(pausable: boolean): boolean {
    const chunk = this.#chunk;
    let at = this.#at;
    while (at < chunk.length) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, chunk.length - at);
        this.#skip -= skipped;
        at += skipped;
        continue;
      }
      let emitted: boolean;
      const length = this.#length;
      if (length === 0) {
        if (this.#prefixBytes === 0 && chunk.length - at >= 4) {
          const prefix = ((chunk[at]! << 24) | (chunk[at + 1]! << 16) |
            (chunk[at + 2]! << 8) | chunk[at + 3]!) >>> 0;
          at += 4;
          emitted = this.#start(prefix);
        } else {
          this.#prefix[this.#prefixBytes++] = chunk[at++]!;
          emitted = this.#prefixBytes === 4;
          if (emitted) {
            this.#prefixBytes = 0;
            emitted = this.#start(this.#prefixView.getUint32(0));
          }
        }
      } else {
        const wanted = length - this.#frameBytes;
        const taken = Math.min(wanted, chunk.length - at);
        const end = at + taken;
        emitted = taken === wanted;
        if (this.#frameBytes === 0 && emitted) {
          // The whole frame is in this chunk: decode it from there.
          this.#length = 0;
          decodeMessage(
            this.#codec,
            this.#codec === "raw"
              ? chunk.slice(at, end)
              : chunk.subarray(at, end),
            this.#sink,
          );
        } else {
          this.#parts.push(chunk.slice(at, end));
          this.#frameBytes += taken;
          if (emitted) {
            const frame = concatBytes(this.#parts, length);
            this.#length = 0;
            this.#parts = [];
            this.#frameBytes = 0;
            decodeMessage(this.#codec, frame, this.#sink);
          }
        }
        at = end;
      }
      if (emitted && pausable && this.#sink.full === true) {
        this.#at = at;
        return false;
      }
    }
    this.#chunk = NO_BYTES;
    this.#at = 0;
    return true;
  }

  /** Starts a frame of `length` bytes; `true` when that decoded something. */
  #start(length: number): boolean {
    if (length > this.#max) {
      this.#sink.failure({
        name: "RangeError",
        message:
          `A frame of ${length} bytes is longer than ${this.#max} bytes (max_frame_bytes)`,
        sample: "",
      }, 0);
      this.#skip = length;
      return true;
    }
    if (length === 0) {
      decodeMessage(this.#codec, new Uint8Array(0), this.#sink);
      return true;
    }
    this.#length = length;
    return false;
  }
}

/**
 * Decodes one whole message (a length-prefixed frame, a datagram): `lines`
 * gives its UTF-8 text, `ndjson` and `json` its JSON value, `syslog` its
 * syslog record, `raw` the bytes themselves (pass a copy you will not reuse).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage } from "./codec.ts";
 * const values: unknown[] = [];
 * const sink = { value: (data: unknown) => values.push(data), failure: () => {} };
 * decodeMessage("json", new TextEncoder().encode('{"a":1}'), sink);
 * assert.deepEqual(values, [{ a: 1 }]);
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
 * import assert from "node:assert/strict";
 * import { failureEvent } from "./codec.ts";
 * const event = failureEvent("input", { line: 3 }, {
 *   name: "SyntaxError",
 *   message: "Line 3 is not valid JSON: Unexpected token",
 *   sample: "{oops",
 * });
 * assert.equal((event.header.error as { message: string }).message, "Line 3 is not valid JSON: Unexpected token");
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
 * Lets the readers of one input (the connections of a `tcp_server`, say)
 * send while its outbound queues take what they send, and makes them wait
 * their turn once a send must wait: when the queue has room again, the
 * turns run one after another, first come first served, each until a send
 * must wait again. So one busy reader cannot starve the others, and all of
 * them together never send more than one event past a full batch.
 *
 * A turn runs synchronously; one that must wait again queues itself again.
 * {@link InputSink} does all this for the inputs that decode streams.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor } from "../../core/actor.ts";
 * import { SendGate } from "./codec.ts";
 *
 * class Input extends Actor {
 *   readonly kind = "input";
 * }
 * const gate = new SendGate(new Input("input", {}, { inbound: [] }));
 * gate.send({ header: {}, data: 1 }, "outbox"); // not connected: dropped
 * assert.equal(gate.closed, false);
 * ```
 */
export class SendGate {
  readonly #actor: Actor;
  /** Set while a send waits: what it waits for. */
  #waiting: Promise<void> | undefined;
  #turns: (() => void)[] = [];
  #next = 0;

  /** Makes the gate of `actor`'s sends. */
  constructor(actor: Actor) {
    this.#actor = actor;
  }

  /** Whether a send waits for room: readers must wait their turn. */
  get closed(): boolean {
    return this.#waiting !== undefined;
  }

  /** Readers waiting for their turn now. */
  get queued(): number {
    return this.#turns.length - this.#next;
  }

  /** Sends `event` to `queue`; closes the gate when the send must wait. */
  send(event: Event, queue: string): void {
    const waiting = this.#actor.send(event, queue);
    if (waiting !== undefined && this.#waiting === undefined) {
      this.#waiting = waiting;
      // What send returns never rejects: it resolves once the write ended.
      void waiting.then(this.#open);
    }
  }

  /** Runs `turn` once the gate is open and the turns queued before it ran. */
  queue(turn: () => void): void {
    if (this.#waiting === undefined) turn();
    else this.#turns.push(turn);
  }

  #open = (): void => {
    this.#waiting = undefined;
    const turns = this.#turns;
    while (this.#waiting === undefined && this.#next < turns.length) {
      const turn = turns[this.#next]!;
      turns[this.#next++] = undefined as unknown as () => void;
      turn();
    }
    if (this.#next === turns.length) {
      this.#turns = [];
      this.#next = 0;
    } else if (this.#next > 1024 && this.#next * 2 > turns.length) {
      this.#turns = turns.slice(this.#next);
      this.#next = 0;
    }
  };
}

/**
 * The {@link DecodeSink} of an input reading a stream: sends each value to
 * `outbox` as `{ header: { <actor name>: source(line) }, data }`, and each
 * failure to `error` as a {@link failureEvent} when that queue is connected,
 * else hands it to `skipped` (which logs it).
 *
 * Back-pressure: the input hands each chunk it reads to
 * {@link InputSink.decode} and awaits what that returns before reading on.
 * The decoder stops as soon as a send must wait and goes on when there is
 * room (through the input's {@link SendGate}, shared by all its readers), so
 * an input holds no more events than the one that filled its queue,
 * however many a chunk makes. Events made outside `decode` (by a decoder
 * that cannot stop, or by `end()`) while a send waits are kept here and
 * sent as there is room: await {@link InputSink.takeWaiting} after those.
 * Once a stop timed out (the outbox is closed), the rest of a chunk is not
 * decoded any more: none of it could be sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * const decoder = new StreamDecoder("ndjson", 1024, sink);
 * await sink.decode(decoder, new TextEncoder().encode('{"a":1}\nnot json\n'));
 * assert.equal(skipped.length, 1); // the "error" queue is not connected
 * ```
 */
export class InputSink implements DecodeSink {
  readonly #actor: Actor;
  readonly #source: (line: number) => Record<string, unknown>;
  readonly #skipped: (
    failure: DecodeFailure,
    source: Record<string, unknown>,
  ) => void;
  readonly #gate: SendGate;
  readonly #outbox: OutboundQueue;
  /** Events made while a send waits, with their queue, from `#next` on. */
  #pending: [Event, string][] = [];
  #next = 0;
  /** The decoder `decode` works with, and its chunk, until it is done. */
  #decoder: PausingDecoder | undefined;
  #chunk = NO_BYTES;
  #fed = false;
  #done: PromiseWithResolvers<void> | undefined;

  /**
   * @param actor the input: sends the events
   * @param source what goes under `header[<actor name>]` for line `line`
   * (0 when the codec has no lines)
   * @param skipped called, with the source, for a failure that cannot go to
   * `error` because that queue is not connected
   * @param gate shared by the readers of one input (default: one of its own)
   */
  constructor(
    actor: Actor,
    source: (line: number) => Record<string, unknown>,
    skipped: (failure: DecodeFailure, source: Record<string, unknown>) => void,
    gate: SendGate = new SendGate(actor),
  ) {
    this.#actor = actor;
    this.#source = source;
    this.#skipped = skipped;
    this.#gate = gate;
    this.#outbox = actor.outbound("outbox");
  }

  /** Whether a send waits (or events are kept): decoders must stop. */
  get full(): boolean {
    return this.#gate.closed || this.#next < this.#pending.length;
  }

  /** Events kept until there is room to send them. */
  get kept(): number {
    return this.#pending.length - this.#next;
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
   * Decodes `chunk` with `decoder`, stopping while a send must wait: what
   * to await before reading on (the chunk's memory must not change until
   * then), or `undefined` when all of it was decoded and sent already.
   */
  decode(
    decoder: PausingDecoder,
    chunk: Uint8Array,
  ): Promise<void> | undefined {
    this.#decoder = decoder;
    this.#chunk = chunk;
    this.#fed = false;
    return this.#step() ? undefined : this.#wait();
  }

  /**
   * What to await before reading on after events were made outside
   * `decode`: it resolves once every event kept was sent; `undefined` when
   * none is kept.
   */
  takeWaiting(): Promise<void> | undefined {
    return this.#step() ? undefined : this.#wait();
  }

  /** The one place where the input hands the events it makes on. */
  #deliver(event: Event, queue: string): void {
    if (this.full) this.#pending.push([event, queue]);
    else this.#gate.send(event, queue);
  }

  /**
   * Sends what is kept, then decodes on, while the gate is open: `true`
   * once all is sent and decoded, `false` when a send must wait.
   */
  #step(): boolean {
    const pending = this.#pending;
    while (this.#next < pending.length) {
      if (this.#gate.closed) return false;
      const [event, queue] = pending[this.#next]!;
      pending[this.#next++] = undefined as unknown as [Event, string];
      this.#gate.send(event, queue);
    }
    if (pending.length > 0) {
      this.#pending = [];
      this.#next = 0;
    }
    const decoder = this.#decoder;
    if (decoder === undefined) return true;
    if (this.#outbox.closed) {
      // A stop that timed out threw the queues away: nothing can be sent.
      decoder.reset();
      this.#decoder = undefined;
      this.#chunk = NO_BYTES;
      return true;
    }
    if (this.#gate.closed) return false;
    const fed = this.#fed;
    this.#fed = true;
    if (!(fed ? decoder.resume() : decoder.feed(this.#chunk))) return false;
    this.#decoder = undefined;
    this.#chunk = NO_BYTES;
    return true;
  }

  #wait(): Promise<void> {
    const done = Promise.withResolvers<void>();
    this.#done = done;
    this.#gate.queue(this.#turn);
    return done.promise;
  }

  /** This sink's turn at the open gate. */
  #turn = (): void => {
    let finished: boolean;
    try {
      finished = this.#step();
    } catch (error) {
      this.#done?.reject(error);
      return;
    }
    if (finished) this.#done?.resolve();
    else this.#gate.queue(this.#turn);
  };
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
 * import assert from "node:assert/strict";
 * import { sampleOf } from "./codec.ts";
 * assert.equal(sampleOf(new TextEncoder().encode("hé")), "hé");
 * ```
 */
export function sampleOf(bytes: Uint8Array): string {
  return UTF8.decode(bytes.subarray(0, SAMPLE_CHARS * 4)).slice(
    0,
    SAMPLE_CHARS,
  );
}
