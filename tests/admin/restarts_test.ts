import assert from "node:assert/strict";
import { Router } from "../../core/router.ts";
import { AdminServer } from "../../admin/server.ts";
import type { PipelineView } from "../../admin/pipeline.ts";
import { Collector, eventually } from "../helpers.ts";
import { Flaky } from "./support.ts";

Deno.test("the admin API and /metrics show an actor's restarts and its phase", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Flaky("input", 2));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  const admin = new AdminServer({ router, port: 0 });
  try {
    await router.start();
    await sink.waitFor(3);
    const view = await eventually(async () => {
      const response = await fetch(new URL("/api/pipeline", admin.url));
      const pipeline = await response.json() as PipelineView;
      const input = pipeline.actors.find((actor) => actor.name === "input")!;
      return input.restarts_total === 2 && input.phase === "running"
        ? pipeline
        : undefined;
    }, "the restarts to show in /api/pipeline");
    assert.equal(view.state, "running");
    const metrics = await (await fetch(new URL("/metrics", admin.url)))
      .text();
    assert.match(
      metrics,
      /\n# TYPE compysition_actor_restarts_total counter\n/,
    );
    assert.match(
      metrics,
      /\ncompysition_actor_restarts_total\{actor="input"\} 2\n/,
    );
    assert.deepEqual(sink.data(), [1, 2, 3]);
  } finally {
    await admin.close();
    const report = await router.stop();
    assert.deepEqual(report.gaveUp, []);
    assert.deepEqual(
      report.crashed.map(({ actor, restarted }) => ({ actor, restarted })),
      [{ actor: "input", restarted: true }, {
        actor: "input",
        restarted: true,
      }],
    );
  }
});
