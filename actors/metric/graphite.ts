/**
 * `graphite`: sends the figures of metric events to Graphite (Carbon's
 * plaintext protocol over TCP), reconnecting with backoff.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  sleep,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { MetricEvent } from "../../core/metrics.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { isMetricEvent } from "./prometheus.ts";

/** Options of the `graphite` actor. */
export const GraphiteOptions = z.strictObject({
  hostname: z.string().min(1).default("127.0.0.1").describe(
    "The Carbon server to connect to: a name or an IP address.",
  ),
  port: z.number().int().min(1).max(65_535).default(2003).describe(
    "The port of Carbon's plaintext protocol.",
  ),
  prefix: z.string().regex(/^[A-Za-z0-9_.-]*$/, {
    message: "Use letters, digits, dots, underscores and dashes only",
  }).default("compysition").describe(
    'The first part of every metric path, e.g. "prod.pipeline"; "" for none.',
  ),
  reconnect_min_ms: z.number().min(0).default(100).describe(
    "Milliseconds before the first new attempt to connect; doubled after each failed attempt.",
  ),
  reconnect_max_ms: z.number().min(0).default(30_000).describe(
    "The longest wait between two attempts to connect, in milliseconds.",
  ),
  connect_timeout: z.number().positive().default(10).describe(
    "Seconds one attempt to connect may take.",
  ),
  max_buffer: z.number().int().min(1).default(10_000).describe(
    "Most lines kept while the server cannot be reached; the oldest are dropped (and counted) past it.",
  ),
}).superRefine((options, ctx) => {
  if (options.reconnect_max_ms < options.reconnect_min_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["reconnect_max_ms"],
      message:
        `Must be at least "reconnect_min_ms" (${options.reconnect_min_ms})`,
    });
  }
});

/** Parsed options of the `graphite` actor. */
export type GraphiteOptions = z.infer<typeof GraphiteOptions>;

/**
 * Writes one line per figure of each metric event to a Carbon server,
 * `PREFIX.ACTOR.QUEUE.FIGURE VALUE UNIX_TIME` for a queue's figures,
 * `PREFIX.ACTOR.FIGURE ...` for an actor's own and
 * `PREFIX.ACTOR.consume_seconds.FIGURE ...` for its consume-time histogram
 * (`sum`, `count`, `le_<bound>`). Characters other than letters, digits,
 * `_` and `-` in names become `_`, so that a name stays one part of the
 * path.
 *
 * The connection is opened when the pipeline starts. While it is down, lines
 * wait in a buffer of `max_buffer` lines (the oldest dropped past it, counted
 * in `dropped_lines_total`) and the actor connects again after
 * `reconnect_min_ms`, doubling the wait up to `reconnect_max_ms`. A batch of
 * lines whose write failed is sent again whole on the next connection.
 * Metrics never hold up the pipeline: the figures count as consumed once
 * their lines are buffered. At stop, what is buffered is written when
 * connected. An event that is not a metric event goes to `error`.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { createActor } from "../../core/registry.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { graphite } from "./graphite.ts";
 *
 * const carbon = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const received = (async () => {
 *   const conn = await carbon.accept();
 *   return await new Response(conn.readable).text();
 * })();
 * const router = new Router();
 * router.registerMetricActor(
 *   createActor(graphite, "graphite", { port: carbon.addr.port, prefix: "demo" }),
 * );
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * (await received).includes("demo.sink.consumed_total 3 "); // true
 * carbon.close();
 * ```
 */
export const graphite: ActorSpec<GraphiteOptions> = {
  type: "graphite",
  kind: "metric",
  summary:
    "Sends the figures of metric events to Graphite over TCP (plaintext protocol), reconnecting with backoff.",
  options: GraphiteOptions,
  example: { hostname: "127.0.0.1", port: 2003, prefix: "compysition" },
  create: (name, options, settings) => new Graphite(name, options, settings),
};

/** The figures of a `graphite` actor. */
export interface GraphiteFigures extends ActorFigures {
  /** Lines written to the server. */
  sent_lines_total: number;
  /** Lines dropped because the buffer was full. */
  dropped_lines_total: number;
  /** Lines waiting to be written. */
  buffered_lines: number;
}

const encoder = new TextEncoder();

/** The `graphite` metric actor. */
export class Graphite extends Actor {
  readonly kind = "metric";
  #hostname: string;
  #port: number;
  #address: string;
  #prefix: string;
  #minMs: number;
  #maxMs: number;
  #connectTimeoutMs: number;
  #maxBuffer: number;
  #lines: string[] = [];
  #conn: Deno.TcpConn | undefined;
  #lastError = "not connected yet";
  #connecting: Promise<void> | undefined;
  #writing: Promise<void> | undefined;
  #watchers = new Set<Promise<void>>();
  #stop = new AbortController();
  #sent = 0;
  #dropped = 0;
  #connections = 0;

  /** Makes a Graphite sender; see {@link GraphiteOptions}. */
  constructor(
    name: string,
    options: Partial<GraphiteOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = GraphiteOptions.parse(options);
    this.#hostname = parsed.hostname;
    this.#port = parsed.port;
    this.#address = `${parsed.hostname}:${parsed.port}`;
    this.#prefix = parsed.prefix.split(".").filter((part) => part !== "")
      .map((part) => `${part}.`).join("");
    this.#minMs = parsed.reconnect_min_ms;
    this.#maxMs = parsed.reconnect_max_ms;
    this.#connectTimeoutMs = parsed.connect_timeout * 1000;
    this.#maxBuffer = parsed.max_buffer;
  }

  /** Whether the connection is open now. */
  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Connections opened so far (the first one and every reconnection). */
  get connections(): number {
    return this.#connections;
  }

  override figures(): GraphiteFigures {
    return {
      ...super.figures(),
      sent_lines_total: this.#sent,
      dropped_lines_total: this.#dropped,
      buffered_lines: this.#lines.length,
    };
  }

  override health(): { ready: boolean; reason?: string } {
    return this.#conn !== undefined ? { ready: true } : {
      ready: false,
      reason: `Not connected to ${this.#address}: ${this.#lastError}`,
    };
  }

  override async setup(): Promise<void> {
    // One attempt before the pipeline starts; the next ones in the background.
    try {
      this.#opened(await this.#dial());
    } catch (error) {
      this.#lastError = message(error);
      this.log.warn(
        "Cannot connect to {address}: {error}; trying again in the background",
        { address: this.#address, error: this.#lastError },
      );
      this.#reconnect(1);
    }
  }

  override consume(event: Event): void {
    if (!isMetricEvent(event)) {
      throw new TypeError(
        'Not a metric event: it needs "header.metric.actor" and data of numbers',
      );
    }
    this.#add(this.lines(event));
    this.#pump();
  }

  override async drained(): Promise<void> {
    // Write what is left when connected; never wait for a connection.
    while (this.#conn !== undefined && this.#lines.length > 0) {
      await (this.#writing ?? this.#pump());
    }
    await this.#writing;
    if (this.#lines.length > 0) {
      this.log.warn(
        "Stopped with {count} line(s) not sent to {address}: {error}",
        {
          count: this.#lines.length,
          address: this.#address,
          error: this.#lastError,
        },
      );
    }
  }

  override async teardown(): Promise<void> {
    this.#stop.abort();
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) closeQuietly(conn);
    await this.#connecting;
    await this.#writing;
    await Promise.all(this.#watchers);
  }

  /**
   * The plaintext lines of one metric event, each ending with a newline.
   *
   * @example
   * ```ts
   * import { Graphite } from "./graphite.ts";
   * new Graphite("g", { prefix: "p" }).lines({
   *   header: { metric: { time: "2026-01-01T00:00:00.000Z", actor: "a", queue: "inbox" } },
   *   data: { depth: 2 },
   * }); // ["p.a.inbox.depth 2 1767225600\n"]
   * ```
   */
  lines(event: MetricEvent): string[] {
    const { actor, queue, histogram, time } = event.header.metric;
    const parsed = Date.parse(time);
    const seconds = Math.floor(
      (Number.isNaN(parsed) ? Date.now() : parsed) / 1000,
    );
    const path = `${this.#prefix}${part(actor)}.${
      queue !== undefined
        ? `${part(queue)}.`
        : histogram !== undefined
        ? `${part(histogram)}.`
        : ""
    }`;
    const lines: string[] = [];
    for (const [figure, value] of Object.entries(event.data)) {
      if (!Number.isFinite(value)) continue;
      lines.push(`${path}${part(figure)} ${value} ${seconds}\n`);
    }
    return lines;
  }

  #add(lines: string[]): void {
    for (const line of lines) this.#lines.push(line);
    const over = this.#lines.length - this.#maxBuffer;
    if (over > 0) {
      if (this.#dropped === 0) {
        this.log.warn(
          "Dropped {count} line(s): the buffer is full while {address} cannot be reached; later drops are only counted",
          { count: over, address: this.#address },
        );
      }
      this.#lines.splice(0, over);
      this.#dropped += over;
    }
  }

  /** Starts writing the buffer when connected and not writing already. */
  #pump(): Promise<void> | undefined {
    if (this.#writing !== undefined || this.#conn === undefined) {
      return this.#writing;
    }
    if (this.#lines.length === 0) return undefined;
    const writing = this.#writeAll(this.#conn).finally(() => {
      this.#writing = undefined;
    });
    this.#writing = writing;
    return writing;
  }

  async #writeAll(conn: Deno.TcpConn): Promise<void> {
    while (this.#lines.length > 0 && this.#conn === conn) {
      const batch = this.#lines;
      this.#lines = [];
      const bytes = encoder.encode(batch.join(""));
      try {
        let at = 0;
        while (at < bytes.length) at += await conn.write(bytes.subarray(at));
        this.#sent += batch.length;
      } catch (error) {
        // Sent again whole on the next connection, before newer lines.
        this.#lines = batch.concat(this.#lines);
        this.#add([]);
        this.#lost(conn, message(error));
      }
    }
  }

  /** Forgets `conn` when it is the current one, and connects again. */
  #lost(conn: Deno.TcpConn, reason: string): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    closeQuietly(conn);
    this.#lastError = reason;
    if (this.#stop.signal.aborted) return;
    this.log.warn("Lost the connection to {address}: {reason}", {
      address: this.#address,
      reason,
    });
    this.#reconnect(0);
  }

  #reconnect(failures: number): void {
    if (this.#connecting !== undefined || this.#stop.signal.aborted) return;
    this.#connecting = this.#connectWithBackoff(failures).finally(() => {
      this.#connecting = undefined;
    });
  }

  async #connectWithBackoff(failures: number): Promise<void> {
    for (;; failures++) {
      const delay = Math.min(this.#maxMs, this.#minMs * 2 ** failures);
      if (failures > 0 && !await sleep(delay, this.#stop.signal)) return;
      if (this.#stop.signal.aborted) return;
      try {
        const conn = await this.#dial();
        if (this.#stop.signal.aborted) {
          closeQuietly(conn);
          return;
        }
        this.#opened(conn);
        return;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        this.#lastError = message(error);
        this.log.debug("Cannot connect to {address}: {error}", {
          address: this.#address,
          error: this.#lastError,
        });
      }
    }
  }

  #opened(conn: Deno.TcpConn): void {
    this.#conn = conn;
    this.#connections++;
    this.log.info(
      this.#connections === 1
        ? "Connected to {address}"
        : "Reconnected to {address}",
      { address: this.#address },
    );
    const watcher = this.#watch(conn).finally(() =>
      this.#watchers.delete(watcher)
    );
    this.#watchers.add(watcher);
    this.#pump();
  }

  /** One attempt to connect, bounded by `connect_timeout`. */
  async #dial(): Promise<Deno.TcpConn> {
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(), this.#connectTimeoutMs);
    const stop = this.#stop.signal;
    const onStop = () => attempt.abort();
    stop.addEventListener("abort", onStop, { once: true });
    try {
      return await Deno.connect({
        hostname: this.#hostname,
        port: this.#port,
        signal: attempt.signal,
      });
    } catch (error) {
      if (attempt.signal.aborted && !stop.aborted) {
        throw new Error(
          `Timed out after ${this.#connectTimeoutMs / 1000} s`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
    }
  }

  /** Reads the connection until it ends, to learn at once that it closed. */
  async #watch(conn: Deno.TcpConn): Promise<void> {
    const sink = new Uint8Array(1024);
    let reason = "the server closed it";
    try {
      while (await conn.read(sink) !== null) { /* ignored */ }
    } catch (error) {
      reason = message(error);
    }
    this.#lost(conn, reason);
  }
}

/** One part of a metric path: no dot, space or other separator. */
function part(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
