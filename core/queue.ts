/**
 * Bounded queues built on WHATWG Web Streams.
 *
 * A {@link Queue} is a channel with a `WritableStream` end and a
 * `ReadableStream` end. Chunks are arrays of events; the capacity is counted in
 * events, not chunks. An actor's inbound queues are `Queue`s; its outbound
 * queues are {@link OutboundQueue}s that batch what the actor sends and write
 * it into the `Queue` they are connected to.
 *
 * @module
 */

import { type Event, isEvent, whyNotEvent } from "./event.ts";

/** What a queue does with an event that arrives while it is full. */
export type WhenFull = "block" | "drop_newest" | "drop_oldest";

/** The policies a queue may follow when full. */
export const WHEN_FULL: readonly WhenFull[] = [
  "block",
  "drop_newest",
  "drop_oldest",
];

/** The default capacity of a queue, in events. */
export const DEFAULT_CAPACITY = 1000;

/** The most events one chunk carries between two actors. */
export const MAX_BATCH = 512;

/**
 * Counters of one queue.
 *
 * For an inbound queue, `in_total` counts events accepted, `out_total` events
 * handed to the consumer, `dropped_total` events lost to the full-queue policy,
 * `discarded_total` values that were not events. For an outbound queue,
 * `out_total` counts events written to the connected queue and `dropped_total`
 * events sent while it was not connected.
 */
export interface QueueFigures {
  in_total: number;
  out_total: number;
  dropped_total: number;
  discarded_total: number;
  depth: number;
  capacity: number;
}

/** Settings of a {@link Queue}. */
export interface QueueOptions {
  /** Most events held at once (default {@link DEFAULT_CAPACITY}). */
  capacity?: number;
  /** What to do when full (default `"block"`). */
  whenFull?: WhenFull;
  /** Called for each value written that is not an event, with the reason. */
  onDiscard?: (value: unknown, reason: string, queue: string) => void;
}

/**
 * A bounded channel of events with a `WritableStream` end and a
 * `ReadableStream` end. Writers write arrays of events (a single event is also
 * accepted); readers read arrays of at most {@link MAX_BATCH} events.
 *
 * With `whenFull: "block"` a write resolves only once every event in it fits,
 * so back-pressure reaches the producer and `depth` never exceeds `capacity`.
 * `drop_newest` drops what does not fit, `drop_oldest` drops the oldest
 * queued events to make room; both count the drops and never wait.
 *
 * @example
 * ```ts
 * import { Queue } from "./queue.ts";
 * const queue = new Queue("demo", { capacity: 10 });
 * const writer = queue.writable.getWriter();
 * await writer.write([{ header: {}, data: 1 }, { header: {}, data: 2 }]);
 * await writer.close();
 * for await (const batch of queue.readable) console.log(batch.length); // 2
 * ```
 */
export class Queue {
  /** The name used in logs and figures, e.g. `"b.inbox"`. */
  readonly name: string;
  /** Most events held at once. */
  readonly capacity: number;
  /** The full-queue policy. */
  readonly whenFull: WhenFull;
  /** Where producers write arrays of events. */
  readonly writable: WritableStream<Event[] | Event>;
  /** Where the consumer reads arrays of events. */
  readonly readable: ReadableStream<Event[]>;

  #items: Event[] = [];
  #head = 0;
  #closed = false;
  #inTotal = 0;
  #outTotal = 0;
  #droppedTotal = 0;
  #discardedTotal = 0;
  #wakeReader: (() => void) | null = null;
  #wakeWriter: (() => void) | null = null;
  #onDiscard:
    | ((value: unknown, reason: string, queue: string) => void)
    | undefined;

  /** Makes an empty, open queue. */
  constructor(name: string, options: QueueOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Queue "${name}": capacity must be a whole number of at least 1, got ${capacity}`,
      );
    }
    this.name = name;
    this.capacity = capacity;
    this.whenFull = options.whenFull ?? "block";
    this.#onDiscard = options.onDiscard;
    this.writable = new WritableStream<Event[] | Event>({
      write: (chunk) => this.#write(Array.isArray(chunk) ? chunk : [chunk]),
      close: () => this.close(),
      abort: () => this.close(),
    });
    this.readable = new ReadableStream<Event[]>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: () => this.#cancel(),
      },
      { highWaterMark: 0 },
    );
  }

  /** Events held now. */
  get depth(): number {
    return this.#items.length - this.#head;
  }

  /** Whether the writable end is closed (no more events will arrive). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The queue's counters. */
  figures(): QueueFigures {
    return {
      in_total: this.#inTotal,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      discarded_total: this.#discardedTotal,
      depth: this.depth,
      capacity: this.capacity,
    };
  }

  /**
   * Adds events at once without waiting, whatever the policy: what does not
   * fit is dropped (`drop_oldest` drops the oldest instead). Returns how many
   * events were dropped. Used for side streams (logs, metrics) that must
   * never block the code that produces them.
   */
  offer(events: readonly unknown[]): number {
    if (this.#closed) {
      this.#droppedTotal += events.length;
      return events.length;
    }
    const before = this.#droppedTotal;
    const accepted = this.#accept(events);
    this.#admit(
      accepted,
      0,
      this.whenFull === "drop_oldest" ? "drop_oldest" : "drop_newest",
    );
    return this.#droppedTotal - before;
  }

  /** Closes the writable end: the reader gets what is queued, then the end. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /**
   * Closes the queue and throws away what it holds; returns how many events
   * were thrown away. Used when a stop times out.
   */
  clear(): number {
    const lost = this.depth;
    this.#items = [];
    this.#head = 0;
    this.close();
    return lost;
  }

  #accept(chunk: readonly unknown[]): Event[] {
    for (let i = 0; i < chunk.length; i++) {
      if (!isEvent(chunk[i])) return this.#withoutMalformed(chunk);
    }
    return chunk as Event[];
  }

  #withoutMalformed(chunk: readonly unknown[]): Event[] {
    const events: Event[] = [];
    for (const value of chunk) {
      const reason = whyNotEvent(value);
      if (reason === undefined) {
        events.push(value as Event);
      } else {
        this.#discardedTotal++;
        this.#onDiscard?.(value, reason, this.name);
      }
    }
    return events;
  }

  /**
   * Adds events from index `start` on as far as there is room. With a drop
   * policy the rest is dropped and counted; with `block` the index of the
   * first event that did not fit is returned (`events.length` when all did).
   */
  #admit(events: readonly Event[], start: number, policy: WhenFull): number {
    let i = start;
    const fit = Math.min(this.capacity - this.depth, events.length - i);
    for (const end = i + fit; i < end; i++) this.#items.push(events[i]!);
    this.#inTotal += fit;
    if (i < events.length && policy !== "block") {
      const rest = events.length - i;
      if (policy === "drop_oldest") {
        for (; i < events.length; i++) this.#items.push(events[i]!);
        this.#head += rest;
        this.#inTotal += rest;
        this.#compact();
      }
      this.#droppedTotal += rest;
      i = events.length;
    }
    if (fit > 0) this.#wakeReaderNow();
    return i;
  }

  async #write(chunk: readonly unknown[]): Promise<void> {
    const events = this.#accept(chunk);
    if (this.#closed) {
      this.#droppedTotal += events.length;
      return;
    }
    if (this.whenFull !== "block") {
      this.#admit(events, 0, this.whenFull);
      return;
    }
    let next = this.#admit(events, 0, "block");
    while (next < events.length) {
      await new Promise<void>((resolve) => this.#wakeWriter = resolve);
      if (this.#closed) {
        this.#droppedTotal += events.length - next;
        return;
      }
      next = this.#admit(events, next, "block");
    }
  }

  #pull(
    controller: ReadableStreamDefaultController<Event[]>,
  ): Promise<void> | void {
    const depth = this.depth;
    if (depth > 0) {
      let batch: Event[];
      if (this.#head === 0 && depth <= MAX_BATCH) {
        batch = this.#items;
        this.#items = [];
      } else {
        const end = this.#head + Math.min(depth, MAX_BATCH);
        batch = this.#items.slice(this.#head, end);
        this.#head = end;
        this.#compact();
      }
      this.#outTotal += batch.length;
      controller.enqueue(batch);
      this.#wakeWriterNow();
      return;
    }
    if (this.#closed) {
      controller.close();
      return;
    }
    return new Promise<void>((resolve) => this.#wakeReader = resolve).then(
      () => this.#pull(controller),
    );
  }

  #cancel(): void {
    this.#droppedTotal += this.depth;
    this.#items = [];
    this.#head = 0;
    this.close();
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #wakeReaderNow(): void {
    const wake = this.#wakeReader;
    if (wake !== null) {
      this.#wakeReader = null;
      wake();
    }
  }

  #wakeWriterNow(): void {
    const wake = this.#wakeWriter;
    if (wake !== null) {
      this.#wakeWriter = null;
      wake();
    }
  }

  #wake(): void {
    this.#wakeReaderNow();
    this.#wakeWriterNow();
  }
}

/**
 * The sending end of an actor's outbound queue. Events sent are gathered into
 * batches and written to the {@link Queue} it is connected to; while it is not
 * connected they are dropped and counted.
 *
 * `push` returns a promise only when the caller must wait (the batch is full
 * and the previous write is still waiting for room): awaiting it is how
 * back-pressure reaches a producer. What is pushed in one synchronous run is
 * written as one chunk at the end of that run.
 *
 * @example
 * ```ts
 * import { OutboundQueue, Queue } from "./queue.ts";
 * const target = new Queue("b.inbox");
 * const outbox = new OutboundQueue("a.outbox");
 * outbox.connect(target);
 * await outbox.push({ header: {}, data: 1 });
 * await outbox.close();
 * target.depth; // 1
 * ```
 */
export class OutboundQueue {
  /** The name used in logs and figures, e.g. `"a.outbox"`. */
  readonly name: string;
  #target: Queue | null = null;
  #writer: WritableStreamDefaultWriter<Event[] | Event> | null = null;
  #buffer: Event[] = [];
  #inflight: Promise<void> | null = null;
  #outTotal = 0;
  #droppedTotal = 0;
  #onDrop: ((count: number, reason: string) => void) | undefined;

  /**
   * @param onDrop called when events are dropped because the queue is not
   * connected or the connected queue failed.
   */
  constructor(
    name: string,
    onDrop?: (count: number, reason: string) => void,
  ) {
    this.name = name;
    this.#onDrop = onDrop;
  }

  /** The queue this one writes to, or `null` when not connected. */
  get target(): Queue | null {
    return this.#target;
  }

  /** Connects to `target`; a queue can be connected once. */
  connect(target: Queue): void {
    if (this.#target !== null) {
      throw new TypeError(
        `Cannot connect "${this.name}": already connected to "${this.#target.name}"`,
      );
    }
    this.#target = target;
    this.#writer = target.writable.getWriter();
  }

  /** Sends one event; returns a promise when the caller must wait. */
  push(event: Event): Promise<void> | undefined {
    if (this.#writer === null) {
      this.#droppedTotal++;
      this.#onDrop?.(1, "not connected");
      return undefined;
    }
    const held = this.#buffer.push(event);
    if (this.#inflight !== null) {
      return held >= MAX_BATCH ? this.#inflight : undefined;
    }
    if (held >= MAX_BATCH) return this.#write();
    if (held === 1) queueMicrotask(this.#flushSoon);
    return undefined;
  }

  /** Writes what is gathered; resolves once it is all in the target queue. */
  flush(): Promise<void> | undefined {
    if (this.#inflight !== null) return this.#inflight;
    if (this.#buffer.length > 0) return this.#write();
    return undefined;
  }

  /** Flushes, then closes the target queue's writable end. */
  async close(): Promise<void> {
    await this.flush();
    const writer = this.#writer;
    if (writer !== null) {
      this.#writer = null;
      await writer.close().catch(() => {});
    }
  }

  /** The queue's counters (`out_total`, `dropped_total`). */
  figures(): QueueFigures {
    return {
      in_total: this.#outTotal,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      discarded_total: 0,
      depth: this.#buffer.length,
      capacity: this.#target?.capacity ?? 0,
    };
  }

  #flushSoon = (): void => {
    if (this.#inflight === null && this.#buffer.length > 0) void this.#write();
  };

  #write(): Promise<void> {
    const batch = this.#buffer;
    this.#buffer = [];
    this.#outTotal += batch.length;
    const written = this.#writer!.write(batch).then(
      () => this.#afterWrite(),
      (error: unknown) => {
        this.#outTotal -= batch.length;
        this.#droppedTotal += batch.length;
        this.#onDrop?.(batch.length, String(error));
        return this.#afterWrite();
      },
    );
    this.#inflight = written;
    return written;
  }

  #afterWrite(): Promise<void> | undefined {
    if (this.#buffer.length > 0 && this.#writer !== null) return this.#write();
    this.#inflight = null;
    return undefined;
  }
}

/** The queues an actor declares. */
export interface QueueNames {
  /** Queues the actor consumes from (default `["inbox"]`). */
  inbound: readonly string[];
  /** Queues the actor sends to (default `["outbox", "error"]`). */
  outbound: readonly string[];
  /** Whether connecting creates inbound queues of any name (e.g. funnel). */
  anyInbound: boolean;
  /** Whether connecting creates outbound queues of any name (e.g. roundrobin). */
  anyOutbound: boolean;
}

/**
 * The container of an actor's named queues and their counters.
 *
 * @example
 * ```ts
 * import { QueuePool } from "./queue.ts";
 * const pool = new QueuePool("a", {
 *   inbound: ["inbox"],
 *   outbound: ["outbox", "error"],
 *   anyInbound: false,
 *   anyOutbound: false,
 * });
 * pool.inbound.get("inbox")?.capacity; // 1000
 * ```
 */
export class QueuePool {
  /** The owning actor's name. */
  readonly owner: string;
  /** The queues declared by the actor. */
  readonly names: QueueNames;
  /** Inbound queues by name. */
  readonly inbound: Map<string, Queue> = new Map();
  /** Outbound queues by name. */
  readonly outbound: Map<string, OutboundQueue> = new Map();
  #defaults: QueueOptions;
  #onDrop: ((queue: string, count: number, reason: string) => void) | undefined;

  /** Makes the declared queues with `defaults` for inbound ones. */
  constructor(
    owner: string,
    names: QueueNames,
    defaults: QueueOptions = {},
    onDrop?: (queue: string, count: number, reason: string) => void,
  ) {
    this.owner = owner;
    this.names = names;
    this.#defaults = defaults;
    this.#onDrop = onDrop;
    for (const name of names.inbound) this.addInbound(name);
    for (const name of names.outbound) this.addOutbound(name);
  }

  /** Whether an inbound queue of that name exists or may be made. */
  acceptsInbound(name: string): boolean {
    return this.inbound.has(name) || this.names.anyInbound;
  }

  /** Whether an outbound queue of that name exists or may be made. */
  acceptsOutbound(name: string): boolean {
    return this.outbound.has(name) || this.names.anyOutbound;
  }

  /** Makes (or remakes, before any use) inbound queue `name`. */
  addInbound(name: string, options: QueueOptions = {}): Queue {
    const queue = new Queue(`${this.owner}.${name}`, {
      ...this.#defaults,
      ...options,
    });
    this.inbound.set(name, queue);
    return queue;
  }

  /** Returns outbound queue `name`, making it first if needed. */
  addOutbound(name: string): OutboundQueue {
    let queue = this.outbound.get(name);
    if (queue === undefined) {
      const onDrop = this.#onDrop;
      queue = new OutboundQueue(
        `${this.owner}.${name}`,
        onDrop && ((count, reason) => onDrop(name, count, reason)),
      );
      this.outbound.set(name, queue);
    }
    return queue;
  }

  /** Counters of every queue, keyed by queue name. */
  figures(): Record<string, QueueFigures> {
    const figures: Record<string, QueueFigures> = {};
    for (const [name, queue] of this.inbound) figures[name] = queue.figures();
    for (const [name, queue] of this.outbound) {
      if (!this.inbound.has(name)) figures[name] = queue.figures();
    }
    return figures;
  }
}
