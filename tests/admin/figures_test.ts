/**
 * One accounting everywhere: the stop report, `/metrics` and
 * `/api/pipeline` (which the dashboard draws) give the same totals for a pipeline that delivers,
 * filters, fails to an error queue and drops.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Actor, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { Router } from "../../core/router.ts";
import { AdminServer } from "../../admin/server.ts";
import type { ActorView, PipelineView } from "../../admin/pipeline.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";

/**
 * Sends odd numbers on, filters the multiples of 4 and fails the other
 * even numbers.
 */
class Sorter extends Actor {
  readonly kind = "transform";

  override consume(event: Event, context: Context): Promise<void> | void {
    const n = event.data as number;
    if (n % 2 === 1) return context.send(event);
    if (n % 4 === 0) return;
    throw new Error(`${n} is even`);
  }
}

/** An output that takes a while for each event, so that its queue drops. */
class Slow extends Collector {
  override async consume(event: Event, context: Context): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    super.consume(event, context);
  }
}

/** The sum over every sample of `name` in a Prometheus text `page`. */
function sumOf(page: string, name: string): number {
  let sum = 0;
  for (const line of page.split("\n")) {
    if (line.startsWith(`${name}{`)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

Deno.test("the stop report, /metrics and /api/pipeline give the same totals", async () => {
  const router = new Router({ logLevel: "fatal", metricsIntervalMs: 0 });
  router.register(new ListInput("input", numbered(400)));
  router.register(new Sorter("sorter"));
  const sink = router.register(new Slow("sink")) as Slow;
  const errorSink = router.register(new Collector("errors"));
  router.connect("input.outbox", "sorter.inbox");
  router.connect("sorter.outbox", "sink.inbox", {
    capacity: 4,
    whenFull: "drop_newest",
  });
  router.connect("sorter.error", "errors.inbox");
  const admin = new AdminServer({ router, port: 0 });
  try {
    await router.start();
    await router.finished;
    const page = await (await fetch(new URL("/metrics", admin.url))).text();
    const view = await (await fetch(new URL("/api/pipeline", admin.url)))
      .json() as PipelineView;
    const report = await router.stop();

    assert.equal(report.created, 400);
    assert.equal(report.filtered, 100);
    assert.equal(report.errors, 100);
    assert.equal(errorSink.events.length, 100);
    assert.ok(report.dropped > 0, "the slow sink's queue dropped");
    assert.equal(report.delivered, sink.events.length);
    assert.equal(report.delivered + report.dropped, 200);
    assert.equal(report.unaccounted, 0);

    const metrics = {
      created: sumOf(page, "compysition_actor_created_total"),
      delivered: sumOf(page, "compysition_actor_delivered_total"),
      errors: sumOf(page, "compysition_actor_errors_total"),
      filtered: sumOf(page, "compysition_actor_filtered_total"),
      dropped: sumOf(page, "compysition_queue_dropped_total"),
    };
    const { created, delivered, errors, filtered, dropped, failed } = report;
    assert.deepEqual(metrics, {
      created,
      delivered,
      errors,
      filtered,
      dropped,
    });

    const sum = (figure: (actor: ActorView) => number) =>
      view.actors.reduce((total, actor) => total + figure(actor), 0);
    assert.deepEqual(
      {
        created: sum((actor) => actor.created_total),
        delivered: sum((actor) => actor.delivered_total),
        errors: sum((actor) => actor.errors_total),
        filtered: sum((actor) => actor.filtered_total),
        dropped: view.connections.reduce(
          (total, connection) => total + connection.dropped_total,
          0,
        ),
        failed: sum((actor) => actor.lost_total),
      },
      { created, delivered, errors, filtered, dropped, failed },
    );
  } finally {
    await admin.close();
    await router.stop();
  }
});
