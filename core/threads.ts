/**
 * Stages that use more than one core: `threads: N` runs N copies of a
 * stateless actor in Web Workers, behind one {@link ThreadedActor} that
 * takes the actor's place in the pipeline.
 *
 * The supervisor runs the {@link ThreadedActor} as any actor. Its
 * `consumeBatch` holds the events of each batch (they stay counted in the
 * inbound queue's depth, so its capacity bounds them), cuts the batch into
 * pieces of a few ms of work each (measured as it goes), and posts each
 * piece to the thread with the fewest pieces in hand
 * (at most {@link PIECES_PER_THREAD} each; it waits for room when all have
 * that many, which is the back-pressure upstream). The pieces' results are
 * sent on in the order the pieces were read: the output order is the input
 * order, as with one copy. Each event is then finished through its handle:
 * done, retried in a thread as `retry` says, or failed to `error` with the
 * reason. A `CrashError` in a thread, or a thread that dies, is a crash of
 * the actor: the supervisor fails what it held and restarts it (new
 * threads) as its `restart` policy says.
 *
 * @module
 */

import {
  Actor,
  type ActorKind,
  type ActorSettings,
  type Context,
  CrashError,
  describe,
  type Held,
  type RetryOptions,
  RUNTIME,
  sleep,
} from "./actor.ts";
import type { Event } from "./event.ts";
import type { ActorSpec } from "./registry.ts";
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
import { FAILED, type TrackedEvent } from "./tracking.ts";
import { THREADABLE_ACTORS } from "../actors/threadable.ts";

/** Pieces a thread may have in hand (posted, not answered) at once. */
export const PIECES_PER_THREAD = 4;

/**
 * How much of a thread's time a piece of a batch aims at, in ms: small
 * pieces spread the work evenly over the threads (a thread that gets less
 * CPU takes fewer), large ones share a message's cost among more events.
 */
const PIECE_MS = 10;

/** The fewest and the most events of a piece. */
const MIN_PIECE = 16;
const MAX_PIECE = 512;

/** The piece size while nothing was measured yet. */
const FIRST_PIECE = 64;

/** How long a thread may take to tear its actor down at stop, in ms. */
const CLOSE_TIMEOUT_MS = 1000;

/** The highest `threads` setting. */
export const MAX_THREADS = 256;

/**
 * Makes actor `name` of `spec` with parsed `options`: a {@link ThreadedActor}
 * when `settings.threads` is above 1, else the actor itself. Throws a
 * `TypeError` when threads are asked of an actor that is not stateless, or
 * of one whose module a thread cannot find.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import { createMaybeThreaded, ThreadedActor } from "./threads.ts";
 * const options = jsonata.options.safeParse({ expression: "$" }).data!;
 * assert.ok(createMaybeThreaded(jsonata, "t", options, { threads: 2 }) instanceof ThreadedActor);
 * ```
 */
export function createMaybeThreaded<Options>(
  spec: ActorSpec<Options>,
  name: string,
  options: Options,
  settings: ActorSettings,
): Actor {
  const threads = settings.threads ?? 1;
  if (threads <= 1) return spec.create(name, options, settings);
  return new ThreadedActor(spec as ActorSpec, name, options, settings);
}

/**
 * Why `spec` cannot run in threads, or `undefined` when it can.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generator } from "../actors/input/generator.ts";
 * import { whyNotThreaded } from "./threads.ts";
 * assert.equal(whyNotThreaded(generator), 'actor type "generator" is not stateless; only stateless actors (spec "stateless: true") run in threads');
 * ```
 */
export function whyNotThreaded(spec: ActorSpec): string | undefined {
  if (spec.stateless !== true) {
    return `actor type "${spec.type}" is not stateless; only stateless actors (spec "stateless: true") run in threads`;
  }
  if (sourceOf(spec) === undefined) {
    return `a thread cannot load actor type "${spec.type}": its spec must say which module exports it ("module: import.meta.url")`;
  }
  return undefined;
}

/** Where a thread finds `spec`. */
function sourceOf(spec: ActorSpec): SpecSource | undefined {
  if (spec.module !== undefined) return { module: spec.module };
  if (THREADABLE_ACTORS.includes(spec)) return { type: spec.type };
  return undefined;
}

/**
 * A stateless actor run as `settings.threads` copies in Web Workers (see
 * the module documentation). It has the queues of the actor it runs, takes
 * its place in a pipeline, and keeps its event order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { generator } from "../actors/input/generator.ts";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import { nullOutput } from "../actors/output/null.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 100, data: { n: 2 } });
 * router.register(jsonata, "double", { expression: "n * 2" }, { threads: 2 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "double.inbox");
 * router.connect("double.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 100);
 * ```
 */
export class ThreadedActor extends Actor {
  /** The kind of the actor run. */
  readonly kind: ActorKind;
  /** How many copies run. */
  readonly threads: number;
  /** Sends only through its events' handles. */
  protected override readonly implicitSend = false;
  readonly #source: SpecSource;
  readonly #options: unknown;
  readonly #retries: RetryOptions | undefined;
  #pool: ThreadPool | undefined;

  /**
   * Makes the threaded form of actor `name` of `spec` with parsed
   * `options`; throws a `TypeError` when `spec` cannot run in threads (see
   * {@link whyNotThreaded}) or the actor cannot be made.
   */
  constructor(
    spec: ActorSpec,
    name: string,
    options: unknown,
    settings: ActorSettings,
  ) {
    const why = whyNotThreaded(spec);
    if (why !== undefined) {
      throw new TypeError(`Actor "${name}" cannot run in threads: ${why}`);
    }
    const { threads = 1, retry, ...rest } = settings;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new RangeError(
        `Actor "${name}": "threads" must be a whole number from 1 to ${MAX_THREADS}, not ${threads}`,
      );
    }
    // A copy made here checks the options and tells the queues.
    const model = spec.create(name, options, rest);
    super(name, rest, model.pool.names);
    this.kind = model.kind;
    this.threads = threads;
    this.#source = sourceOf(spec)!;
    this.#options = options;
    this.#retries = retry;
  }

  /** Starts the threads, each making and setting up its copy. */
  override async setup(): Promise<void> {
    const pool = new ThreadPool(this, this.#source, this.#options);
    this.#pool = pool;
    await pool.start(this.threads);
  }

  /** Tears the copies down and ends the threads. */
  override async teardown(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }

  /** Holds the batch's events and hands them to the threads. */
  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const pool = this.#pool;
    if (pool === undefined || pool.crash !== undefined) {
      throw pool?.crash ??
        new CrashError(`Actor "${this.name}" has no threads`);
    }
    pool.watch(context.signal);
    const held = events.map((event) => context.hold(event));
    const size = pool.pieceSize;
    for (let start = 0; start < held.length; start += size) {
      await pool.dispatch(context.queue, held.slice(start, start + size));
    }
  }

  /** @internal Retries of a failed event. */
  get retries(): RetryOptions | undefined {
    return this.#retries;
  }

  /** @internal The thread pool crashed: the run ends. */
  crashed(error: CrashError): void {
    this[RUNTIME]?.crash(error);
  }
}

/** One thread. */
interface Thread {
  readonly worker: Worker;
  readonly index: number;
  /** Pieces posted and not answered yet. */
  inHand: number;
}

/** A piece of a batch: its held events, and the thread's answer. */
interface Piece {
  readonly id: number;
  readonly queue: string;
  readonly held: readonly Held[];
  readonly answer: PromiseWithResolvers<ThreadResult | undefined>;
  thread: Thread | undefined;
}

/** The threads of one run of a {@link ThreadedActor}. */
class ThreadPool {
  readonly #actor: ThreadedActor;
  readonly #source: SpecSource;
  readonly #options: unknown;
  #threads: Thread[] = [];
  /** Pieces not sent on yet, in the order they were read. */
  #pending: Piece[] = [];
  /** Pieces posted and not answered, by id. */
  #posted = new Map<number, Piece>();
  #nextId = 0;
  #nextThread = 0;
  #sending = false;
  #room: (() => void)[] = [];
  #watched: AbortSignal | undefined;
  /** A thread's time per event, in ms, averaged over the recent pieces. */
  #msPerEvent: number | undefined;
  #over = false;
  /** Set when a thread died or its actor threw a `CrashError`. */
  crash: CrashError | undefined;

  constructor(actor: ThreadedActor, source: SpecSource, options: unknown) {
    this.#actor = actor;
    this.#source = source;
    this.#options = options;
  }

  /** Starts `count` threads; throws when one cannot make its actor. */
  async start(count: number): Promise<void> {
    const ready: Promise<void>[] = [];
    try {
      this.#spawn(count, ready);
      await Promise.all(ready);
    } catch (error) {
      this.#terminate();
      throw error;
    }
  }

  /** Starts `count` threads; `ready` gets a promise per thread. */
  #spawn(count: number, ready: Promise<void>[]): void {
    for (let index = 0; index < count; index++) {
      const worker = new Worker(
        new URL("./thread_worker.ts", import.meta.url),
        { type: "module" },
      );
      const thread: Thread = { worker, index, inHand: 0 };
      this.#threads.push(thread);
      const started = Promise.withResolvers<void>();
      ready.push(started.promise);
      worker.onmessage = (message: MessageEvent<FromThread>) => {
        const data = message.data;
        if (data.type === "ready") started.resolve();
        else if (data.type === "failed") {
          started.reject(
            new TypeError(
              `Actor "${this.#actor.name}" cannot start in a thread: ${data.message}`,
            ),
          );
        } else if (data.type === "result") this.#answered(thread, data);
        else if (data.type === "died") died(data.message);
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        died(event.message || "it stopped");
      };
      const died = (message: string) => {
        const error = new CrashError(
          `Thread ${
            index + 1
          } of actor "${this.#actor.name}" failed: ${message}`,
        );
        started.reject(error);
        this.#crashed(error);
      };
      this.#post(thread, {
        type: "init",
        name: this.#actor.name,
        source: this.#source,
        options: this.#options,
      });
    }
  }

  /** Gives up sending on when `signal` (the run's) aborts. */
  watch(signal: AbortSignal): void {
    if (this.#watched === signal) return;
    this.#watched = signal;
    signal.addEventListener("abort", () => this.#end(), { once: true });
  }

  /**
   * Posts a piece to the thread with the fewest in hand, once one has room;
   * returns at once when the pool crashed or ended (the supervisor finishes
   * what is held then).
   */
  async dispatch(queue: string, held: readonly Held[]): Promise<void> {
    for (;;) {
      if (this.#over) return;
      const thread = this.#freeThread();
      if (thread !== undefined) {
        const piece: Piece = {
          id: this.#nextId++,
          queue,
          held,
          answer: Promise.withResolvers(),
          thread: undefined,
        };
        this.#pending.push(piece);
        this.#send(piece, thread);
        void this.#sendOn();
        return;
      }
      await new Promise<void>((resolve) => this.#room.push(resolve));
    }
  }

  /** The thread with room and the fewest pieces in hand, in turn. */
  #freeThread(): Thread | undefined {
    const threads = this.#threads;
    // The pieces waiting to be sent on are bounded too.
    if (this.#pending.length >= threads.length * PIECES_PER_THREAD * 2) {
      return undefined;
    }
    let best: Thread | undefined;
    for (let i = 0; i < threads.length; i++) {
      const thread = threads[(this.#nextThread + i) % threads.length]!;
      if (thread.inHand >= PIECES_PER_THREAD) continue;
      if (best === undefined || thread.inHand < best.inHand) best = thread;
    }
    if (best !== undefined) {
      this.#nextThread = (best.index + 1) % threads.length;
    }
    return best;
  }

  /** Posts `piece`'s events to `thread`. */
  #send(piece: Piece, thread: Thread): void {
    piece.thread = thread;
    thread.inHand++;
    this.#posted.set(piece.id, piece);
    const events = encodeEvents(piece.held.map((held) => held.event));
    this.#post(
      thread,
      { type: "batch", id: piece.id, queue: piece.queue, events },
      transferables(events),
    );
  }

  #post(thread: Thread, message: ToThread, transfer: Transferable[] = []) {
    thread.worker.postMessage(message, transfer);
  }

  /** How many events a piece takes: about {@link PIECE_MS} of work. */
  get pieceSize(): number {
    const ms = this.#msPerEvent;
    if (ms === undefined) return FIRST_PIECE;
    return Math.min(
      MAX_PIECE,
      Math.max(MIN_PIECE, Math.round(PIECE_MS / Math.max(ms, 1e-6))),
    );
  }

  #answered(thread: Thread, result: ThreadResult): void {
    const piece = this.#posted.get(result.id);
    if (piece === undefined) return;
    const ms = result.ms / piece.held.length;
    this.#msPerEvent = this.#msPerEvent === undefined
      ? ms
      : this.#msPerEvent * 0.8 + ms * 0.2;
    this.#posted.delete(result.id);
    thread.inHand--;
    piece.answer.resolve(result);
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#room;
    this.#room = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Sends on the answers of the pieces in order, one piece at a time. What
   * fails here (a bug) crashes the actor rather than the process.
   */
  async #sendOn(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (!this.#over && this.#pending.length > 0) {
        const piece = this.#pending[0]!;
        const result = await piece.answer.promise;
        if (result === undefined || this.#over) return;
        await this.#finish(piece, result);
        this.#pending.shift();
        this.#wake();
      }
    } catch (error) {
      this.#crashed(
        new CrashError(
          `Actor "${this.#actor.name}" failed to send on what its threads made: ${
            describe(error)
          }`,
          { cause: error },
        ),
      );
    } finally {
      this.#sending = false;
    }
  }

  /**
   * Sends on what each event of `piece` became, then finishes it: done,
   * retried, or failed.
   */
  async #finish(piece: Piece, result: ThreadResult): Promise<void> {
    const outputs = decodeEvents(result.outputs);
    const { sources, queues, failures } = result;
    let output = 0;
    let failed = 0;
    for (let i = 0; i < piece.held.length; i++) {
      if (this.#over) return;
      const held = piece.held[i]!;
      for (; output < outputs.length && sources[output] === i; output++) {
        const waiting = held.send(
          derived(held, outputs[output]!),
          queues?.[output] ?? "outbox",
        );
        if (waiting !== undefined) await waiting;
      }
      const failure = failures[failed]?.index === i
        ? failures[failed++]
        : undefined;
      if (failure === undefined) {
        held.done();
        continue;
      }
      if (failure.crash === true) {
        await this.#crashWith(held, failure);
        return;
      }
      const last = await this.#retry(piece.queue, held, failure);
      if (last === undefined) {
        held.done();
      } else if (last.crash === true) {
        await this.#crashWith(held, last);
        return;
      } else {
        const waiting = held.fail(toError(last), last.details);
        if (waiting !== undefined) await waiting;
      }
    }
  }

  /**
   * Retries a failed event in a thread as `retry` says; returns the last
   * failure, or `undefined` when an attempt succeeded.
   */
  async #retry(
    queue: string,
    held: Held,
    failure: ThreadFailure,
  ): Promise<ThreadFailure | undefined> {
    const retry = this.#actor.retries;
    if (retry === undefined) return failure;
    let last: ThreadFailure | undefined = failure;
    for (let attempt = 1; attempt <= retry.max; attempt++) {
      if (!await sleep(retry.backoffMs * 2 ** (attempt - 1), held.signal)) {
        return last;
      }
      if (this.#over) return last;
      const thread = this.#leastBusy();
      const piece: Piece = {
        id: this.#nextId++,
        queue,
        held: [held],
        answer: Promise.withResolvers(),
        thread: undefined,
      };
      this.#send(piece, thread);
      const result = await piece.answer.promise;
      if (result === undefined || this.#over) return last;
      const outputs = decodeEvents(result.outputs);
      for (let output = 0; output < outputs.length; output++) {
        const waiting = held.send(
          derived(held, outputs[output]!),
          result.queues?.[output] ?? "outbox",
        );
        if (waiting !== undefined) await waiting;
      }
      last = result.failures[0];
      if (last === undefined || last.crash === true) return last;
    }
    return last;
  }

  #leastBusy(): Thread {
    return this.#threads.reduce((best, thread) =>
      thread.inHand < best.inHand ? thread : best
    );
  }

  /** Fails `held` with a thread's `CrashError`, and crashes the actor. */
  async #crashWith(held: Held, failure: ThreadFailure): Promise<void> {
    const error = new CrashError(failure.message);
    const waiting = held.fail(error, failure.details);
    this.#crashed(error);
    if (waiting !== undefined) await waiting;
  }

  /** A thread died or crashed: the actor's run ends. */
  #crashed(error: CrashError): void {
    if (this.crash !== undefined || this.#over) return;
    this.crash = error;
    this.#end();
    this.#actor.crashed(error);
  }

  /** Sends nothing on any more; what is held, the supervisor finishes. */
  #end(): void {
    if (this.#over) return;
    this.#over = true;
    for (const piece of this.#posted.values()) piece.answer.resolve(undefined);
    for (const piece of this.#pending) piece.answer.resolve(undefined);
    this.#posted.clear();
    this.#wake();
  }

  /** Tears the copies down (for a short while at most) and ends the threads. */
  async close(): Promise<void> {
    this.#end();
    // After a crash the copies are not torn down: a thread may be dead.
    if (this.crash === undefined) {
      await Promise.all(this.#threads.map((thread) => closeThread(thread)));
    }
    this.#terminate();
  }

  #terminate(): void {
    for (const thread of this.#threads) thread.worker.terminate();
    this.#threads = [];
  }
}

/** Asks a thread to tear its actor down; resolves when it did or timed out. */
async function closeThread(thread: Thread): Promise<void> {
  const closed = Promise.withResolvers<void>();
  const timer = setTimeout(closed.resolve, CLOSE_TIMEOUT_MS);
  thread.worker.onmessage = (message: MessageEvent<FromThread>) => {
    if (message.data.type === "closed") closed.resolve();
  };
  thread.worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    closed.resolve();
  };
  try {
    thread.worker.postMessage({ type: "close" } satisfies ToThread);
    await closed.promise;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An event a thread sent, marked as the held one is: one that came by way
 * of an `error` queue stays so for the outputs downstream.
 */
function derived(held: Held, event: Event): Event {
  if ((held.event as TrackedEvent)[FAILED] === true) {
    (event as TrackedEvent)[FAILED] = true;
  }
  return event;
}

/** The error a thread's failure stands for. */
function toError(failure: ThreadFailure): Error {
  const error = new Error(failure.message);
  error.name = failure.name;
  return error;
}
