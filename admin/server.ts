/**
 * The admin HTTP server of a running pipeline: health and readiness probes,
 * Prometheus metrics, the pipeline's topology with live counters and rates,
 * taps on queues as server-sent events, and a live dashboard page.
 *
 * @module
 */

import type { ActorLog } from "../core/actor.ts";
import type { ReloadOutcome } from "../core/config/reload.ts";
import {
  type HttpLimits,
  HttpListener,
  type HttpListenerFigures,
} from "../core/http_listener.ts";
import { scopedLogger } from "../core/log.ts";
import type { StreamListener } from "../core/stream_listener.ts";
import type { Router } from "../core/router.ts";
import { sameText } from "../core/secret.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { HostCheck, isLoopback } from "./hosts.ts";
import { pipelineView } from "./pipeline.ts";
import {
  PROMETHEUS_CONTENT_TYPE,
  type PrometheusFigures,
  toPrometheusText,
} from "./prometheus.ts";
import { RateWindow } from "./rates.ts";
import { resolveTapQueue, Tap } from "./tap.ts";

/** The port the admin server listens on by default. */
export const DEFAULT_ADMIN_PORT = 9630;

/** Most taps open at once; more are refused with 503. */
const MAX_TAPS = 32;

/**
 * The connection limits of the admin server unless told otherwise: those of
 * every HTTP listener (see `core/http_listener.ts`), with at most 128
 * connections, enough for many dashboards and scrapers.
 */
export const DEFAULT_ADMIN_LIMITS: Readonly<Partial<HttpLimits>> = Object
  .freeze({ maxConnections: 128 });

/** Settings of {@link AdminServer}. */
export interface AdminServerOptions {
  /** The pipeline to show. */
  router: Router;
  /**
   * The address to listen on (default `127.0.0.1`: this machine only).
   * Another than a loopback address needs a `token`, or `insecure`.
   */
  hostname?: string;
  /** The port to listen on (default 9630; 0 picks a free one). */
  port?: number;
  /**
   * A bearer token every route but `/health` requires, given as
   * `Authorization: Bearer TOKEN` or as `?token=TOKEN` (for the dashboard's
   * page and its event streams).
   */
  token?: string;
  /**
   * Listen on an address other than a loopback one without a `token`
   * (default `false`: the constructor refuses, as anyone who can reach the
   * server could read the pipeline's events).
   */
  insecure?: boolean;
  /**
   * More names the server answers to, as the `Host` of a request: `NAME`
   * (any port) or `NAME:PORT`, e.g. the name of a reverse proxy. It always
   * answers to the address it listens on and to `localhost`, `127.0.0.1` and
   * `[::1]`, with its port; requests naming another host are refused with
   * 421 (see {@link HostCheck}), which defeats DNS rebinding.
   */
  allowedHosts?: readonly string[];
  /**
   * Where refused requests are logged, at warning level and rate-limited
   * like every log record (default: a logger of its own, on stderr).
   */
  log?: ActorLog;
  /**
   * The registry type of each actor by name, shown in the topology (read
   * at each request: a reload may change it in place).
   */
  types?: Readonly<Record<string, string>>;
  /**
   * Reloads the pipeline (e.g. a `Reloader` of `core/config/reload.ts`):
   * serves `POST /api/reload` and `GET /api/reloads`.
   */
  reloads?: Reloads;
  /**
   * Where `/metrics` reads its figures (default: the router's, live), e.g.
   * a `prometheus` metric actor's `metrics()`.
   */
  metrics?: () => PrometheusFigures;
  /** How often figures are taken for the rates, in ms (default 1000). */
  sampleIntervalMs?: number;
  /** The span rates are computed over, in seconds (default 5). */
  rateWindowSeconds?: number;
  /**
   * Connection limits and timeouts (default {@link DEFAULT_ADMIN_LIMITS});
   * the server reads no request bodies (it answers GET and HEAD, and POST
   * on `/api/reload`, whose body it throws away).
   */
  limits?: Partial<HttpLimits>;
  /**
   * Accept from this listener rather than listening on `hostname:port`:
   * e.g. a TLS one from `listenStream` (then the URL is `https:`, and
   * {@link AdminServer.reloadCertificates} reads its files again).
   */
  listener?: StreamListener;
}

/**
 * What reloads the pipeline an {@link AdminServer} shows, and remembers the
 * outcomes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Reloads } from "./server.ts";
 * const reloads: Reloads = {
 *   reload: () => Promise.reject(new Error("not in this example")),
 *   history: () => [],
 * };
 * assert.deepEqual(reloads.history(), []);
 * ```
 */
export interface Reloads {
  /** Reloads the pipeline from its file; `trigger` says who asked. */
  reload(trigger: string): Promise<ReloadOutcome>;
  /** The last outcomes, oldest first. */
  history(): ReloadOutcome[];
}

/**
 * Serves a router's admin API over HTTP until {@link AdminServer.close}:
 *
 * - `GET /health`: 200 while the process is alive.
 * - `GET /ready`: 200 when the router and every actor are running and
 *   healthy, else 503 with `{"ready": false, "not_ready": [{name, state,
 *   reason}]}`.
 * - `GET /metrics`: the Prometheus text format 0.0.4.
 * - `GET /api/pipeline`: the topology with live counters and rates as JSON
 *   (see `PipelineView`).
 * - `GET /api/tap?queue=a.outbox&limit=N&rate=R`: a sample of the events
 *   passing a queue as server-sent events (see `Tap`).
 * - `POST /api/reload` (with `reloads`): reloads the pipeline from its
 *   file; answers its outcome (see `ReloadOutcome`): 200 applied or
 *   unchanged, 422 an invalid file, 409 refused or rolled back.
 * - `GET /api/reloads` (with `reloads`): `{"reloads": [...]}`, the last
 *   outcomes, oldest first.
 * - `GET /`: the dashboard page.
 *
 * It is safe by default: it listens on 127.0.0.1; it answers only requests
 * whose `Host` names it (421 otherwise); it refuses to listen on another
 * address than a loopback one without a token (unless `insecure`); and it
 * logs every request it refuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { AdminServer } from "./server.ts";
 * const router = new Router();
 * const admin = new AdminServer({ router, port: 0 });
 * const response = await fetch(new URL("/health", admin.url));
 * assert.equal(response.status, 200);
 * assert.equal(await response.text(), '{"status":"alive"}');
 * await admin.close();
 * await router.stop();
 * ```
 */
export class AdminServer {
  /** The base URL it answers on, e.g. `http://127.0.0.1:9630/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  #router: Router;
  #token: string | undefined;
  #hosts: HostCheck;
  #log: ActorLog;
  #types: Readonly<Record<string, string>>;
  #reloads: Reloads | undefined;
  #metrics: () => PrometheusFigures;
  #rates: RateWindow;
  #sampler: ReturnType<typeof setInterval>;
  #server: HttpListener;
  #taps = new Set<Tap>();
  #closing: Promise<void> | undefined;

  /** Starts listening at once; throws when the address cannot be bound. */
  constructor(options: AdminServerOptions) {
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? DEFAULT_ADMIN_PORT;
    if (options.token === "") {
      throw new RangeError("AdminServer: the token must not be empty");
    }
    if (
      options.token === undefined && options.insecure !== true &&
      !isLoopback(hostname)
    ) {
      throw new RangeError(
        `AdminServer: refusing to listen on "${hostname}" without a token: anyone who can reach it could read the pipeline's events. Give a token, or set "insecure" to listen there anyway`,
      );
    }
    // Checks allowedHosts before listening; made again for a port picked.
    this.#hosts = new HostCheck(hostname, port, options.allowedHosts);
    this.#router = options.router;
    this.#token = options.token;
    this.#log = options.log ?? scopedLogger("admin", "admin");
    this.#types = options.types ?? {};
    this.#reloads = options.reloads;
    this.#metrics = options.metrics ?? (() => this.#router.metrics());
    this.#rates = new RateWindow(options.rateWindowSeconds ?? 5);
    this.#server = new HttpListener(
      {
        hostname,
        port,
        log: this.#log,
        listener: options.listener,
        ...DEFAULT_ADMIN_LIMITS,
        ...options.limits,
      },
      (request, info) => this.#handle(request, info.remoteAddr),
    );
    this.port = this.#server.addr.port;
    if (port === 0) {
      this.#hosts = new HostCheck(hostname, this.port, options.allowedHosts);
    }
    const host = this.#server.addr.hostname.includes(":")
      ? `[${this.#server.addr.hostname}]`
      : this.#server.addr.hostname;
    const scheme = this.#server.secure ? "https" : "http";
    this.url = `${scheme}://${host}:${this.port}/`;
    this.#sample();
    this.#sampler = setInterval(
      () => this.#sample(),
      options.sampleIntervalMs ?? 1000,
    );
  }

  /** Taps currently observing a queue. */
  get taps(): number {
    let count = 0;
    for (const tap of this.#taps) if (tap.observing) count++;
    return count;
  }

  /**
   * Reads its TLS files again for the connections from now on; `false`
   * without TLS.
   */
  reloadCertificates(): boolean {
    return this.#server.reloadCertificates();
  }

  /** The counters of its connections. */
  connectionFigures(): HttpListenerFigures {
    return this.#server.figures();
  }

  /**
   * Ends every tap, stops sampling, stops listening and resolves once the
   * requests in flight are answered.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#sampler);
      for (const tap of this.#taps) tap.close();
      this.#taps.clear();
      await this.#server.shutdown();
    })();
    return this.#closing;
  }

  #sample(): void {
    this.#rates.add(this.#router.metrics());
  }

  #handle(
    request: Request,
    remote: Deno.NetAddr,
  ): Response | Promise<Response> {
    const url = new URL(request.url);
    const host = request.headers.get("host");
    if (!this.#hosts.allows(host)) {
      this.#log.warn(
        'Refused a request for {path} from {remote}: Host "{host}" is not a name of this server',
        { path: url.pathname, remote: remote.hostname, host: host ?? "" },
      );
      return json(
        {
          error: `This server does not answer to the host "${
            host ?? ""
          }": it answers to ${
            this.#hosts.names.join(", ")
          } (allow more names with --admin-allow-host or allowedHosts)`,
        },
        421,
      );
    }
    const reload = url.pathname === "/api/reload";
    if (reload ? request.method !== "POST" : !isRead(request.method)) {
      const allow = reload ? "POST" : "GET";
      return json({ error: `Only ${allow} is allowed` }, 405, { allow });
    }
    if (url.pathname === "/health") {
      return json({ status: "alive" }, 200);
    }
    if (!this.#authorized(request, url)) {
      this.#log.warn(
        "Refused a request for {path} from {remote}: the token is missing or wrong",
        { path: url.pathname, remote: remote.hostname },
      );
      return json(
        {
          error:
            'A token is required: send "Authorization: Bearer TOKEN" or add "?token=TOKEN"',
        },
        401,
        { "www-authenticate": 'Bearer realm="compysition"' },
      );
    }
    switch (url.pathname) {
      case "/":
        return new Response(DASHBOARD_HTML, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "content-security-policy":
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          },
        });
      case "/ready":
        return this.#ready();
      case "/metrics":
        return new Response(toPrometheusText(this.#metrics()), {
          headers: {
            "content-type": PROMETHEUS_CONTENT_TYPE,
            "cache-control": "no-store",
          },
        });
      case "/api/pipeline":
        return json(
          pipelineView(
            this.#router,
            this.#router.metrics(),
            this.#rates.rates(),
            this.#types,
          ),
          200,
        );
      case "/api/tap":
        return this.#tap(url);
      case "/api/reload":
        return this.#reload(request, remote);
      case "/api/reloads":
        return this.#reloads === undefined
          ? json({ error: "This pipeline cannot be reloaded" }, 404)
          : json({ reloads: this.#reloads.history() }, 200);
      default:
        return json({ error: `Not found: "${url.pathname}"` }, 404);
    }
  }

  /**
   * Reloads the pipeline. A browser page of another site cannot ask for
   * it: a request with an `Origin` that is not this server is refused.
   */
  async #reload(request: Request, remote: Deno.NetAddr): Promise<Response> {
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#hosts.allows(hostOf(origin))) {
      this.#log.warn(
        'Refused a reload from {remote}: Origin "{origin}" is not this server',
        { remote: remote.hostname, origin },
      );
      return json({ error: `Origin "${origin}" is not this server` }, 403);
    }
    await request.body?.cancel();
    if (this.#reloads === undefined) {
      return json({ error: "This pipeline cannot be reloaded" }, 404);
    }
    const outcome = await this.#reloads.reload("api");
    const status = outcome.status === "invalid"
      ? 422
      : outcome.status === "applied" || outcome.status === "unchanged"
      ? 200
      : 409;
    return json(outcome, status);
  }

  #authorized(request: Request, url: URL): boolean {
    const token = this.#token;
    if (token === undefined) return true;
    const header = request.headers.get("authorization") ?? "";
    const given = header.startsWith("Bearer ")
      ? header.slice(7).trim()
      : url.searchParams.get("token") ?? "";
    return sameText(given, token);
  }

  #ready(): Response {
    const status = this.#router.status();
    const notReady: { name: string; state: string; reason: string }[] = [];
    for (const [name, actor] of Object.entries(status.actors)) {
      if (actor.state !== "running") {
        notReady.push({
          name,
          state: actor.state,
          reason: actor.state === "finished"
            ? "it has finished"
            : "it has not started yet",
        });
      } else if (!actor.ready) {
        notReady.push({
          name,
          state: actor.state,
          reason: actor.reason ?? "it says it is not ready",
        });
      }
    }
    const ready = status.state === "running" && notReady.length === 0;
    return json(
      {
        ready,
        state: status.state,
        ...(ready ? {} : { not_ready: notReady }),
      },
      ready ? 200 : 503,
    );
  }

  #tap(url: URL): Response {
    const address = url.searchParams.get("queue");
    if (address === null || address === "") {
      return json({ error: 'Missing "queue", e.g. "?queue=a.outbox"' }, 400);
    }
    const limit = positiveInteger(url.searchParams.get("limit"), "limit");
    const rate = positiveInteger(url.searchParams.get("rate"), "rate");
    for (const value of [limit, rate]) {
      if (typeof value === "string") return json({ error: value }, 400);
    }
    let queue;
    try {
      queue = resolveTapQueue(this.#router, address);
    } catch (error) {
      return json({ error: (error as Error).message }, 404);
    }
    if (this.taps >= MAX_TAPS || this.#closing !== undefined) {
      return json(
        { error: `Too many taps open (at most ${MAX_TAPS})` },
        503,
      );
    }
    const options: { limit?: number; rate?: number } = {};
    if (typeof limit === "number") options.limit = limit;
    if (typeof rate === "number") options.rate = Math.min(rate, 10_000);
    const tap: Tap = new Tap(
      queue,
      address,
      options,
      () => this.#taps.delete(tap),
    );
    this.#taps.add(tap);
    return new Response(tap.readable, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  }
}

/** Whether `method` only reads. */
function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** The `host[:port]` of an origin, `""` when it is not a URL ("null"). */
function hostOf(origin: string): string {
  try {
    return new URL(origin).host;
  } catch {
    return "";
  }
}

function json(
  value: unknown,
  status: number,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

/**
 * The whole number in `value`, `undefined` when absent, or a message saying
 * why it is not one.
 */
function positiveInteger(
  value: string | null,
  name: string,
): number | string | undefined {
  if (value === null || value === "") return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    return `"${name}" must be a whole number of at least 1, not "${value}"`;
  }
  return number;
}

/**
 * The address of `--admin`: `HOST:PORT`, `[IPV6]:PORT`, `:PORT` or `PORT`
 * (the host is then `127.0.0.1`). Throws a `RangeError` saying what is
 * wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenAddress } from "./server.ts";
 * assert.deepEqual(parseListenAddress("9630"), { hostname: "127.0.0.1", port: 9630 });
 * assert.deepEqual(parseListenAddress("[::1]:0"), { hostname: "::1", port: 0 });
 * ```
 */
export function parseListenAddress(
  text: string,
): { hostname: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]*):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port > 65_535) {
    throw new RangeError(
      `The address must be "HOST:PORT" (or a port), e.g. "127.0.0.1:${DEFAULT_ADMIN_PORT}", not "${text}"`,
    );
  }
  const host = match[1] ?? "";
  return {
    hostname: host === "" ? "127.0.0.1" : host.replace(/^\[(.*)\]$/, "$1"),
    port,
  };
}
