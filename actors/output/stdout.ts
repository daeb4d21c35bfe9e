/**
 * `stdout`: an output that writes each event as a line on standard output (or
 * any byte stream), with back-pressure.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import type { ActorSpec } from "../../core/registry.ts";

/** Options of the `stdout` actor. */
export const StdoutOptions = z.strictObject({
  prefix: z.string().default("").describe(
    "Text written at the start of each event's line.",
  ),
  format: z.enum(["data", "event", "json"]).default("data").describe(
    'What each line shows: "data" writes string data as it is and other data as JSON; "event" writes the whole event (header and data) as JSON; "json" writes the data as JSON, strings included.',
  ),
});

/** Parsed options of the `stdout` actor. */
export type StdoutOptions = z.infer<typeof StdoutOptions>;

/**
 * Writes one line per event, `prefix` then the event as `format` says, to
 * standard output. Lines are written with back-pressure: the actor stops
 * taking events while the stream is busy, so a slow terminal or pipe slows the
 * pipeline instead of filling memory.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { stdout } from "./stdout.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3, data: "n={{seq}}" });
 * router.register(stdout, "print", { prefix: "got: " });
 * router.connect("input.outbox", "print.inbox");
 * await router.start();
 * await router.finished; // printed "got: n=1", "got: n=2", "got: n=3"
 * (await router.stop()).delivered; // 3
 * ```
 */
export const stdout: ActorSpec<StdoutOptions> = {
  type: "stdout",
  kind: "output",
  summary: "Writes each event as a line on standard output.",
  options: StdoutOptions,
  example: { prefix: "out: ", format: "data" },
  create: (name, options, settings) => new Stdout(name, options, settings),
};

/**
 * The `stdout` output actor.
 *
 * How events become writes: `consume` formats one event into a line and adds
 * it to the lines waiting to be written; the lines gathered while the actor
 * works through one batch of its inbox are written as one chunk at the end of
 * that batch (a microtask scheduled by the first line), and at most one chunk
 * is being written at a time. While a chunk is being written further lines
 * gather, up to {@link MAX_BATCH}; then `consume` returns the pending write, so
 * the actor stops reading its inbox and back-pressure reaches the producers.
 *
 * Why per-event `consume` and not `consumeBatch`: formatting is where an event
 * can fail (data holding a BigInt or a cycle cannot be written as JSON). Only a
 * failure thrown from `consume` goes through the core's error path for that
 * one event (retries, `header.error`, the `error` queue, `failed_total`)
 * while the rest of the batch is still written; a failure thrown from
 * `consumeBatch` would fail the whole batch. The cost per event stays a
 * string and an array slot; the write is still one per batch.
 *
 * A failed write cannot be undone: its lines are lost (logged at error level
 * with their number), and every later event fails to the `error` queue with
 * the write's error, since a stream that failed once stays failed.
 *
 * Several `stdout` actors may write to the same stream (the default is
 * `Deno.stdout.writable`): they share one writer, and each chunk holds whole
 * lines, so lines never interleave mid-line. The writer's lock is released
 * when the last of them tears down; the stream itself is never closed.
 */
export class Stdout extends Actor {
  readonly kind = "output";
  #prefix: string;
  #format: (event: Event) => string;
  #target: WritableStream<Uint8Array> | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #lines: string[] = [];
  #writing: Promise<void> | null = null;
  #failure: Error | undefined;

  /**
   * Makes a stdout output; see {@link StdoutOptions}. `target` is the stream
   * written to (default `Deno.stdout.writable`).
   */
  constructor(
    name: string,
    options: Partial<StdoutOptions> = {},
    settings: ActorSettings = {},
    target?: WritableStream<Uint8Array>,
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = StdoutOptions.parse(options);
    this.#prefix = parsed.prefix;
    this.#format = FORMATS[parsed.format];
    this.#target = target;
  }

  override setup(): void {
    this.#target ??= Deno.stdout.writable;
    this.#writer = acquireWriter(this.#target);
  }

  override consume(event: Event): Promise<void> | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    const held = this.#lines.push(this.#prefix + this.#format(event) + "\n");
    if (this.#writing !== null) {
      return held >= MAX_BATCH ? this.#writing : undefined;
    }
    if (held === 1) queueMicrotask(this.#writeSoon);
    return undefined;
  }

  override async drained(): Promise<void> {
    if (this.#writing === null && this.#lines.length > 0) this.#write();
    if (this.#writing !== null) await this.#writing;
  }

  override teardown(): void {
    if (this.#target !== undefined && this.#writer !== undefined) {
      releaseWriter(this.#target);
      this.#writer = undefined;
    }
  }

  #writeSoon = (): void => {
    if (this.#writing === null && this.#lines.length > 0) this.#write();
  };

  #write(): Promise<void> {
    const lines = this.#lines;
    this.#lines = [];
    const writer = this.#writer;
    const written = writer === undefined
      ? Promise.reject(
        new TypeError(`Actor "${this.name}" writes before it was set up`),
      )
      : writer.write(encoder.encode(lines.join("")));
    this.#writing = written.then(
      () => this.#afterWrite(),
      (error: unknown) => {
        this.#failure = new Error(
          `Cannot write to the output stream: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
        this.log.error("Lost {count} line(s): {error}", {
          count: lines.length + this.#lines.length,
          error: this.#failure.message,
        });
        this.#lines = [];
        this.#writing = null;
      },
    );
    return this.#writing;
  }

  #afterWrite(): Promise<void> | undefined {
    if (this.#lines.length > 0) return this.#write();
    this.#writing = null;
    return undefined;
  }
}

const encoder = new TextEncoder();

/** Line formatters by `format` option. */
const FORMATS: Record<StdoutOptions["format"], (event: Event) => string> = {
  data: (event) =>
    typeof event.data === "string" ? event.data : toJson(event.data),
  event: (event) => toJson(event),
  json: (event) => toJson(event.data),
};

/** JSON text of `value`; what JSON cannot represent (`undefined`) is `null`. */
function toJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch (error) {
    throw new TypeError(
      `Cannot write the event as JSON: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

/** One writer per stream, shared by the actors that write to it. */
const writers = new WeakMap<
  WritableStream<Uint8Array>,
  { writer: WritableStreamDefaultWriter<Uint8Array>; users: number }
>();

function acquireWriter(
  stream: WritableStream<Uint8Array>,
): WritableStreamDefaultWriter<Uint8Array> {
  let shared = writers.get(stream);
  if (shared === undefined) {
    shared = { writer: stream.getWriter(), users: 0 };
    writers.set(stream, shared);
  }
  shared.users++;
  return shared.writer;
}

function releaseWriter(stream: WritableStream<Uint8Array>): void {
  const shared = writers.get(stream);
  if (shared === undefined || --shared.users > 0) return;
  writers.delete(stream);
  shared.writer.releaseLock();
}
