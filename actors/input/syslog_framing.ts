/**
 * The framing of syslog over TCP (RFC 6587), for `tcp_server`'s
 * `framing: "syslog"`: {@link SyslogFrameDecoder} finds out per connection
 * whether the sender counts octets or ends each message with a newline, and
 * splits the stream accordingly. Not an actor.
 *
 * @module
 */

import {
  type Codec,
  type DecodeSink,
  LengthFrameDecoder,
  sampleOf,
  StreamDecoder,
} from "./codec.ts";

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const SPACE = 0x20;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Most digits of an octet count: more cannot be a length; the stream is not
 * octet counting (any more).
 */
const MAX_LENGTH_DIGITS = 10;

/**
 * Splits one TCP connection's bytes into syslog messages and decodes each
 * with a codec (`syslog`, or `lines`/`raw` to keep the text). The first byte
 * decides the framing for the whole connection, as rsyslog and syslog-ng do:
 *
 * - a digit: octet counting (`LENGTH SP MESSAGE`, RFC 6587 3.4.1), what
 *   rsyslog, syslog-ng's `syslog()` driver and `logger --octet-count` send.
 *   A newline or carriage return between frames is skipped (some senders end
 *   frames with one outside the count). A frame longer than `maxFrameBytes`
 *   is reported (with its first characters) and skipped without being held:
 *   its length is known, so the next frame is found exactly and the sender,
 *   which would send the same message again after a disconnection, is not
 *   caught in a loop. When the stream stops looking like octet counting (a
 *   length that is not digits then a space), the place where the next frame
 *   starts is lost: that is reported with the bytes found, and
 *   {@link broken} tells the server to close the connection, so that the
 *   sender notices and connects again, instead of guessing.
 * - anything else: one message per line (`"\n"`, with an optional `"\r"`),
 *   as `logger --tcp` and syslog-ng's `network()` driver send, each line at
 *   most `maxLineBytes` (a longer one is reported and skipped to its end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SyslogFrameDecoder } from "./syslog_framing.ts";
 * const messages: unknown[] = [];
 * const decoder = new SyslogFrameDecoder("lines", 1024, 1024, {
 *   value: (data) => messages.push(data),
 *   failure: () => {},
 * });
 * decoder.write(new TextEncoder().encode("11 <13>1 - - -7 <13>hey"));
 * decoder.end();
 * assert.deepEqual(messages, ["<13>1 - - -", "<13>hey"]);
 * ```
 */
export class SyslogFrameDecoder {
  readonly #codec: Codec;
  readonly #maxLine: number;
  readonly #maxFrame: number;
  readonly #sink: DecodeSink;
  /** Set on the first byte: the decoder of a newline-framed connection. */
  #lines: StreamDecoder | undefined;
  /**
   * Set on the first byte: the decoder of an octet-counted connection. Each
   * frame is handed to it behind its length as a 4-byte prefix, so that it
   * gathers the frame's bytes and decodes them.
   */
  #frames: LengthFrameDecoder | undefined;
  readonly #prefix = new Uint8Array(4);
  readonly #prefixView = new DataView(this.#prefix.buffer);
  #broken = false;
  /** The length being read, and how many of its digits were read. */
  #length = 0;
  #digits = 0;
  /** Bytes of the current frame not read yet. */
  #remaining = 0;
  /** Whether the current frame is over-long: skipped, not decoded. */
  #skipping = false;

  /**
   * @param codec how to decode each message
   * @param maxLineBytes longest line of a newline-framed connection, in bytes
   * @param maxFrameBytes longest octet-counted frame, in bytes
   * @param sink receives the values and failures
   */
  constructor(
    codec: Codec,
    maxLineBytes: number,
    maxFrameBytes: number,
    sink: DecodeSink,
  ) {
    this.#codec = codec;
    this.#maxLine = maxLineBytes;
    this.#maxFrame = maxFrameBytes;
    this.#sink = sink;
  }

  /**
   * Whether the stream cannot be split into frames any more (it stopped
   * looking like octet counting): close the connection. What comes after is
   * ignored.
   */
  get broken(): boolean {
    return this.#broken;
  }

  /** Bytes held for an unfinished message. */
  get pendingBytes(): number {
    return this.#lines?.pendingBytes ??
      (this.#digits + (this.#frames?.pendingBytes ?? 0));
  }

  /** Decodes `chunk`; the decoder copies what it keeps. */
  write(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#broken) return;
    if (this.#lines === undefined && this.#frames === undefined) {
      const first = chunk[0]!;
      if (first >= ZERO && first <= NINE) {
        this.#frames = new LengthFrameDecoder(
          this.#codec,
          this.#maxFrame,
          this.#sink,
        );
      } else {
        this.#lines = new StreamDecoder(
          this.#codec,
          this.#maxLine,
          this.#sink,
          true,
        );
      }
    }
    if (this.#lines !== undefined) this.#lines.write(chunk);
    else this.#writeOctets(chunk, this.#frames!);
  }

  /** Ends the stream: an unfinished message is a failure. */
  end(): void {
    if (this.#lines !== undefined) {
      this.#lines.end();
    } else if (!this.#broken && this.#digits > 0) {
      this.#sink.failure({
        name: "SyntaxError",
        message: "The stream ended inside a frame length",
        sample: this.#lengthText(),
      }, 0);
    } else if (!this.#broken && !this.#skipping) {
      this.#frames?.end();
    }
    this.#digits = 0;
    this.#length = 0;
    this.#remaining = 0;
    this.#skipping = false;
  }

  /**
   * Goes on decoding the connection `previous` decoded (handed to a
   * reload's replacement): keeps the framing its first byte decided and
   * takes the message it was reading (see {@link LengthFrameDecoder.takeOver}
   * and {@link StreamDecoder.takeOver}); `previous` holds nothing after.
   */
  takeOver(previous: SyslogFrameDecoder): void {
    const codec = this.#codec;
    if (previous.#lines !== undefined) {
      this.#lines = new StreamDecoder(codec, this.#maxLine, this.#sink, true);
      this.#lines.takeOver(previous.#lines);
    }
    if (previous.#frames !== undefined) {
      this.#frames = new LengthFrameDecoder(codec, this.#maxFrame, this.#sink);
      this.#frames.takeOver(previous.#frames);
    }
    this.#broken = previous.#broken;
    this.#length = previous.#length;
    this.#digits = previous.#digits;
    this.#remaining = previous.#remaining;
    this.#skipping = previous.#skipping;
    previous.#lines = undefined;
    previous.#frames = undefined;
    previous.#length = 0;
    previous.#digits = 0;
    previous.#remaining = 0;
    previous.#skipping = false;
  }

  #writeOctets(chunk: Uint8Array, frames: LengthFrameDecoder): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const end = Math.min(chunk.length, at + this.#remaining);
        if (!this.#skipping) frames.write(chunk.subarray(at, end));
        this.#remaining -= end - at;
        at = end;
        continue;
      }
      const c = chunk[at]!;
      if (c >= ZERO && c <= NINE && this.#digits < MAX_LENGTH_DIGITS) {
        this.#length = this.#length * 10 + c - ZERO;
        this.#digits++;
        at++;
      } else if (c === SPACE && this.#digits > 0) {
        at++;
        this.#begin(chunk, at, frames);
      } else if ((c === NEWLINE || c === RETURN) && this.#digits === 0) {
        at++;
      } else {
        this.#broken = true;
        const read = this.#lengthText();
        this.#sink.failure({
          name: "SyntaxError",
          message:
            `Octet counting lost: expected a frame length (digits, then a space) but found ${
              JSON.stringify(read + sampleOf(chunk.subarray(at, at + 20)))
            }; closing the connection`,
          sample: read + sampleOf(chunk.subarray(at)),
        }, 0);
        return;
      }
    }
  }

  /** The digits of the length read so far, leading zeros included. */
  #lengthText(): string {
    return this.#digits > 0
      ? String(this.#length).padStart(this.#digits, "0")
      : "";
  }

  /** Starts a frame of `#length` bytes, whose first byte is `chunk[at]`. */
  #begin(chunk: Uint8Array, at: number, frames: LengthFrameDecoder): void {
    const length = this.#length;
    this.#length = 0;
    this.#digits = 0;
    this.#remaining = length;
    this.#skipping = length > this.#maxFrame;
    if (this.#skipping) {
      this.#sink.failure({
        name: "RangeError",
        message:
          `A frame of ${length} bytes is longer than ${this.#maxFrame} bytes (max_frame_bytes); skipped`,
        sample: sampleOf(chunk.subarray(at, at + Math.min(length, 1024))),
      }, 0);
      return;
    }
    this.#prefixView.setUint32(0, length);
    frames.write(this.#prefix);
  }
}
