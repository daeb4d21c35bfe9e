/**
 * Helpers for the admin tests: pipelines to look at and an output whose
 * health the test sets.
 *
 * @module
 */

import { Router } from "../../core/router.ts";
import { Generator } from "../../actors/input/generator.ts";
import { Fanout } from "../../actors/flow/fanout.ts";
import { Pass } from "../core/fixtures.ts";
import { Collector } from "../helpers.ts";

/** An output whose `health()` says what the test sets. */
export class Unhealthy extends Collector {
  /** Why it is not ready; `undefined` when it is. */
  problem: string | undefined = "The database is down";

  override health(): { ready: boolean; reason?: string } {
    return this.problem === undefined
      ? { ready: true }
      : { ready: false, reason: this.problem };
  }
}

/**
 * `input` (a generator, an event every `intervalMs`, without end) ->
 * `stage` -> `sink` (a collector).
 */
export function chain(intervalMs = 1): {
  router: Router;
  sink: Collector;
} {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(
    new Generator("input", { interval: intervalMs / 1000, data: "n={{seq}}" }),
  );
  router.register(new Pass("stage"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  return { router, sink };
}

/**
 * A pipeline of 50 actors: `input` (a generator) -> `split` (fanout to 8
 * branches) -> 5 stages per branch -> a sink per branch.
 */
export function fiftyActors(intervalMs = 5): {
  router: Router;
  names: string[];
  sinks: Collector[];
} {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(
    new Generator("input", { interval: intervalMs / 1000, data: { n: 1 } }),
  );
  router.register(new Fanout("split"));
  router.connect("input.outbox", "split.inbox");
  const sinks: Collector[] = [];
  for (let branch = 1; branch <= 8; branch++) {
    let previous = `split.b${branch}`;
    for (let stage = 1; stage <= 5; stage++) {
      const name = `branch${branch}_stage${stage}`;
      router.register(new Pass(name));
      router.connect(previous, `${name}.inbox`);
      previous = `${name}.outbox`;
    }
    const sink = router.register(new Collector(`branch${branch}_sink`));
    router.connect(previous, `${sink.name}.inbox`);
    sinks.push(sink);
  }
  return { router, names: router.actors().map((a) => a.name), sinks };
}
