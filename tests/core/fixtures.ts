/**
 * Test actors for the core tests: a pass-through transform (the admin tests'
 * too), an output whose `consume` waits for the test, one that never
 * finishes, and helpers to read captured log events.
 *
 * @module
 */

import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { LogEvent } from "../../core/log.ts";
import type { Collector } from "../helpers.ts";

/** A transform that sends every event on unchanged. */
export class Pass extends Actor {
  readonly kind = "transform";

  override consume(event: Event): Promise<void> | undefined {
    return this.send(event);
  }
}

/** One call of {@link Gate.consume} waiting for the test. */
export interface GateCall {
  /** The event being consumed. */
  event: Event;
  /** Lets that `consume` finish. */
  release: () => void;
}

/**
 * An output whose `consume` waits until the test releases it: a consumer as
 * slow as the test wants.
 */
export class Gate extends Actor {
  readonly kind = "output";
  #calls: GateCall[] = [];
  #wake: (() => void) | undefined;

  /** Makes a gate with `settings` (capacity, policy). */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"] });
  }

  override consume(event: Event): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#calls.push({ event, release: resolve });
    this.#wake?.();
    return promise;
  }

  /** Waits until the next event is being consumed. */
  async next(): Promise<GateCall> {
    while (this.#calls.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#calls.shift()!;
  }
}

/** An output whose `consume` never finishes. */
export class Hang extends Actor {
  readonly kind = "output";
  /** How many times `consume` was called. */
  calls = 0;
  #started = Promise.withResolvers<void>();

  /** Makes an output that hangs on its first event. */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"] });
  }

  /** Resolves once `consume` has been called. */
  get started(): Promise<void> {
    return this.#started.promise;
  }

  override consume(): Promise<void> {
    this.calls++;
    this.#started.resolve();
    return new Promise<void>(() => {});
  }
}

/**
 * A transform or output that records its lifecycle calls, in order, in a
 * shared `log`: `"setup a"`, `"consume a 1"`, `"drained a"`, `"teardown a"`.
 */
export class Recorder extends Actor {
  readonly kind: "transform" | "output";
  protected readonly record: string[];

  /** Makes a recorder writing to `log`. */
  constructor(name: string, log: string[], kind: "transform" | "output") {
    super(name, {}, kind === "output" ? { outbound: ["error"] } : {});
    this.kind = kind;
    this.record = log;
  }

  override setup(): void {
    this.record.push(`setup ${this.name}`);
  }

  override teardown(): void {
    this.record.push(`teardown ${this.name}`);
  }

  override drained(): void {
    this.record.push(`drained ${this.name}`);
  }

  override consume(event: Event): Promise<void> | undefined {
    this.record.push(`consume ${this.name} ${event.data}`);
    return this.kind === "output" ? undefined : this.send(event);
  }
}

/** An input that sends 1..count and records its lifecycle like {@link Recorder}. */
export class RecorderInput extends Actor {
  readonly kind = "input";
  readonly #record: string[];
  readonly #count: number;

  /** Makes an input sending `count` events, recording to `log`. */
  constructor(name: string, log: string[], count: number) {
    super(name, {}, { inbound: [] });
    this.#record = log;
    this.#count = count;
  }

  override setup(): void {
    this.#record.push(`setup ${this.name}`);
  }

  override teardown(): void {
    this.#record.push(`teardown ${this.name}`);
  }

  override async produce(signal: AbortSignal): Promise<void> {
    for (let seq = 1; seq <= this.#count && !signal.aborted; seq++) {
      this.#record.push(`produce ${this.name} ${seq}`);
      const waiting = this.send({ header: {}, data: seq });
      if (waiting !== undefined) await waiting;
    }
  }
}

/** A captured log event in short: level, actor and message. */
export interface LogLine {
  level: string;
  actor: string;
  message: string;
}

/** The log events a log collector received, in short. */
export function logLines(logs: Collector): LogLine[] {
  return (logs.events as LogEvent[]).map((event) => ({
    level: event.header.log.level,
    actor: event.header.log.actor,
    message: event.data,
  }));
}

/**
 * How many records the summaries among `events` say were held back by the
 * rate limit (`N similar messages suppressed`).
 */
export function suppressedCount(events: readonly LogEvent[]): number {
  let count = 0;
  for (const event of events) {
    const suppressed = event.header.log.properties?.suppressed;
    if (typeof suppressed === "number") count += suppressed;
  }
  return count;
}

/**
 * A value whose every property read throws (`header`, `data`, `in`, its
 * keys): what a hostile producer may write in place of an event.
 */
export function unreadable(): never {
  const boom = () => {
    throw new Error("this value cannot be read");
  };
  return new Proxy({}, {
    get: boom,
    has: boom,
    ownKeys: boom,
    getOwnPropertyDescriptor: boom,
  }) as never;
}
