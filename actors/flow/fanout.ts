/**
 * `fanout`: copies each event to every connected outbound queue.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import { copyEvent, type Event } from "../../core/event.ts";
import type { OutboundQueue } from "../../core/queue.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { connectedBranches } from "./branches.ts";

/** Options of the `fanout` actor: none. */
export const FanoutOptions = z.strictObject({});

/** Parsed options of the `fanout` actor. */
export type FanoutOptions = z.infer<typeof FanoutOptions>;

/**
 * Sends each event from `inbox` to every connected outbound queue (any name
 * but `error`), each branch its own deep copy, so that branches cannot see
 * each other's changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { fanout } from "./fanout.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 5 });
 * router.register(fanout, "copy");
 * router.register(nullOutput, "a");
 * router.register(nullOutput, "b");
 * router.connect("input.outbox", "copy.inbox");
 * router.connect("copy.a", "a.inbox");
 * router.connect("copy.b", "b.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 10);
 * ```
 */
export const fanout: ActorSpec<FanoutOptions> = {
  type: "fanout",
  kind: "flow",
  summary: "Copies each event to every connected outbound queue.",
  options: FanoutOptions,
  example: {},
  create: (name, _options, settings) => new Fanout(name, settings),
};

/**
 * The `fanout` flow actor.
 *
 * Copies are made only where two branches could both change one event: with
 * one branch the event goes on as it is, and with several the last branch
 * gets the original while every other branch gets a copy. All copies are made
 * before anything is sent, so an event that cannot be copied (data holding a
 * function, for instance) fails as a whole to the `error` queue instead of
 * reaching some branches only.
 */
export class Fanout extends Actor {
  readonly kind = "flow";
  #branches: OutboundQueue[] = [];

  /** Makes a fanout. */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"], anyOutbound: true });
  }

  /** The connected outbound queues are known once the router has wired them. */
  override setup(): void {
    this.#branches = connectedBranches(this.pool, this.log, this.name);
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const branches = this.#branches;
    const last = branches.length - 1;
    if (last === 0) return context.send(event, branches[0]!);
    const copies: Event[] = [];
    for (let i = 0; i < last; i++) copies.push(copyEvent(event));
    copies.push(event);
    let waits: Promise<void>[] | undefined;
    for (let i = 0; i <= last; i++) {
      const waiting = context.send(copies[i]!, branches[i]!);
      if (waiting !== undefined) (waits ??= []).push(waiting);
    }
    if (waits === undefined) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(nothing);
  }
}

function nothing(): void {}
