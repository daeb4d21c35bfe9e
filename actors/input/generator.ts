/**
 * `generator`: makes events on a timer or as fast as the pipeline takes them.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  sleep,
  yieldToEventLoop,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";

/** Options of the `generator` actor. */
export const GeneratorOptions = z.strictObject({
  interval: z.number().min(0).default(1).describe(
    "Seconds between two events; 0 makes them as fast as the pipeline takes them.",
  ),
  count: z.number().int().min(0).optional().describe(
    "Stop after this many events; without it, run until the pipeline stops.",
  ),
  data: z.unknown().default("hello {{seq}}").describe(
    'The data of each event. In strings, "{{seq}}" becomes the sequence number (from 1); other values are copied as they are.',
  ),
});

/** Parsed options of the `generator` actor. */
export type GeneratorOptions = z.infer<typeof GeneratorOptions>;

/** Yield to timers and I/O after this many events made without waiting. */
const EVENTS_BETWEEN_YIELDS = 4096;

/**
 * Makes events `{ header: { <name>: { seq } }, data }` every `interval`
 * seconds, `count` times or until the router stops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "./generator.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 5, data: "n={{seq}}" });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 5);
 * ```
 */
export const generator: ActorSpec<GeneratorOptions> = {
  type: "generator",
  kind: "input",
  summary: "Makes events on a timer, or as fast as the pipeline takes them.",
  options: GeneratorOptions,
  example: { interval: 0.5, count: 10, data: "hello {{seq}}" },
  create: (name, options, settings) => new Generator(name, options, settings),
};

/** The `generator` input actor. */
export class Generator extends Actor {
  readonly kind = "input";
  #intervalMs: number;
  #count: number;
  #make: (seq: number) => unknown;

  /** Makes a generator; see {@link GeneratorOptions}. */
  constructor(
    name: string,
    options: Partial<GeneratorOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    const parsed = GeneratorOptions.parse(options);
    this.#intervalMs = parsed.interval * 1000;
    this.#count = parsed.count ?? Infinity;
    this.#make = dataMaker(parsed.data);
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const name = this.name;
    const count = this.#count;
    const intervalMs = this.#intervalMs;
    const make = this.#make;
    // The signal can only abort while this waits: it is read after each
    // wait, not for each event (its getter costs a brand check each time).
    if (signal.aborted) return;
    for (let seq = 1; seq <= count; seq++) {
      const event: Event = { header: { [name]: { seq } }, data: make(seq) };
      const waiting = this.send(event);
      if (waiting !== undefined) {
        await waiting;
        if (signal.aborted) return;
      }
      if (intervalMs > 0) {
        if (seq < count && !await sleep(intervalMs, signal)) return;
      } else if (seq % EVENTS_BETWEEN_YIELDS === 0) {
        await yieldToEventLoop();
        if (signal.aborted) return;
      }
    }
  }
}

function dataMaker(data: unknown): (seq: number) => unknown {
  if (typeof data === "string") {
    if (!data.includes("{{seq}}")) return () => data;
    const parts = data.split("{{seq}}");
    return (seq) => parts.join(String(seq));
  }
  if (typeof data === "object" && data !== null) {
    return () => structuredClone(data);
  }
  return () => data;
}
