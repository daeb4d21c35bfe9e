/**
 * `stdin`: reads the process's standard input and makes one event per line,
 * JSON value, document or chunk.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  DEFAULT_MAX_LINE_BYTES,
  InputSink,
  StreamDecoder,
} from "./codec.ts";
import { RepeatedLog } from "./repeated_log.ts";

/** Options of the `stdin` actor. */
export const StdinOptions = z.strictObject({
  codec: CodecSchema.default("lines").describe(
    'How to decode the input: "lines" (one string per line), "ndjson" (one JSON value per line), "syslog" (one syslog record per line), "json" (the whole input is one JSON document) or "raw" (one Uint8Array per chunk read).',
  ),
  max_line_bytes: z.number().int().min(1).default(DEFAULT_MAX_LINE_BYTES)
    .describe(
      'Longest line (or "json" document) in bytes; a longer one becomes an event on the "error" queue and reading goes on after it.',
    ),
});

/** Parsed options of the `stdin` actor. */
export type StdinOptions = z.infer<typeof StdinOptions>;

/**
 * Reads standard input until it ends (the pipeline then drains and finishes)
 * or the router stops. Each event is `{ header: { <name>: { line } }, data }`
 * (`line` for the `lines` and `ndjson` codecs only). A line that is too long
 * or not JSON becomes an event on the `error` queue whose `data` is the line
 * (or its beginning) and whose `header.error` says why; reading goes on.
 * Without an `error` queue it is logged instead, at most once a second with
 * a count.
 *
 * Back-pressure: decoding stops in the middle of what was read as soon as
 * an event must wait for room downstream, and nothing more is read until it
 * goes on.
 *
 * An unfinished last line counts when the input ends, not when the router
 * stops; stopping cancels the pending read of standard input, so the input
 * cannot be read again by this process.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { stdin } from "./stdin.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * router.register(stdin, "input", { codec: "ndjson" });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * // `await router.finished` would wait for standard input to end;
 * // stopping cancels the read instead.
 * await router.stop();
 * ```
 */
export const stdin: ActorSpec<StdinOptions> = {
  type: "stdin",
  kind: "input",
  summary: "Reads standard input as lines, NDJSON, one JSON document or raw.",
  options: StdinOptions,
  example: { codec: "lines", max_line_bytes: 65536 },
  create: (name, options, settings) => new Stdin(name, options, settings),
};

/** The `stdin` input actor. */
export class Stdin extends Actor {
  readonly kind = "input";
  #source: ReadableStream<Uint8Array> | undefined;
  #sink: InputSink;
  #decoder: StreamDecoder;
  #skipped: RepeatedLog<string>;

  /**
   * Makes a stdin input; see {@link StdinOptions}. `source` replaces standard
   * input (for embedding and tests).
   */
  constructor(
    name: string,
    options: Partial<StdinOptions> = {},
    settings: ActorSettings = {},
    source?: ReadableStream<Uint8Array>,
  ) {
    super(name, settings, { inbound: [] });
    const parsed = StdinOptions.parse(options);
    this.#source = source;
    this.#skipped = new RepeatedLog((count, message) =>
      this.log.warn(
        "Skipped {count} unreadable message(s) of standard input, the last: {message}",
        { count, message },
      )
    );
    this.#sink = new InputSink(
      this,
      lineHeader,
      (failure) => this.#skipped.note(failure.message),
    );
    this.#decoder = new StreamDecoder(
      parsed.codec,
      parsed.max_line_bytes,
      this.#sink,
    );
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const reader = (this.#source ?? Deno.stdin.readable).getReader();
    const cancel = () => void reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    try {
      while (!signal.aborted) {
        const next = await reader.read();
        if (next.done) break;
        await this.#sink.decode(this.#decoder, next.value);
      }
      if (signal.aborted) {
        const pending = this.#decoder.pendingBytes;
        if (pending > 0) {
          this.log.debug(
            "Stopped with {bytes} bytes of an unfinished line unread",
            { bytes: pending },
          );
        }
      } else {
        this.#decoder.end();
        await this.#sink.takeWaiting();
      }
    } finally {
      signal.removeEventListener("abort", cancel);
      reader.releaseLock();
      this.#skipped.flush();
    }
  }

  override teardown(): void {
    this.#skipped.flush();
  }
}

function lineHeader(line: number): Record<string, unknown> {
  return line > 0 ? { line } : {};
}
