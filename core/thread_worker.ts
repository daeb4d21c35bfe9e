/**
 * The program of one thread of a stage that runs in threads (`threads: N`,
 * see `threads.ts`): it makes its own copy of the actor, then consumes the
 * batches the main thread posts, one after the other, and posts back what
 * the actor sent and which events failed. It is started as a Web Worker by
 * `ThreadedActor`, from `new URL("./thread_worker.ts", import.meta.url)`;
 * `deno compile` must `--include` it (scripts/compile.ts does).
 *
 * @module
 */

import { THREADABLE_ACTORS } from "../actors/threadable.ts";
import {
  Actor,
  type Context,
  CrashError,
  type Held,
  RUNTIME,
} from "./actor.ts";
import { type Event, isEvent } from "./event.ts";
import type { OutboundQueue } from "./queue.ts";
import { type ActorSpec, isActorSpec } from "./registry.ts";
import {
  decodeEvents,
  encodeEvents,
  type FromThread,
  type SpecSource,
  type ThreadFailure,
  type ThreadResult,
  type ToThread,
  transferables,
} from "./thread_codec.ts";

/** The parts of a worker's global scope this program uses. */
interface WorkerScope {
  onmessage: ((message: MessageEvent<ToThread>) => void) | null;
  postMessage(message: FromThread, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

/** This thread's copy of the actor, once made. */
let actor: Actor | undefined;
/** The queue names of the actor's outbound queues. */
const queueNames = new Map<OutboundQueue, string>();
/** The batch being consumed, for `this.send` inside `consume`. */
let current: BatchContext | undefined;
/** The messages are handled one after the other. */
let chain: Promise<void> = Promise.resolve();

// An error nothing caught kills the actor's copy: the main thread crashes
// the actor (and restarts it with new threads) as its policy says.
const died = (error: unknown) =>
  scope.postMessage({
    type: "died",
    message: error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error),
  });
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  died(event.error ?? event.message);
});
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  died(event.reason);
});

scope.onmessage = (message) => {
  const data = message.data;
  chain = chain.then(() => handle(data));
};

async function handle(message: ToThread): Promise<void> {
  switch (message.type) {
    case "init":
      try {
        await init(message.name, message.source, message.options);
        scope.postMessage({ type: "ready" });
      } catch (error) {
        scope.postMessage({
          type: "failed",
          message: error instanceof Error ? error.message : String(error),
        });
      }
      return;
    case "batch": {
      const result = await consume(
        message.id,
        message.queue,
        decodeEvents(message.events),
        message.events.refused,
      );
      scope.postMessage(result, transferables(result.outputs));
      return;
    }
    case "close":
      try {
        await actor?.teardown();
      } finally {
        scope.postMessage({ type: "closed" });
      }
  }
}

/** Makes and sets up this thread's copy of the actor. */
async function init(
  name: string,
  source: SpecSource,
  options: unknown,
): Promise<void> {
  const spec = "type" in source
    ? THREADABLE_ACTORS.find((spec) => spec.type === source.type)
    : await importSpec(source.module);
  if (spec === undefined) {
    throw new TypeError(
      `Actor type "${(source as { type: string }).type}" cannot run in threads`,
    );
  }
  const made = spec.create(name, options, {});
  if (!(made instanceof Actor)) {
    throw new TypeError(
      `Actor type "${spec.type}" made something that is not an Actor`,
    );
  }
  for (const [queue, outbound] of made.pool.outbound) {
    queueNames.set(outbound, queue);
  }
  made[RUNTIME] = {
    send: (event, outbound) => {
      if (current === undefined) {
        throw new TypeError(
          `Actor "${name}" sent an event outside consume, which it cannot do in threads`,
        );
      }
      return current.send(event, outbound);
    },
    crash: () => {},
  };
  await made.setup();
  actor = made;
}

async function importSpec(url: string): Promise<ActorSpec> {
  const module = await import(url) as Record<string, unknown>;
  for (const exported of ["default", "spec"]) {
    const spec = module[exported];
    if (isActorSpec(spec)) return spec;
  }
  throw new TypeError(
    `Module "${url}" does not export an actor spec as "default" or "spec"`,
  );
}

/** Consumes one batch with the actor's `consumeBatch` or `consume`. */
async function consume(
  id: number,
  queue: string,
  events: Event[],
  refused: readonly [number, string][],
): Promise<ThreadResult> {
  const started = performance.now();
  const context = new BatchContext(queue, events);
  for (const [index, why] of refused) context.failAt(index, unsendable(why));
  current = context;
  try {
    if (actor!.consumeBatch !== undefined) {
      context.batchMode = true;
      const taken = refused.length === 0
        ? events
        : events.filter((_, i) => !context.failed(i));
      try {
        if (taken.length > 0) await actor!.consumeBatch(taken, context);
      } catch (error) {
        for (let i = 0; i < events.length; i++) context.failAt(i, error);
      }
    } else {
      for (let i = 0; i < events.length && !context.crashed; i++) {
        if (context.failed(i)) continue;
        context.index = i;
        try {
          const result = actor!.consume(events[i]!, context);
          if (result !== undefined) await result;
        } catch (error) {
          context.failAt(i, error);
        }
      }
    }
  } finally {
    current = undefined;
  }
  return context.result(id, performance.now() - started);
}

/** The context of one batch: it records what the actor sends and fails. */
class BatchContext implements Context {
  readonly queue: string;
  readonly signal: AbortSignal = new AbortController().signal;
  readonly #events: Event[];
  #outputs: Event[] = [];
  #sources: number[] = [];
  #queues: string[] = [];
  #onlyOutbox = true;
  #failures = new Map<number, ThreadFailure>();
  #indexes: Map<Event, number> | undefined;
  batchMode = false;
  /** The event being consumed (per-event mode). */
  index = 0;
  crashed = false;

  constructor(queue: string, events: Event[]) {
    this.queue = queue;
    this.#events = events;
  }

  send(
    event: Event,
    queue: string | OutboundQueue = "outbox",
    from?: Event | readonly Event[],
  ): undefined {
    const name = typeof queue === "string"
      ? (actor!.outbound(queue), queue)
      : queueNames.get(queue);
    if (name === undefined) {
      throw new TypeError(
        `Actor "${actor!.name}" sent to an outbound queue that is not its own`,
      );
    }
    if (!isEvent(event)) {
      throw new TypeError(
        `Actor "${actor!.name}" sent a value that is not an event to "${name}"`,
      );
    }
    const source = from === undefined
      ? (this.batchMode ? 0 : this.index)
      : this.#indexOf(Array.isArray(from) ? from[0] : from as Event);
    this.#outputs.push(event);
    this.#sources.push(source);
    this.#queues.push(name);
    if (name !== "outbox") this.#onlyOutbox = false;
    return undefined;
  }

  /**
   * `send` of each event: in a batch, an event of the batch being consumed
   * derives from itself (a stage that changed the batch in place), another
   * from `from` or the batch's first.
   */
  sendAll(
    events: Event[],
    queue: string | OutboundQueue = "outbox",
    from?: Event | readonly Event[],
  ): undefined {
    this.#indexes ??= new Map(this.#events.map((event, i) => [event, i]));
    for (const event of events) {
      const own = this.batchMode && this.#indexes.has(event);
      this.send(event, queue, from ?? (own ? event : undefined));
    }
    return undefined;
  }

  fail(event: Event, error: unknown, details?: Record<string, unknown>): void {
    this.failAt(this.#indexOf(event), error, details);
  }

  hold(_event: Event): Held {
    throw new TypeError(
      `Actor "${
        actor!.name
      }" holds events past consume, which it cannot do in threads`,
    );
  }

  /** Fails the event at `index` (the first failure of an event counts). */
  failAt(
    index: number,
    error: unknown,
    details?: Record<string, unknown>,
  ): void {
    if (this.#failures.has(index)) return;
    const failure: ThreadFailure = {
      index,
      name: error instanceof Error ? error.name : "Error",
      message: error instanceof Error ? error.message : String(error),
    };
    const plain = plainDetails(details);
    if (plain !== undefined) failure.details = plain;
    if (error instanceof CrashError) {
      failure.crash = true;
      this.crashed = true;
    }
    this.#failures.set(index, failure);
  }

  /** Whether the event at `index` failed. */
  failed(index: number): boolean {
    return this.#failures.has(index);
  }

  #indexOf(event: Event | undefined): number {
    if (!this.batchMode) return this.index;
    this.#indexes ??= new Map(this.#events.map((event, i) => [event, i]));
    const index = event === undefined ? undefined : this.#indexes.get(event);
    if (index === undefined) {
      throw new TypeError(
        `Actor "${
          actor!.name
        }" named an event that is not of the batch being consumed`,
      );
    }
    return index;
  }

  result(id: number, ms: number): ThreadResult {
    let outputs = this.#outputs;
    let sources = this.#sources;
    let queues = this.#queues;
    // Grouped by the event they derive from, in the order they were sent.
    if (sources.some((source, i) => i > 0 && source < sources[i - 1]!)) {
      const order = sources.map((_, i) => i).sort((a, b) =>
        sources[a]! - sources[b]! || a - b
      );
      outputs = order.map((i) => this.#outputs[i]!);
      sources = order.map((i) => this.#sources[i]!);
      queues = order.map((i) => this.#queues[i]!);
    }
    let encoded = encodeEvents(outputs);
    if (encoded.refused.length > 0) {
      // What cannot cross back fails the event it derives from.
      const refused = new Set(encoded.refused.map(([index]) => index));
      for (const [index, why] of encoded.refused) {
        this.failAt(sources[index]!, unsendable(why));
      }
      const kept = (_: unknown, i: number) => !refused.has(i);
      outputs = outputs.filter(kept);
      sources = sources.filter(kept);
      queues = queues.filter(kept);
      encoded = encodeEvents(outputs);
    }
    return {
      type: "result",
      id,
      outputs: encoded,
      sources: Uint32Array.from(sources),
      queues: this.#onlyOutbox ? null : queues,
      failures: [...this.#failures.values()].sort((a, b) => a.index - b.index),
      ms,
    };
  }
}

/** `details` as plain JSON values (what crosses back), or `undefined`. */
function plainDetails(
  details: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (details === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(details));
  } catch {
    return undefined;
  }
}

/** Why an event could not cross between threads. */
function unsendable(why: string): TypeError {
  return new TypeError(
    `The event cannot cross to or from a thread (not JSON, not cloneable): ${why}`,
  );
}
