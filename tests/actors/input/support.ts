/**
 * Helpers for the input tests: bounded waits that fail clearly instead of
 * hanging, an input's pipeline, small actors that hold events, and the bytes
 * to send.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import type { Actor, ActorSettings, Context } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { Collector, within as withinMs } from "../../helpers.ts";
import { concatBytes } from "../../../actors/payload.ts";

/** Longest wait for a condition before failing the test. */
const GIVE_UP_MS = 10_000;

/**
 * `promise`, or a rejection naming `what` after 10 s: a broken actor fails
 * the test instead of hanging it. Leaves no timer behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await within(Promise.resolve(2), "two events"), 2);
 * ```
 */
export function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return withinMs(promise, GIVE_UP_MS, what);
}

/**
 * The UTF-8 bytes of `text`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(encode("hi"), new Uint8Array([104, 105]));
 * ```
 */
export function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * `payload` behind its length as a 4-byte big-endian prefix: one frame of
 * length framing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(frame(encode("hi")), new Uint8Array([0, 0, 0, 2, 104, 105]));
 * ```
 */
export function frame(payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(4 + payload.length);
  new DataView(bytes.buffer).setUint32(0, payload.length);
  bytes.set(payload, 4);
  return bytes;
}

/** What {@link startInput} started. */
export interface InputRun<A extends Actor> {
  router: Router;
  /** The input under test. */
  input: A;
  /** What the input sent on `outbox`. */
  sink: Collector;
  /** What the input sent on `error`. */
  errors: Collector;
  /** The router's log lines. */
  logs: Collector;
}

/**
 * Starts `input` -> `sink` (its `outbox`) and `errors` (its `error`), with
 * the logs kept by a collector; the test stops the router.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileIn } from "../../../actors/input/file_in.ts";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/in.ndjson`;
 * await Deno.writeTextFile(path, '{"n":1}\n');
 * const { router, sink } = await startInput(new FileIn("input", { path, codec: "ndjson" }));
 * await sink.waitFor(1);
 * await router.stop();
 * assert.deepEqual(sink.data(), [{ n: 1 }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function startInput<A extends Actor>(
  input: A,
): Promise<InputRun<A>> {
  const router = new Router();
  const logs = new Collector("logs");
  router.registerLogActor(logs);
  router.register(input);
  const sink = router.register(new Collector("sink"));
  const errors = router.register(new Collector("errors"));
  router.connect(`${input.name}.outbox`, "sink.inbox");
  router.connect(`${input.name}.error`, "errors.inbox");
  await router.start();
  return { router, input, sink, errors, logs };
}

/**
 * An output that holds every event until `release()` is called, recording
 * what `probe()` says each time it takes one; a {@link Collector} of the
 * events let through.
 */
export class Holder extends Collector {
  /** What `probe` returned at each consume. */
  readonly probes: number[] = [];
  #gate = Promise.withResolvers<void>();
  #first = Promise.withResolvers<void>();
  #probe: () => number;

  /** Makes a holder; `probe` is sampled at each event. */
  constructor(
    name: string,
    settings: ActorSettings = {},
    probe: () => number = () => 0,
  ) {
    super(name, settings);
    this.#probe = probe;
  }

  /** Resolves once the first event is held. */
  get first(): Promise<void> {
    return this.#first.promise;
  }

  /** Lets every held and later event through. */
  release(): void {
    this.#gate.resolve();
  }

  override async consume(event: Event, context: Context): Promise<void> {
    this.probes.push(this.#probe());
    this.#first.resolve();
    await this.#gate.promise;
    super.consume(event, context);
  }
}

/** What {@link startProbed} started. */
export interface ProbedRun {
  router: Router;
  /**
   * Holds the events the input sends on `outbox` until released, probing
   * the depth of the input's outbox at each event.
   */
  holder: Holder;
  /** What the input sent on `error`. */
  errors: Collector;
}

/**
 * Starts `input` -> a {@link Holder} (its `outbox`, behind an inbox of
 * `capacity`) and a collector (its `error`); the test stops the router.
 */
export async function startProbed(
  input: Actor,
  capacity: number,
): Promise<ProbedRun> {
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  router.register(input);
  const outbox = input.pool.outbound.get("outbox")!;
  const holder = router.register(
    new Holder("holder", {}, () => outbox.figures().depth),
  ) as Holder;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect(`${input.name}.outbox`, "holder.inbox", { capacity });
  router.connect(`${input.name}.error`, "errors.inbox", { capacity });
  await router.start();
  return { router, holder, errors };
}

/**
 * Runs `input` -> a {@link Holder} behind an inbox of capacity 1 until
 * `count` events went through: the holder holds the first event until the
 * input has made at least a batch, then lets everything through. Returns the
 * data received and the most events the input's outbox held at any event
 * (the input must not decode what it cannot send).
 */
export async function throughHolder(
  input: Actor,
  count: number,
): Promise<{ data: unknown[]; most: number }> {
  const { router, holder } = await startProbed(input, 1);
  const outbox = input.pool.outbound.get("outbox")!;
  try {
    await within(holder.first, "the first event to be held");
    for (let turn = 0; turn < 100 && outbox.figures().in_total < 512; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    holder.release();
    await within(holder.waitFor(count), `${count} events`);
  } finally {
    holder.release();
    await router.stop();
  }
  return { data: holder.data(), most: Math.max(...holder.probes) };
}

/**
 * The bytes of `parts` one after another.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(joined([encode("a"), encode("bc")]), new Uint8Array([97, 98, 99]));
 * ```
 */
export function joined(parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(
    parts,
    parts.reduce((length, part) => length + part.length, 0),
  );
}

/**
 * Sends each of `datagrams` to 127.0.0.1:`port` from one UDP socket, in order,
 * and closes it; returns the socket's `"host:port"`.
 */
export async function sendDatagrams(
  port: number,
  datagrams: (string | Uint8Array)[],
): Promise<string> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    for (const datagram of datagrams) {
      await new Promise<void>((resolve, reject) =>
        socket.send(
          datagram,
          port,
          "127.0.0.1",
          (error) => error ? reject(error) : resolve(),
        )
      );
    }
    return `127.0.0.1:${socket.address().port}`;
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/**
 * POSTs `body` as JSON to 127.0.0.1:`port` `/orders`, lets go of the answer
 * and returns its status.
 *
 * @example
 * ```ts ignore
 * assert.equal(await postOrder(web.port, '{"n":1}'), 202);
 * ```
 */
export async function postOrder(port: number, body: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  await response.body?.cancel();
  return response.status;
}
