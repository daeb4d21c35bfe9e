/**
 * Helpers for the input tests: bounded waits that fail clearly instead of
 * hanging, and small actors that hold or answer events.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { Actor, type ActorSettings } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";

/** Longest wait for a condition before failing the test. */
export const GIVE_UP_MS = 10_000;

/**
 * `promise`, or a rejection naming `what` after {@link GIVE_UP_MS}: a broken
 * actor fails the test instead of hanging it. Leaves no timer behind.
 */
export async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Gave up waiting for ${what}`)),
      GIVE_UP_MS,
    );
  });
  try {
    return await Promise.race([promise, gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An output that holds every event until `release()` is called, recording
 * what `probe()` says each time it takes one.
 */
export class Holder extends Actor {
  readonly kind = "output";
  /** Events consumed, in order. */
  readonly events: Event[] = [];
  /** What `probe` returned at each consume. */
  readonly probes: number[] = [];
  #gate = Promise.withResolvers<void>();
  #first = Promise.withResolvers<void>();
  #probe: () => number;
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Makes a holder; `probe` is sampled at each event. */
  constructor(
    name: string,
    settings: ActorSettings = {},
    probe: () => number = () => 0,
  ) {
    super(name, settings, { outbound: ["error"] });
    this.#probe = probe;
  }

  /** Resolves once the first event is held. */
  get first(): Promise<void> {
    return this.#first.promise;
  }

  /** Resolves once `count` events have been let through. */
  waitFor(count: number): Promise<void> {
    if (this.events.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return promise;
  }

  /** Lets every held and later event through. */
  release(): void {
    this.#gate.resolve();
  }

  override async consume(event: Event): Promise<void> {
    this.probes.push(this.#probe());
    this.#first.resolve();
    await this.#gate.promise;
    this.events.push(event);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.events.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }
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
