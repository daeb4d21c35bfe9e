/**
 * One deadline shared by everything a stop waits for, which a later, shorter
 * stop can bring forward.
 *
 * @module
 */

/**
 * A point in time that promises can race: {@link Deadline.race} resolves
 * `true` when the promise settles first, `false` once the deadline passes.
 * One timer serves every race; {@link Deadline.cancel} clears it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deadline } from "./deadline.ts";
 * const deadline = new Deadline(1000);
 * assert.equal(await deadline.race(Promise.resolve()), true);
 * deadline.shorten(0);
 * assert.equal(await deadline.race(new Promise(() => {})), false);
 * deadline.cancel();
 * ```
 */
export class Deadline {
  #at: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #passed = Promise.withResolvers<false>();
  #expired = false;

  /** A deadline `ms` from now. */
  constructor(ms: number) {
    this.#at = Date.now() + ms;
    this.#arm();
  }

  /** When it passes, in ms since the epoch. */
  get at(): number {
    return this.#at;
  }

  /** Whether it has passed. */
  get expired(): boolean {
    return this.#expired;
  }

  /** Brings the deadline forward to `ms` from now, if that is earlier. */
  shorten(ms: number): void {
    const at = Date.now() + ms;
    if (at >= this.#at || this.#expired) return;
    this.#at = at;
    this.#arm();
  }

  /** Whether `promise` settles before the deadline. */
  race(promise: Promise<unknown>): Promise<boolean> {
    if (this.#expired) return Promise.resolve(false);
    return Promise.race([
      promise.then(() => true, () => true),
      this.#passed.promise,
    ]);
  }

  /** Clears the timer; the deadline never passes afterwards. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#expired = true;
      this.#passed.resolve(false);
    }, Math.max(0, this.#at - Date.now()));
  }
}
