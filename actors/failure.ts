/**
 * Failing one event outside the core's error path: for actors that finish an
 * event after `consume` returned (a request still in flight) or that handle a
 * batch of which only some events failed (`consumeBatch`).
 *
 * The core's error path (`Actor.#fail`) is private and runs only when
 * `consume` or `consumeBatch` throws, failing the whole batch in the second
 * case. {@link FailingActor} does for one event what it does: sets
 * `header.error`, sends the event to the `error` queue or logs the failure at
 * error level when `error` is not connected, and counts it in `failed_total`
 * (not in `consumed_total`).
 *
 * @module
 */

import { Actor, type ActorFigures, type EventError } from "../core/actor.ts";
import type { Event } from "../core/event.ts";

/**
 * The `header.error` value for `error`, in the core's shape, with `details`
 * (such as an HTTP status) added.
 *
 * @example
 * ```ts
 * import { eventError } from "./failure.ts";
 * const failure = eventError("post", "inbox", new RangeError("too big"), { status: 413 });
 * failure.name; // "RangeError"
 * failure.status; // 413
 * ```
 */
export function eventError(
  actor: string,
  queue: string,
  error: unknown,
  details: Record<string, unknown> = {},
): EventError & Record<string, unknown> {
  return {
    actor,
    queue,
    name: error instanceof Error ? error.name : "Error",
    message: error instanceof Error ? error.message : String(error),
    time: new Date().toISOString(),
    ...details,
  };
}

/**
 * An actor that can fail single events itself, outside `consume`, with
 * {@link FailingActor.failEvent}; its figures count them as failed.
 *
 * @example
 * ```ts
 * import type { Event } from "../core/event.ts";
 * import { FailingActor } from "./failure.ts";
 *
 * class Picky extends FailingActor {
 *   readonly kind = "output";
 *   override async consumeBatch(events: Event[], queue: string): Promise<void> {
 *     for (const event of events) {
 *       if (event.data === null) await this.failEvent(event, queue, new TypeError("No data"));
 *     }
 *   }
 * }
 * new Picky("picky").figures(); // { consumed_total: 0, failed_total: 0 }
 * ```
 */
export abstract class FailingActor extends Actor {
  #failedHere = 0;

  /**
   * The core's counters, with the events failed by {@link failEvent} moved
   * from `consumed_total` (where the core counted them, since `consume` or
   * `consumeBatch` did not throw for them) to `failed_total`.
   */
  override figures(): ActorFigures {
    const figures = super.figures();
    return {
      consumed_total: figures.consumed_total - this.#failedHere,
      failed_total: figures.failed_total + this.#failedHere,
    };
  }

  /**
   * Fails `event`, which `consume` (or `consumeBatch`) took from inbound queue
   * `queue` without throwing: sets `header.error` (see {@link eventError}) and
   * sends it to the `error` queue when that queue is connected; otherwise logs
   * the failure at error level. Resolves `true` when the event went to the
   * `error` queue, `false` when it was only logged.
   */
  protected async failEvent(
    event: Event,
    queue: string,
    error: unknown,
    details: Record<string, unknown> = {},
  ): Promise<boolean> {
    this.#failedHere++;
    const failure = eventError(this.name, queue, error, details);
    event.header.error = failure;
    const errors = this.pool.outbound.get("error");
    if (errors !== undefined && errors.target !== null && !errors.closed) {
      const waiting = this.send(event, "error");
      if (waiting !== undefined) await waiting;
      return true;
    }
    this.log.error(
      'Failed to consume an event from "{queue}": {name}: {message}',
      {
        queue: `${this.name}.${queue}`,
        name: failure.name,
        message: failure.message,
      },
    );
    return false;
  }
}
