/**
 * A test helper for stages (transform and flow actors): runs a list of values
 * through one actor and collects what leaves each of its outbound queues.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Actor } from "../../core/actor.ts";
import { Router, type StopReport } from "../../core/router.ts";
import { Collector, ListInput } from "../helpers.ts";

/** What {@link runStage} saw. */
export interface StageRun {
  /** A collector per outbound queue named in `queues`. */
  out: Record<string, Collector>;
  /** What reached the actor's `error` queue. */
  errors: Collector;
  /** The router's stop report. */
  report: StopReport;
  /** Log lines of the router, at debug level and above. */
  logs: string[];
}

/**
 * Sends `values` through `actor` (input -> actor -> a collector on each of
 * `queues` and one on `error`), waits until the pipeline finished by itself
 * and stops it. Fails when the stop report does not account for every
 * event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonDecode } from "../../actors/transform/json_decode.ts";
 * import { sequenced } from "../helpers.ts";
 * const { out, errors } = await runStage(new JsonDecode("decode"), sequenced(['{"a":1}', "oops"]));
 * assert.deepEqual(out.outbox!.data(), [{ a: 1 }]);
 * assert.equal(errors.events.length, 1);
 * ```
 */
export async function runStage(
  actor: Actor,
  values: unknown[],
  queues: readonly string[] = ["outbox"],
): Promise<StageRun> {
  const router = new Router({ logLevel: "debug" });
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", values));
  router.register(actor);
  const errors = router.register(new Collector("errors")) as Collector;
  const out: Record<string, Collector> = {};
  router.connect("input.outbox", `${actor.name}.inbox`);
  router.connect(`${actor.name}.error`, "errors.inbox");
  for (const queue of queues) {
    out[queue] = router.register(new Collector(`out_${queue}`)) as Collector;
    router.connect(`${actor.name}.${queue}`, `out_${queue}.inbox`);
  }
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(
    report.unaccounted,
    0,
    `every event is accounted for: ${JSON.stringify(report)}`,
  );
  return { out, errors, report, logs: logs.data().map(String) };
}
