/**
 * `stdin`: reads the process's standard input and makes one event per line,
 * JSON value, document or chunk.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  type DecodeFailure,
  DEFAULT_MAX_LINE_BYTES,
  failureEvent,
  StreamDecoder,
} from "./codec.ts";

/** Options of the `stdin` actor. */
export const StdinOptions = z.strictObject({
  codec: CodecSchema.default("lines").describe(
    'How to decode the input: "lines" (one string per line), "ndjson" (one JSON value per line), "json" (the whole input is one JSON document) or "raw" (one Uint8Array per chunk read).',
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
  #decoder: StreamDecoder;
  #waiting: Promise<void> | undefined;
  #errorsConnected = false;

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
    this.#decoder = new StreamDecoder(parsed.codec, parsed.max_line_bytes, {
      value: (data, line) =>
        this.#deliver({ header: { [this.name]: lineHeader(line) }, data }),
      failure: (failure, line) => this.#fail(failure, line),
    });
  }

  override setup(): void {
    this.#errorsConnected = this.pool.outbound.get("error")?.target != null;
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const reader = (this.#source ?? Deno.stdin.readable).getReader();
    const cancel = () => void reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    try {
      while (!signal.aborted) {
        const next = await reader.read();
        if (next.done) break;
        this.#decoder.write(next.value);
        await this.#backPressure();
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
        await this.#backPressure();
      }
    } finally {
      signal.removeEventListener("abort", cancel);
      reader.releaseLock();
    }
  }

  /** The one place where this input hands the events it makes on. */
  #deliver(event: Event, queue = "outbox"): void {
    const waiting = this.send(event, queue);
    if (waiting !== undefined) this.#waiting = waiting;
  }

  #fail(failure: DecodeFailure, line: number): void {
    if (this.#errorsConnected) {
      this.#deliver(
        failureEvent(this.name, lineHeader(line), failure),
        "error",
      );
    } else {
      this.log.warn("Skipped unreadable input: {message}", {
        message: failure.message,
      });
    }
  }

  async #backPressure(): Promise<void> {
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      await waiting;
    }
  }
}

function lineHeader(line: number): Record<string, unknown> {
  return line > 0 ? { line } : {};
}
