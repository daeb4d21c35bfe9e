/**
 * A client of the admin API for terminal views: reads the pipeline's view,
 * reads a tap's server-sent events, and lays out the `top` table.
 *
 * @module
 */

import { errorMessage } from "../core/actor.ts";
import type { PipelineView } from "./pipeline.ts";

/** Where and how to reach an admin server. */
export interface AdminTarget {
  /** The admin server's base URL, e.g. `http://127.0.0.1:9630`. */
  url: string;
  /** Its bearer token, when it requires one. */
  token?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** An error answered by the admin server, or a failure to reach it. */
export class AdminError extends Error {
  /** The HTTP status, or 0 when the server could not be reached. */
  readonly status: number;

  /** Makes an error with its HTTP status. */
  constructor(message: string, status: number) {
    super(message);
    this.name = "AdminError";
    this.status = status;
  }
}

/**
 * Fetches `path` of the admin server at `target`; throws an
 * {@link AdminError} saying what went wrong when it cannot be reached or
 * does not answer 200.
 */
async function get(target: AdminTarget, path: string): Promise<Response> {
  let url: URL;
  try {
    url = new URL(
      path,
      target.url.endsWith("/") ? target.url : target.url + "/",
    );
  } catch {
    throw new AdminError(`Invalid admin URL "${target.url}"`, 0);
  }
  const headers: Record<string, string> = {};
  if (target.token !== undefined) {
    headers.authorization = `Bearer ${target.token}`;
  }
  let response: Response;
  try {
    response = await fetch(url, {
      headers,
      ...(target.signal === undefined ? {} : { signal: target.signal }),
    });
  } catch (error) {
    if (target.signal?.aborted) throw error;
    throw new AdminError(
      `Cannot reach the admin server at "${url.origin}": ${
        errorMessage(error)
      }`,
      0,
    );
  }
  if (!response.ok) {
    const body = await response.text();
    let message = body;
    try {
      message = (JSON.parse(body) as { error?: string }).error ?? body;
    } catch {
      // Not JSON: the body as it is.
    }
    throw new AdminError(
      `The admin server answered ${response.status} to "${url.pathname}": ${message}`,
      response.status,
    );
  }
  return response;
}

/**
 * The pipeline's view from `GET /api/pipeline`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { fetchPipeline } from "./client.ts";
 * import { AdminServer } from "./server.ts";
 * const router = new Router();
 * const admin = new AdminServer({ router, port: 0 });
 * const view = await fetchPipeline({ url: admin.url });
 * assert.deepEqual(view.actors, []);
 * await admin.close();
 * await router.stop();
 * ```
 */
export async function fetchPipeline(
  target: AdminTarget,
): Promise<PipelineView> {
  const response = await get(target, "api/pipeline");
  return await response.json() as PipelineView;
}

/** One server-sent event. */
export interface ServerSentEvent {
  /** The event type (`message` when none was given). */
  event: string;
  /** The data lines joined by newlines. */
  data: string;
  /** The last `id` given, when any. */
  id?: string;
}

/**
 * The server-sent events of a text stream, as they arrive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serverSentEvents } from "./client.ts";
 * const body = ReadableStream.from(["id: 1\ndata: {}\n\n"]);
 * const events = await Array.fromAsync(serverSentEvents(body));
 * assert.deepEqual(events.map((event) => event.data), ["{}"]);
 * ```
 */
export async function* serverSentEvents(
  stream: ReadableStream<string>,
): AsyncGenerator<ServerSentEvent> {
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of stream) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A CR at the end may be the first half of a CRLF: wait for more.
      if (newline === buffer.length - 1 && buffer.endsWith("\r")) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(
        newline + (buffer.startsWith("\r\n", newline) ? 2 : 1),
      );
      if (line === "") {
        if (data.length > 0) {
          const sent: ServerSentEvent = {
            event: event || "message",
            data: data.join("\n"),
          };
          if (id !== undefined) sent.id = id;
          yield sent;
        }
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  }
}

/**
 * The events tapped on queue `queue` (`GET /api/tap`), each as the JSON text
 * of `{header, data}`, with `onDropped` told the total dropped so far
 * whenever it grows. Ends after `limit` events, or when the server ends the
 * stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { generator } from "../actors/input/generator.ts";
 * import { nullOutput } from "../actors/output/null.ts";
 * import { tapEvents } from "./client.ts";
 * import { AdminServer } from "./server.ts";
 * const router = new Router();
 * router.register(generator, "input", { interval: 0.01, data: "tick" });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * const admin = new AdminServer({ router, port: 0 });
 * const tapped = await Array.fromAsync(tapEvents({ url: admin.url }, "input.outbox", { limit: 2 }));
 * assert.deepEqual(tapped.map((json) => JSON.parse(json).data), ["tick", "tick"]);
 * await admin.close();
 * await router.stop();
 * ```
 */
export async function* tapEvents(
  target: AdminTarget,
  queue: string,
  options: { limit?: number; rate?: number; onDropped?: (n: number) => void } =
    {},
): AsyncGenerator<string> {
  const params = new URLSearchParams({ queue });
  if (options.limit !== undefined) params.set("limit", String(options.limit));
  if (options.rate !== undefined) params.set("rate", String(options.rate));
  const response = await get(target, `api/tap?${params}`);
  const text = response.body!.pipeThrough(new TextDecoderStream());
  for await (const event of serverSentEvents(text)) {
    if (event.event === "message") yield event.data;
    else if (event.event === "dropped") {
      options.onDropped?.(
        (JSON.parse(event.data) as { dropped: number }).dropped,
      );
    }
  }
}

/**
 * The `compysition top` table of a pipeline's view: one row per actor (its
 * state, events in and out per second, totals) and one per connection (its
 * queue's fill bar, depth/capacity, events per second, drops), cut to
 * `width` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTop } from "./client.ts";
 * const top = formatTop({ time: "", state: "running", rate_seconds: 5, actors: [], connections: [] });
 * assert.match(top, /^Pipeline running/);
 * ```
 */
export function formatTop(view: PipelineView, width = 120): string {
  const lines = [
    `Pipeline ${view.state}: ${plural(view.actors.length, "actor")}, ${
      plural(view.connections.length, "connection")
    }; rates over ${view.rate_seconds.toFixed(1)} s; ${view.time}`,
    "",
  ];
  const actorRows = view.actors.map((actor) => {
    let inRate = actor.consumed_rate;
    let outRate = 0;
    let done = actor.consumed_total;
    for (const queue of actor.queues) {
      if (queue.direction === "outbound" && queue.name !== "error") {
        outRate += queue.out_rate;
        if (actor.kind === "input") done += queue.out_total;
      }
    }
    if (actor.kind === "input") inRate = 0;
    return [
      actor.name,
      actor.type ?? actor.kind,
      actor.phase !== "running" && actor.state !== "waiting"
        ? actor.phase
        : actor.state === "running" && !actor.ready
        ? "not ready"
        : actor.state,
      perSecond(inRate),
      perSecond(outRate),
      count(done),
      count(actor.failed_total),
      count(actor.restarts_total),
      actor.reason ?? "",
    ];
  });
  lines.push(...table(
    [
      "ACTOR",
      "TYPE",
      "STATE",
      "IN/S",
      "OUT/S",
      "DONE",
      "FAILED",
      "RESTARTS",
      "REASON",
    ],
    actorRows,
    new Set([3, 4, 5, 6, 7]),
  ));
  lines.push("");
  // A column for disk buffers, when a connection has one.
  const disk = view.connections.some((connection) =>
    connection.disk_events !== undefined
  );
  const queueRows = view.connections.map((connection) => [
    `${connection.from} -> ${connection.to}`,
    bar(connection.fill, 10),
    `${Math.round(connection.fill * 100)}%`,
    `${connection.depth}/${connection.capacity}`,
    ...(disk
      ? [
        connection.disk_events === undefined
          ? ""
          : `${count(connection.disk_events)} (${
            bytes(connection.disk_bytes ?? 0)
          })`,
      ]
      : []),
    perSecond(connection.in_rate),
    perSecond(connection.out_rate),
    count(connection.in_total),
    count(connection.dropped_total),
  ]);
  lines.push(...table(
    [
      "QUEUE",
      "FILL",
      "",
      "DEPTH",
      ...(disk ? ["ON DISK"] : []),
      "IN/S",
      "OUT/S",
      "IN",
      "DROPPED",
    ],
    queueRows,
    new Set(disk ? [2, 3, 4, 5, 6, 7, 8] : [2, 3, 4, 5, 6, 7]),
  ));
  return lines.map((line) => line.slice(0, width).trimEnd()).join("\n") +
    "\n";
}

/**
 * The lines of a table: `head` and `rows` in columns as wide as their widest
 * cell, two spaces apart, each line without trailing spaces. The columns
 * whose indexes are in `right` are aligned right, the others left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "./client.ts";
 * assert.deepEqual(
 *   table(["NAME", "EVENTS"], [["input", "12"], ["sink", "7"]], new Set([1])),
 *   ["NAME   EVENTS", "input      12", "sink        7"],
 * );
 * ```
 */
export function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string[] {
  const widths = head.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i]!.length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) =>
      right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)
    ).join("  ").trimEnd();
  return [line(head), ...rows.map(line)];
}

function bar(fill: number, size: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fill)) * size);
  return `[${"#".repeat(filled)}${".".repeat(size - filled)}]`;
}

/**
 * A rate for a terminal: `1.2M`, `35k`, `4.5k`, `120`, `0.5`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perSecond } from "./client.ts";
 * assert.equal(perSecond(35_200), "35k");
 * ```
 */
export function perSecond(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(value < 10 ? 1 : 0);
}

/**
 * `n word`, with an `s` unless `n` is 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plural } from "./client.ts";
 * assert.equal(plural(2, "event"), "2 events");
 * ```
 */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * A size in bytes for a terminal: `512 B`, `3.4 KiB`, `120 MiB`, `1.0 GiB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytes } from "./client.ts";
 * assert.equal(bytes(3_500_000), "3.3 MiB");
 * ```
 */
export function bytes(value: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  let size = value;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return unit === 0
    ? `${size} B`
    : `${size.toFixed(size < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A count with thousands separators: `12,345`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { count } from "./client.ts";
 * assert.equal(count(12345), "12,345");
 * ```
 */
export function count(value: number): string {
  return value.toLocaleString("en-US");
}
