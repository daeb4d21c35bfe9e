/**
 * `stdout`: an output that writes each event as a line on standard output (or
 * any byte stream), with back-pressure.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  errorMessage,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { toJson } from "../payload.ts";

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
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { Stdout } from "./stdout.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3, data: "n={{seq}}" });
 * let printed = "";
 * const target = new WritableStream<Uint8Array>({
 *   write: (bytes) => void (printed += new TextDecoder().decode(bytes)),
 * });
 * // router.register(stdout, "print", { prefix: "got: " }) prints to standard output
 * router.register(new Stdout("print", { prefix: "got: " }, {}, target));
 * router.connect("input.outbox", "print.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 3);
 * assert.equal(printed, "got: n=1\ngot: n=2\ngot: n=3\n");
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
 * Each batch of the inbox is one write: every event is formatted into a line,
 * the lines are written as one chunk, and the batch counts as consumed once
 * the stream took it; meanwhile the actor reads no more of its inbox, so
 * back-pressure reaches the producers. An event that cannot be formatted
 * (data holding a BigInt or a cycle cannot be written as JSON) fails alone,
 * to the `error` queue; the rest of its batch is written.
 *
 * A failed write fails the events of its batch, and every later event fails
 * with the write's error, since a stream that failed once stays failed (the
 * first failure is logged at error level).
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

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const writer = this.#writer;
    if (writer === undefined) {
      throw new TypeError(`Actor "${this.name}" writes before it was set up`);
    }
    let text = "";
    let unformatted: Map<Event, unknown> | undefined;
    for (const event of events) {
      try {
        text += this.#prefix + this.#format(event) + "\n";
      } catch (error) {
        (unformatted ??= new Map()).set(event, error);
      }
    }
    if (text !== "") {
      try {
        await writer.write(encoder.encode(text));
      } catch (error) {
        this.#failure = new Error(
          `Cannot write to the output stream: ${errorMessage(error)}`,
          { cause: error },
        );
        this.log.error(
          "Failed to write {count} line(s); they and every later event fail: {error}",
          {
            count: events.length - (unformatted?.size ?? 0),
            error: this.#failure.message,
          },
        );
        for (const event of events) {
          context.fail(event, unformatted?.get(event) ?? this.#failure);
        }
        return;
      }
    }
    for (const [event, error] of unformatted ?? []) {
      context.fail(event, error);
    }
  }

  override teardown(): void {
    if (this.#target !== undefined && this.#writer !== undefined) {
      releaseWriter(this.#target);
      this.#writer = undefined;
    }
  }
}

const encoder = new TextEncoder();

/** Line formatters by `format` option. */
const FORMATS: Record<StdoutOptions["format"], (event: Event) => string> = {
  data: (event) =>
    typeof event.data === "string" ? event.data : toJson(event.data, "event"),
  event: (event) => toJson(event, "event"),
  json: (event) => toJson(event.data, "event"),
};

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
