/**
 * A list in join order, linked through its members, for sets that fill and
 * empty at every turn of the event loop (see {@link Lineup}).
 *
 * @module
 */

/**
 * What a {@link Lineup} links its members with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type InLine, Lineup } from "./lineup.ts";
 *
 * interface Job extends InLine<Job> { id: number }
 * const job: Job = { id: 1, lineup: undefined, ahead: undefined, behind: undefined };
 * new Lineup<Job>().add(job);
 * assert.notEqual(job.lineup, undefined);
 * ```
 */
export interface InLine<T extends InLine<T>> {
  /** The lineup it is in, if any. */
  lineup: Lineup<T> | undefined;
  /** The member that joined before it. */
  ahead: T | undefined;
  /** The member that joined after it. */
  behind: T | undefined;
}

/**
 * Members in the order they joined, as a Set keeps them, linked through
 * the members themselves. The HTTP listener's per-request sets (bodies
 * being read, idle connections) and the requests waiting for their replies
 * fill and empty at every turn of the event loop under load, and a Set or
 * Map makes new tables as it does: V8 links a replaced table to the next,
 * and the replaced tables that had reached the old generation kept the
 * later ones from the young collections. A member is in one lineup at
 * most, and is linked to nothing once taken out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type InLine, Lineup } from "./lineup.ts";
 *
 * interface Job extends InLine<Job> { id: number }
 * const job = (id: number): Job =>
 *   ({ id, lineup: undefined, ahead: undefined, behind: undefined });
 * const [a, b, c] = [job(1), job(2), job(3)];
 * const lineup = new Lineup<Job>();
 * lineup.add(a);
 * lineup.add(b);
 * lineup.add(c);
 * assert.equal(lineup.delete(b), true);
 * assert.equal(lineup.delete(b), false);
 * assert.equal(lineup.first, a);
 * assert.equal(a.behind, c);
 * assert.equal(b.ahead, undefined);
 * ```
 */
export class Lineup<T extends InLine<T>> {
  /** The member that joined first, if any. */
  first: T | undefined;
  #last: T | undefined;

  /**
   * Adds `member` last, unless it is in this lineup already (it leaves
   * the lineup it is in).
   */
  add(member: T): void {
    if (member.lineup === this) return;
    member.lineup?.delete(member);
    member.lineup = this;
    member.ahead = this.#last;
    member.behind = undefined;
    if (this.#last === undefined) this.first = member;
    else this.#last.behind = member;
    this.#last = member;
  }

  /** Takes `member` out; whether it was in this lineup. */
  delete(member: T): boolean {
    if (member.lineup !== this) return false;
    const { ahead, behind } = member;
    if (ahead === undefined) this.first = behind;
    else ahead.behind = behind;
    if (behind === undefined) this.#last = ahead;
    else behind.ahead = ahead;
    member.lineup = member.ahead = member.behind = undefined;
    return true;
  }
}
