/**
 * `prometheus`: keeps the latest figures of the metric events it receives,
 * in the Prometheus text format, and can serve them over HTTP or HTTPS.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { HttpListener } from "../../core/http_listener.ts";
import { assertMetricEvent, histogramFromData } from "../../core/metrics.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { type CertificateHolder, ServerTlsSchema } from "../../core/tls.ts";
import {
  PROMETHEUS_CONTENT_TYPE,
  type PrometheusActor,
  type PrometheusFigures,
  toPrometheusText,
} from "../../admin/prometheus.ts";

/** Options of the `prometheus` actor. */
export const PrometheusOptions = z.strictObject({
  listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, {
    message: 'Must be "HOST:PORT", e.g. "127.0.0.1:9464"',
  }).optional().describe(
    'Serve the figures at "GET /metrics" on this address, "HOST:PORT" (e.g. "127.0.0.1:9464"; port 0 picks a free one). Without it they are read through the actor (the admin server\'s "/metrics" serves the same format, live). The server has the connection limits and timeouts of http_server\'s defaults.',
  ),
  tls: ServerTlsSchema.optional(),
}).superRefine((options, context) => {
  if (options.tls !== undefined && options.listen === undefined) {
    context.addIssue({
      code: "custom",
      path: ["tls"],
      message: '"tls" needs "listen": the address to serve HTTPS on',
    });
  }
}, {
  // Said even when the files of "tls" are unusable too.
  when: (payload) =>
    typeof payload.value === "object" && payload.value !== null,
});

/** Parsed options of the `prometheus` actor. */
export type PrometheusOptions = z.infer<typeof PrometheusOptions>;

/**
 * Keeps the latest figures of every actor and queue from the metric events
 * the router sends it (every `metricsIntervalMs` and once at stop):
 * `metrics()` returns them, `text()` renders them in the Prometheus text
 * format 0.0.4 (the same as the admin server's `/metrics`), and with
 * `listen` it serves them at `GET /metrics`: over HTTPS with `tls` (see
 * `ServerTlsSchema`; with `tls.client_auth`, mutual TLS keeps scrapers
 * without a certificate of `tls.ca` out), certificates read again by
 * `reloadCertificates()` (SIGHUP under `compysition run`) without closing
 * the connections open. An event that is not a metric
 * event (no `header.metric.actor`, or data that is not numbers) goes to
 * `error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { Prometheus } from "./prometheus.ts";
 *
 * const router = new Router();
 * const prometheus = new Prometheus("prometheus");
 * router.registerMetricActor(prometheus);
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop(); // the last figures are sent at stop
 * assert.match(prometheus.text(), /compysition_actor_consumed_total\{actor="sink"\} 3/);
 * ```
 */
export const prometheus: ActorSpec<PrometheusOptions> = {
  type: "prometheus",
  kind: "metric",
  summary:
    "Keeps the latest figures of metric events in the Prometheus text format, optionally served over HTTP or HTTPS.",
  options: PrometheusOptions,
  example: {},
  create: (name, options, settings) => new Prometheus(name, options, settings),
};

/** The `prometheus` metric actor. */
export class Prometheus extends Actor implements CertificateHolder {
  readonly kind = "metric";
  #actors = new Map<string, PrometheusActor & Record<string, unknown>>();
  #time: string | undefined;
  #listen: { hostname: string; port: number } | undefined;
  #tls: ServerTlsSchema | undefined;
  #server: HttpListener | undefined;

  /** Makes a Prometheus figures keeper; see {@link PrometheusOptions}. */
  constructor(
    name: string,
    options: Partial<PrometheusOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = PrometheusOptions.parse(options);
    if (parsed.listen !== undefined) {
      const colon = parsed.listen.lastIndexOf(":");
      this.#listen = {
        hostname: parsed.listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"),
        port: Number(parsed.listen.slice(colon + 1)),
      };
    }
    this.#tls = parsed.tls;
  }

  /** The port it serves `/metrics` on, once set up with `listen`. */
  get port(): number | undefined {
    return this.#server?.addr.port;
  }

  /** When the latest figures were read, ISO 8601, once any arrived. */
  get time(): string | undefined {
    return this.#time;
  }

  /** The latest figures received, by actor name. */
  metrics(): PrometheusFigures {
    return { actors: Object.fromEntries(this.#actors) };
  }

  /** The latest figures in the Prometheus text format 0.0.4. */
  text(): string {
    return toPrometheusText(this.metrics());
  }

  /**
   * Reads the `tls` files again for the connections from now on; `false`
   * without `tls` (see `CertificateHolder`).
   */
  reloadCertificates(): boolean {
    return this.#server?.reloadCertificates() ?? false;
  }

  override async setup(): Promise<void> {
    const listen = this.#listen;
    if (listen === undefined) return;
    this.#server = await HttpListener.listen(
      { ...listen, log: this.log, tls: this.#tls },
      (_request, info) => {
        const path = info.pathname;
        if (path !== "/metrics") {
          return new Response(`Not found: "${path}"; try "/metrics"\n`, {
            status: 404,
          });
        }
        return new Response(this.text(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        });
      },
    );
    this.log.info(
      "Serving Prometheus metrics at {scheme}://{address}/metrics",
      {
        scheme: this.#server.secure ? "https" : "http",
        address: `${listen.hostname}:${this.#server.addr.port}`,
      },
    );
  }

  override async teardown(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  override consume(event: Event): void {
    assertMetricEvent(event);
    const { actor, queue, histogram, kind, time } = event.header.metric;
    let figures = this.#actors.get(actor);
    if (figures === undefined) {
      figures = { queues: {} };
      this.#actors.set(actor, figures);
    }
    if (typeof kind === "string") figures.kind = kind;
    if (queue !== undefined) {
      figures.queues[queue] = { ...event.data };
    } else if (histogram !== undefined) {
      if (histogram === "consume_seconds") {
        figures.consume_seconds = histogramFromData(event.data);
      }
    } else {
      for (const [key, value] of Object.entries(event.data)) {
        if (key !== "queues" && key !== "kind" && key !== "consume_seconds") {
          figures[key] = value;
        }
      }
    }
    this.#time = time;
  }
}
