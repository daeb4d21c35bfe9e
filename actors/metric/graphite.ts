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
  errorMessage,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { assertMetricEvent, type MetricEvent } from "../../core/metrics.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  checkReconnectWaits,
  TcpConnection,
  tcpReconnectFields,
} from "../tcp_connection.ts";

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
  ...tcpReconnectFields(30_000),
  max_buffer: z.number().int().min(1).default(10_000).describe(
    "Most lines kept while the server cannot be reached; the oldest are dropped (and counted) past it.",
  ),
}).superRefine(checkReconnectWaits);

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
 * lines whose write failed is sent again whole on the next connection, and
 * so is one that made no progress for `write_timeout` seconds (a server that
 * stopped reading), after the connection is replaced.
 * Metrics never hold up the pipeline: the figures count as consumed once
 * their lines are buffered. At stop, what is buffered is written when
 * connected. An event that is not a metric event goes to `error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.equal((await received).includes("demo.sink.consumed_total 3 "), true);
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
  #tcp: TcpConnection;
  #prefix: string;
  #maxBuffer: number;
  #lines: string[] = [];
  #writing: Promise<void> | undefined;
  #sent = 0;
  #dropped = 0;

  /** Makes a Graphite sender; see {@link GraphiteOptions}. */
  constructor(
    name: string,
    options: Partial<GraphiteOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = GraphiteOptions.parse(options);
    this.#tcp = new TcpConnection(parsed, () => this.log, () => this.#pump());
    this.#prefix = parsed.prefix.split(".").filter((part) => part !== "")
      .map((part) => `${part}.`).join("");
    this.#maxBuffer = parsed.max_buffer;
  }

  /** Whether the connection is open now. */
  get connected(): boolean {
    return this.#tcp.current !== undefined;
  }

  /** Connections opened so far (the first one and every reconnection). */
  get connections(): number {
    return this.#tcp.connections;
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
    return this.#tcp.health();
  }

  override async setup(): Promise<void> {
    // One attempt before the pipeline starts; the next ones in the background.
    await this.#tcp.tryConnect();
  }

  override consume(event: Event): void {
    assertMetricEvent(event);
    this.#add(this.lines(event));
    this.#pump();
  }

  override async drained(): Promise<void> {
    // Write what is left when connected; never wait for a connection.
    while (this.connected && this.#lines.length > 0) {
      await (this.#writing ?? this.#pump());
    }
    await this.#writing;
    if (this.#lines.length > 0) {
      this.log.warn(
        "Stopped with {count} line(s) not sent to {address}: {error}",
        {
          count: this.#lines.length,
          address: this.#tcp.address,
          error: this.#tcp.lastError,
        },
      );
    }
  }

  override async teardown(): Promise<void> {
    await this.#tcp.close();
    await this.#writing;
  }

  /**
   * The plaintext lines of one metric event, each ending with a newline.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Graphite } from "./graphite.ts";
   * const lines = new Graphite("g", { prefix: "p" }).lines({
   *   header: { metric: { time: "2026-01-01T00:00:00.000Z", actor: "a", queue: "inbox" } },
   *   data: { depth: 2 },
   * });
   * assert.deepEqual(lines, ["p.a.inbox.depth 2 1767225600\n"]);
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
          { count: over, address: this.#tcp.address },
        );
      }
      this.#lines.splice(0, over);
      this.#dropped += over;
    }
  }

  /** Starts writing the buffer when connected and not writing already. */
  #pump(): Promise<void> | undefined {
    const conn = this.#tcp.current;
    if (this.#writing !== undefined || conn === undefined) return this.#writing;
    if (this.#lines.length === 0) return undefined;
    const writing = this.#writeLines(conn).finally(() => {
      this.#writing = undefined;
    });
    this.#writing = writing;
    return writing;
  }

  async #writeLines(conn: Deno.Conn): Promise<void> {
    while (this.#lines.length > 0 && this.#tcp.current === conn) {
      const batch = this.#lines;
      this.#lines = [];
      try {
        await this.#tcp.write(conn, encoder.encode(batch.join("")));
        this.#sent += batch.length;
      } catch (error) {
        // Sent again whole on the next connection, before newer lines.
        this.#lines = batch.concat(this.#lines);
        this.#add([]);
        this.#tcp.lost(
          conn,
          errorMessage(error),
        );
      }
    }
  }
}

/** One part of a metric path: no dot, space or other separator. */
function part(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}
