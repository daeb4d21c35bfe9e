/**
 * The live status line of `compysition run` on a terminal.
 *
 * @module
 */

import { count, perSecond } from "../admin/client.ts";
import type { Queue } from "../core/queue.ts";
import type { Router } from "../core/router.ts";
import { err } from "./output.ts";

/**
 * A status line kept on the bottom row of the terminal: the rows above it
 * are made a scroll region, so log lines and whatever actors print scroll
 * above it and never mix with it. It is redrawn in place twice a second.
 *
 * @example
 * ```ts ignore
 * import { Router } from "../core/router.ts";
 * import { StatusLine } from "./status_line.ts";
 * const status = new StatusLine(new Router());
 * status.start();
 * status.stop();
 * ```
 */
export class StatusLine {
  #router: Router;
  #rows = 0;
  #columns = 80;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = { time: 0, made: 0, handled: 0 };
  #text = "starting";
  #onResize = () => this.#layout(true);
  #onUnload = () => this.stop();

  /** A status line of `router`; nothing is drawn before {@link start}. */
  constructor(router: Router) {
    this.#router = router;
  }

  /** Reserves the bottom row and redraws it twice a second. */
  start(): void {
    this.#last = { time: performance.now(), ...this.#totals() };
    this.#layout(false);
    this.#timer = setInterval(() => this.#draw(), 500);
    globalThis.addEventListener("unload", this.#onUnload);
    try {
      Deno.addSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // No SIGWINCH on this platform: the layout stays as it started.
    }
  }

  /** Stops redrawing and gives the bottom row back. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      Deno.removeSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // Never added.
    }
    this.#release();
  }

  /** Reserves the bottom row: scroll region above it. */
  #layout(again: boolean): void {
    let rows = 24;
    try {
      ({ rows, columns: this.#columns } = Deno.consoleSize());
    } catch {
      // Not a terminal (status forced on): assume 24 rows.
    }
    if (again) this.#release();
    this.#rows = Math.max(rows, 3);
    err(`\n\x1b7\x1b[1;${this.#rows - 1}r\x1b8\x1b[1A`);
    this.#paint();
  }

  /** Gives the bottom row back: no scroll region, the status line erased. */
  #release(): void {
    err(`\x1b7\x1b[r\x1b[${this.#rows};1H\x1b[2K\x1b8`);
  }

  #draw(): void {
    const now = performance.now();
    const totals = this.#totals();
    const seconds = Math.max((now - this.#last.time) / 1000, 0.001);
    const inRate = (totals.made - this.#last.made) / seconds;
    const outRate = (totals.handled - this.#last.handled) / seconds;
    this.#last = { time: now, ...totals };
    const fullest = this.#fullest();
    this.#text = `in ${perSecond(inRate)}/s | out ${perSecond(outRate)}/s | ${
      count(totals.handled)
    } handled | fullest queue ${fullest}`;
    this.#paint();
  }

  #paint(): void {
    const text = this.#text.slice(0, Math.max(this.#columns - 1, 10));
    err(`\x1b7\x1b[${this.#rows};1H\x1b[2K\x1b[7m${text}\x1b[0m\x1b8`);
  }

  /** Events made by inputs and handled by outputs so far. */
  #totals(): { made: number; handled: number } {
    let made = 0;
    let handled = 0;
    for (const figures of Object.values(this.#router.metrics().actors)) {
      if (figures.kind === "input") {
        for (const [queue, queueFigures] of Object.entries(figures.queues)) {
          if (queue !== "error") made += queueFigures.out_total;
        }
      } else if (figures.kind === "output") {
        handled += figures.consumed_total;
      }
    }
    return { made, handled };
  }

  /** The inbound queue with the largest share of its capacity in use. */
  #fullest(): string {
    let best: Queue | undefined;
    let bestFill = 0;
    for (const actor of this.#router.actors()) {
      for (const queue of actor.pool.inbound.values()) {
        const fill = queue.depth / queue.capacity;
        if (best === undefined || fill > bestFill) {
          best = queue;
          bestFill = fill;
        }
      }
    }
    if (best === undefined) return "none";
    const percent = Math.round(bestFill * 100);
    return `${best.name} ${percent}% (${best.depth}/${best.capacity})`;
  }
}
