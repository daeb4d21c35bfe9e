import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Router } from "../../../core/router.ts";
import {
  Prometheus,
  PrometheusOptions,
} from "../../../actors/metric/prometheus.ts";
import { toPrometheusText } from "../../../admin/prometheus.ts";
import { prometheusPipeline } from "./fixtures.ts";
import { Collector, ListInput, numbered, pollUntil } from "../../helpers.ts";

const parse = parsePrometheusTextFormat as (
  text: string,
) => { name: string; metrics: { value?: string; labels?: object }[] }[];

function valueOf(
  text: string,
  name: string,
  labels: object,
): string | undefined {
  return parse(text).find((family) => family.name === name)?.metrics.find((
    metric,
  ) => JSON.stringify(metric.labels) === JSON.stringify(labels))?.value;
}

Deno.test("prometheus keeps the router's latest figures and renders them as the admin server does", async () => {
  const router = new Router();
  const prometheus = router.registerMetricActor(
    new Prometheus("prometheus"),
  ) as Prometheus;
  router.register(new ListInput("input", numbered(7)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop(); // the last figures are sent at stop
  const text = prometheus.text();
  assert.equal(
    valueOf(text, "compysition_actor_consumed_total", { actor: "sink" }),
    "7",
  );
  assert.equal(
    valueOf(text, "compysition_queue_in_total", {
      actor: "sink",
      queue: "inbox",
    }),
    "7",
  );
  assert.match(
    text,
    /^compysition_actor_consume_seconds_count\{actor="sink"\} 7$/m,
  );
  assert.match(
    text,
    /^compysition_actor_consume_seconds_bucket\{actor="sink",le="\+Inf"\} 7$/m,
  );
  // The same figures the router had, in the same format, but for the kinds
  // (metric events do not carry them) and the queues' failed_total.
  const live = router.metrics();
  const kept = prometheus.metrics().actors.sink!;
  assert.deepEqual(kept.queues, live.actors.sink!.queues);
  assert.deepEqual(kept.consume_seconds, live.actors.sink!.consume_seconds);
  assert.ok(toPrometheusText(prometheus.metrics()) === text);
  assert.ok(prometheus.time !== undefined);
});

Deno.test("prometheus with listen serves its figures at GET /metrics", async () => {
  const { router, prometheus } = await prometheusPipeline({
    listen: "127.0.0.1:0",
  });
  try {
    await router.finished;
    const url = `http://127.0.0.1:${prometheus.port}/metrics`;
    const text = await pollUntil(
      async () => {
        const response = await fetch(url);
        assert.equal(
          response.headers.get("content-type"),
          "text/plain; version=0.0.4; charset=utf-8",
        );
        return await response.text();
      },
      (text) => /consumed_total\{actor="sink"\} 3/.test(text),
      "the sink's 3 events in the figures",
      200,
      20,
    );
    assert.equal(
      valueOf(text, "compysition_actor_consumed_total", { actor: "sink" }),
      "3",
    );
    const other = await fetch(`http://127.0.0.1:${prometheus.port}/`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  } finally {
    await router.stop();
  }
  assert.equal(prometheus.port, undefined, "it stopped serving");
});

Deno.test("prometheus sends what is not a metric event to error and rejects a bad listen address", async () => {
  const router = new Router();
  router.register(
    new ListInput("input", [
      { header: { metric: { time: "", actor: "a" } }, data: { x_total: 1 } },
      { header: {}, data: 1 },
      { header: { metric: { time: "", actor: "a" } }, data: { x: "text" } },
    ]),
  );
  const prometheus = router.register(new Prometheus("prometheus"));
  const errors = router.register(new Collector("errors"));
  router.connect("input.outbox", "prometheus.inbox");
  router.connect("prometheus.error", "errors.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.equal(errors.events.length, 2);
  assert.match(
    (errors.events[0]!.header.error as { message: string }).message,
    /Not a metric event/,
  );
  assert.match(
    prometheus.text(),
    /^compysition_actor_x_total\{actor="a"\} 1$/m,
  );
  assert.match(
    prometheus.text(),
    /^# TYPE compysition_actor_x_total counter$/m,
  );
  assert.throws(
    () => new Prometheus("p", { listen: "nowhere" }),
    /HOST:PORT/,
  );
});

Deno.test("prometheus options: tls needs listen", () => {
  const result = PrometheusOptions.safeParse({
    tls: { cert: "server.pem", key: "server.key" },
  });
  assert.equal(result.success, false);
  assert.ok(
    result.error!.issues.some((issue) =>
      issue.path.join(".") === "tls" &&
      issue.message === '"tls" needs "listen": the address to serve HTTPS on'
    ),
  );
});
