/**
 * A stateless test actor for the thread tests, loaded by each thread from
 * this module (`module: import.meta.url`). What it does with an event
 * depends on its data `{ n, do? }`:
 *
 * - no `do`: sends `{ n, doubled: n * 2, scope }` on, `scope` being
 *   `"DedicatedWorkerGlobalScope"` in a thread;
 * - `"fail"`: fails it (`context.fail`, with details `{ n }`);
 * - `"throw"`: throws a `RangeError`;
 * - `"crash"`: throws a `CrashError`;
 * - `"die"`: never finishes it, and kills its thread with an uncaught error;
 * - `"flaky"`: appends a line to the file `header.attempts`, and fails while
 *   the file has at most `times` lines;
 * - `"split"`: sends two events, one to `outbox` and one to `side`;
 * - `"drop"`: sends nothing;
 * - `"slow"`: sends it on as it is after 20 ms.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  CrashError,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";

/** Options of the test actor. */
const Options = z.strictObject({
  factor: z.number().default(2).describe("What `n` is multiplied by."),
});

/** What an event's data says. */
interface Order {
  n: number;
  do?:
    | "fail"
    | "throw"
    | "crash"
    | "die"
    | "flaky"
    | "split"
    | "drop"
    | "slow";
  times?: number;
}

/** The test actor's spec. */
export const spec: ActorSpec<z.infer<typeof Options>> = {
  type: "thread_test",
  kind: "transform",
  summary: "Doubles n, or misbehaves as each event says.",
  options: Options,
  stateless: true,
  module: import.meta.url,
  create: (name, options, settings) =>
    new ThreadTest(name, options.factor, settings),
};

/** The same actor, without a module: a thread cannot load it. */
export const unlocated: ActorSpec<z.infer<typeof Options>> = {
  ...spec,
  type: "thread_test_unlocated",
};
delete (unlocated as { module?: string }).module;

/** The test actor. */
class ThreadTest extends Actor {
  readonly kind = "transform";
  readonly #factor: number;

  constructor(name: string, factor: number, settings: ActorSettings) {
    super(name, settings, { outbound: ["outbox", "side", "error"] });
    this.#factor = factor;
  }

  override consume(event: Event, context: Context): Promise<void> | undefined {
    const order = event.data as Order;
    switch (order.do) {
      case "fail":
        context.fail(event, new TypeError(`No ${order.n}`), { n: order.n });
        return undefined;
      case "throw":
        throw new RangeError(`Out of range: ${order.n}`);
      case "crash":
        throw new CrashError(`Broken at ${order.n}`);
      case "die":
        // An error nothing catches, and an event never finished.
        queueMicrotask(() => {
          throw new Error(`Thread died at ${order.n}`);
        });
        return new Promise(() => {});
      case "flaky": {
        const file = String(event.header.attempts);
        Deno.writeTextFileSync(file, "x\n", { append: true });
        const lines = Deno.readTextFileSync(file).split("\n").length - 1;
        if (lines <= (order.times ?? 0)) {
          throw new Error(`Attempt ${lines} failed`);
        }
        break;
      }
      case "split":
        context.send(
          { header: { ...event.header }, data: { side: order.n } },
          "side",
        );
        break;
      case "drop":
        return undefined;
      case "slow":
        return new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
          context.send(event)
        );
    }
    return context.send({
      header: event.header,
      data: {
        n: order.n,
        doubled: order.n * this.#factor,
        scope: globalThis.constructor.name,
      },
    });
  }
}
