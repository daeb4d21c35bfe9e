/**
 * A log line for what clients can make happen many times a second (a
 * refused connection, a dropped datagram, an unreadable message): logged at
 * most once a second, with how many times it happened.
 *
 * @module
 */

/**
 * Counts occurrences of one thing and logs them at most once per
 * `intervalMs` (default 1 s): the first occurrence at once, the ones that
 * follow within the interval as one line when it ends, with their count and
 * the properties of the last one. `flush()` logs what is counted now and
 * stops the timer: call it when the actor stops. The timer does not keep
 * the process alive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RepeatedLog } from "./repeated_log.ts";
 * const lines: string[] = [];
 * const refused = new RepeatedLog<{ remote: string }>((count, last) =>
 *   lines.push(`Refused ${count} connection(s), the last from ${last.remote}`)
 * );
 * refused.note({ remote: "a" });
 * refused.note({ remote: "b" });
 * refused.note({ remote: "c" });
 * refused.flush();
 * assert.deepEqual(lines, ["Refused 1 connection(s), the last from a", "Refused 2 connection(s), the last from c"]);
 * assert.equal(refused.total, 3);
 * ```
 */
export class RepeatedLog<P> {
  readonly #write: (count: number, last: P) => void;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #count = 0;
  #last: P | undefined;
  #total = 0;

  /**
   * @param write logs one line for `count` occurrences, the last with
   * properties `last`
   * @param intervalMs the shortest time between two lines
   */
  constructor(write: (count: number, last: P) => void, intervalMs = 1000) {
    this.#write = write;
    this.#intervalMs = intervalMs;
  }

  /** Occurrences so far. */
  get total(): number {
    return this.#total;
  }

  /** `count` (default 1) more occurrences, the last with `properties`. */
  note(properties: P, count = 1): void {
    this.#total += count;
    if (this.#timer !== undefined) {
      this.#count += count;
      this.#last = properties;
      return;
    }
    this.#write(count, properties);
    this.#start();
  }

  /** Logs what is counted and not logged yet, and stops the timer. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#emit();
  }

  #start(): void {
    this.#timer = setTimeout(this.#tick, this.#intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  #tick = (): void => {
    this.#timer = undefined;
    if (this.#emit()) this.#start();
  };

  /** Logs the occurrences counted; `false` when there were none. */
  #emit(): boolean {
    const count = this.#count;
    if (count === 0) return false;
    const last = this.#last!;
    this.#count = 0;
    this.#last = undefined;
    this.#write(count, last);
    return true;
  }
}
