import assert from "node:assert/strict";
import { emptyFigures } from "../../core/actor.ts";
import { type MetricEvent, toMetricEvents } from "../../core/metrics.ts";
import { Router, type RouterOptions } from "../../core/router.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";
import { Pass } from "./fixtures.ts";

/** `input -> pass -> sink` with a metric collector, started. */
async function pipeline(
  options: RouterOptions,
): Promise<{ router: Router; metrics: Collector }> {
  const router = new Router(options);
  const metrics = router.registerMetricActor(
    new Collector("metrics"),
  ) as Collector;
  router.register(new ListInput("input", numbered(10)));
  router.register(new Pass("pass"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "pass.inbox");
  router.connect("pass.outbox", "sink.inbox");
  await router.start();
  return { router, metrics };
}

/** `actor` or `actor.queue` of a metric event. */
function whose(event: MetricEvent): string {
  const { actor, queue, histogram } = event.header.metric;
  if (histogram !== undefined) return `${actor}#${histogram}`;
  return queue === undefined ? actor : `${actor}.${queue}`;
}

const PIPELINE = ["input", "pass", "sink"];

Deno.test("The metric actor receives metric events for every actor and queue on every interval", async () => {
  const { router, metrics } = await pipeline({ metricsIntervalMs: 5 });
  await router.finished;
  const expected = toMetricEvents(router.metrics()).map(whose);
  assert.deepEqual(expected, [
    "metrics",
    "metrics#consume_seconds",
    "metrics.inbox",
    "metrics.error",
    "input",
    "input#consume_seconds",
    "input.outbox",
    "input.error",
    "pass",
    "pass#consume_seconds",
    "pass.inbox",
    "pass.outbox",
    "pass.error",
    "sink",
    "sink#consume_seconds",
    "sink.inbox",
    "sink.error",
  ]);
  await metrics.waitFor(2 * expected.length);
  const first = (metrics.events as MetricEvent[]).slice(0, expected.length);
  assert.deepEqual(first.map(whose), expected);
  const times = new Set(first.map((event) => event.header.metric.time));
  assert.equal(times.size, 1, "one emission shares one time");
  await router.stop();
});

Deno.test("router.metrics() returns the figures that the metric events carry", async () => {
  const { router, metrics } = await pipeline({ metricsIntervalMs: 5 });
  await router.finished;
  // The pipeline is done: its figures no longer change.
  const now = router.metrics();
  const size = toMetricEvents(now).length;
  const seen = metrics.events.length;
  const next = Math.ceil((seen + 1) / size) * size;
  await metrics.waitFor(next);
  const emission = (metrics.events as MetricEvent[]).slice(next - size, next);
  for (const event of emission) {
    const { actor, queue, histogram } = event.header.metric;
    if (!PIPELINE.includes(actor)) continue;
    const figures = now.actors[actor]!;
    if (histogram !== undefined) {
      assert.equal(event.data.count, figures.consume_seconds.count);
    } else if (queue === undefined) {
      const { kind: _, consume_seconds: __, queues: ___, ...own } = figures;
      assert.deepEqual(event.data, own);
    } else {
      assert.deepEqual(event.data, figures.queues[queue], whose(event));
    }
  }
  assert.deepEqual(now.actors.sink!.queues.inbox, {
    in_total: 10,
    out_total: 10,
    dropped_total: 0,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 0,
    depth: 0,
    capacity: 1024,
  });
  assert.equal(now.actors.pass!.kind, "transform");
  assert.equal(now.actors.pass!.consumed_total, 10);
  await router.stop();
});

Deno.test("Router.stop() emits the final metrics once even with no interval", async () => {
  const { router, metrics } = await pipeline({ metricsIntervalMs: 0 });
  await router.finished;
  assert.equal(metrics.events.length, 0);
  await router.stop();
  const events = metrics.events as MetricEvent[];
  assert.equal(events.length, toMetricEvents(router.metrics()).length);
  const sink = events.find((event) => whose(event) === "sink.inbox")!;
  assert.equal(sink.data.in_total, 10);
  const pass = events.find((event) => whose(event) === "pass")!;
  assert.deepEqual(pass.data, { ...emptyFigures(), consumed_total: 10 });
});

Deno.test("Without a metric actor no timer runs and router.metrics() still answers", async () => {
  const router = new Router({ metricsIntervalMs: 1 });
  router.register(new ListInput("input", numbered(4)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  assert.equal(router.metrics().actors.sink!.consumed_total, 4);
  await router.stop();
});

Deno.test("toMetricEvents() makes one event per actor and one per queue", () => {
  const events = toMetricEvents({
    time: "2026-01-01T00:00:00.000Z",
    actors: {
      a: {
        kind: "output",
        ...emptyFigures(),
        consumed_total: 3,
        failed_total: 1,
        consume_seconds: {
          bounds: [0.001, 1],
          buckets: [2, 3],
          sum: 0.5,
          count: 3,
        },
        queues: {
          inbox: {
            in_total: 4,
            out_total: 4,
            dropped_total: 0,
            abandoned_total: 0,
            discarded_total: 0,
            failed_total: 0,
            depth: 0,
            capacity: 10,
          },
        },
      },
    },
  });
  assert.deepEqual(events, [
    {
      header: {
        metric: {
          time: "2026-01-01T00:00:00.000Z",
          actor: "a",
          kind: "output",
        },
      },
      data: { ...emptyFigures(), consumed_total: 3, failed_total: 1 },
    },
    {
      header: {
        metric: {
          time: "2026-01-01T00:00:00.000Z",
          actor: "a",
          histogram: "consume_seconds",
        },
      },
      data: { sum: 0.5, count: 3, "le_0.001": 2, le_1: 3 },
    },
    {
      header: {
        metric: {
          time: "2026-01-01T00:00:00.000Z",
          actor: "a",
          queue: "inbox",
        },
      },
      data: {
        in_total: 4,
        out_total: 4,
        dropped_total: 0,
        abandoned_total: 0,
        discarded_total: 0,
        failed_total: 0,
        depth: 0,
        capacity: 10,
      },
    },
  ]);
});

Deno.test("Metric events carry the counters an actor adds to its figures", async () => {
  class Counting extends Pass {
    override figures() {
      return { ...super.figures(), seen_total: 7 };
    }
  }
  const router = new Router({ metricsIntervalMs: 0 });
  const metrics = router.registerMetricActor(
    new Collector("metrics"),
  ) as Collector;
  router.register(new ListInput("input", numbered(1)));
  router.register(new Counting("count"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "count.inbox");
  router.connect("count.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  const own = (metrics.events as MetricEvent[]).find((event) =>
    whose(event) === "count"
  )!;
  assert.deepEqual(own.data, {
    ...emptyFigures(),
    consumed_total: 1,
    seen_total: 7,
  });
});
