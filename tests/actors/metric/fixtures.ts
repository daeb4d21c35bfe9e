/**
 * Contract-test fixtures of the metric actors: they are fed metric events
 * (what the router sends them) instead of numbered events, and a bad event
 * that is not one. Listed in `FIXTURES` of `tests/actors/contract_test.ts`.
 * And {@link prometheusPipeline}, a router whose metric actor serves.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Prometheus,
  type PrometheusOptions,
} from "../../../actors/metric/prometheus.ts";
import type { Event } from "../../../core/event.ts";
import { Router, type RouterOptions } from "../../../core/router.ts";
import { Collector, ListInput, numbered } from "../../helpers.ts";
import type { Fixture } from "../contract_test.ts";

/**
 * The time of every metric event fed, and of the metric tests' events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(Date.parse(TIME) / 1000, 1767225600);
 * ```
 */
export const TIME = "2026-01-01T00:00:00.000Z";

/** `TIME` in Unix seconds. */
const UNIX_TIME = 1767225600;

/** `count` metric events: queue `inbox` of actor `a`, depth 1..count. */
function metricEvents(count: number): Event[] {
  return Array.from({ length: count }, (_, i) => ({
    header: { metric: { time: TIME, actor: "a", queue: "inbox" } },
    data: { depth: i + 1 },
  }));
}

/** Not a metric event: no `header.metric`. */
const NOT_METRIC: Event = { header: {}, data: { depth: 1 } };

/** Keeps the latest figures: the last depth fed must be kept. */
export function prometheusFixture(): Promise<Fixture> {
  return Promise.resolve({
    options: {},
    events: metricEvents(1200),
    badEvent: NOT_METRIC,
    cleanup: () => Promise.resolve(),
  });
}

/**
 * A Carbon server on 127.0.0.1 that keeps the lines it reads; one line per
 * event consumed must arrive, in order.
 */
export function graphiteFixture(): Promise<Fixture> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const first = Promise.withResolvers<string>();
  const reading = (async () => {
    for await (const conn of listener) {
      first.resolve(await new Response(conn.readable).text());
    }
  })();
  return Promise.resolve({
    options: { port: listener.addr.port, prefix: "contract" },
    events: metricEvents(1200),
    badEvent: NOT_METRIC,
    verify: async (consumed) => {
      // The actor closed its connection at teardown: the text is complete
      // once the server has read it to its end.
      const text = await first.promise;
      assert.deepEqual(
        text.split("\n").slice(0, -1),
        consumed.map((event) =>
          `contract.a.inbox.depth ${
            (event.data as { depth: number }).depth
          } ${UNIX_TIME}`
        ),
      );
    },
    cleanup: async () => {
      listener.close();
      await reading.catch(() => {});
    },
  });
}

/**
 * A router (of `routerOptions`, figures every 20 ms) whose metric actor is a
 * `prometheus` of `options`, with an input of 3 events into a sink
 * (`"sink"`); started. Stop the router.
 */
export async function prometheusPipeline(
  options: Partial<PrometheusOptions>,
  routerOptions: RouterOptions = {},
): Promise<{ router: Router; prometheus: Prometheus }> {
  const router = new Router({ metricsIntervalMs: 20, ...routerOptions });
  const prometheus = router.registerMetricActor(
    new Prometheus("prometheus", options),
  ) as Prometheus;
  router.register(new ListInput("input", numbered(3)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  return { router, prometheus };
}
