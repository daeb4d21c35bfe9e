import assert from "node:assert/strict";
import { emptyFigures } from "../../core/actor.ts";
import type { PipelineMetrics } from "../../core/metrics.ts";
import { rate, ratesBetween, RateWindow } from "../../admin/rates.ts";

function figures(consumed: number, inTotal: number): PipelineMetrics {
  return {
    time: "",
    actors: {
      sink: {
        kind: "output",
        ...emptyFigures(),
        consumed_total: consumed,
        consume_seconds: { bounds: [], buckets: [], sum: 0, count: consumed },
        queues: {
          inbox: {
            in_total: inTotal,
            out_total: consumed,
            dropped_total: 0,
            abandoned_total: 0,
            discarded_total: 0,
            failed_total: 0,
            depth: inTotal - consumed,
            capacity: 100,
          },
        },
      },
    },
  };
}

Deno.test("rate is the change per second, and 0 when no time passed or the counter went back", () => {
  assert.equal(rate(10, 40, 2), 15);
  assert.equal(rate(10, 40, 0), 0);
  assert.equal(rate(40, 10, 2), 0);
});

Deno.test("ratesBetween gives events per second of every actor and queue", () => {
  const rates = ratesBetween(figures(0, 0), figures(20, 30), 2);
  assert.deepEqual(rates, {
    seconds: 2,
    actors: {
      sink: {
        consumed_rate: 10,
        failed_rate: 0,
        queues: { inbox: { in_rate: 15, out_rate: 10, dropped_rate: 0 } },
      },
    },
  });
  // An actor new since the older figures counts from 0.
  const fresh = ratesBetween({ time: "", actors: {} }, figures(4, 4), 4);
  assert.equal(fresh.actors.sink?.consumed_rate, 1);
});

Deno.test("RateWindow computes rates over the figures of its window only", () => {
  const window = new RateWindow(5);
  assert.deepEqual(window.rates(), { seconds: 0, actors: {} });
  window.add(figures(0, 0), 100);
  assert.equal(window.rates().seconds, 0);
  assert.equal(window.rates().actors.sink?.consumed_rate, 0);
  window.add(figures(100, 100), 101);
  assert.equal(window.rates().actors.sink?.consumed_rate, 100);
  // Slower later: once the fast second leaves the window, the rate follows.
  for (let t = 102; t <= 110; t++) {
    window.add(figures(100 + (t - 101) * 10, 100 + (t - 101) * 10), t);
  }
  const rates = window.rates();
  assert.ok(rates.seconds <= 6 && rates.seconds >= 5);
  assert.equal(rates.actors.sink?.consumed_rate, 10);
  assert.throws(() => new RateWindow(0), RangeError);
});

Deno.test("ratesBetween counts an actor named as a property of every object (toString, constructor) from 0 when the older figures lack it", () => {
  const named = (name: string, consumed: number): PipelineMetrics => ({
    time: "",
    actors: { [name]: figures(consumed, consumed).actors.sink! },
  });
  for (const name of ["toString", "constructor", "hasOwnProperty"]) {
    // An actor added by a reload is missing from the figures before it.
    const rates = ratesBetween(figures(0, 0), named(name, 8), 2);
    assert.deepEqual(rates.actors[name], {
      consumed_rate: 4,
      failed_rate: 0,
      queues: { inbox: { in_rate: 4, out_rate: 4, dropped_rate: 0 } },
    });
  }
  // And a queue named so, missing before, counts from 0 too.
  const older = figures(0, 0);
  const newer = figures(6, 6);
  newer.actors.sink!.queues["valueOf"] = newer.actors.sink!.queues.inbox!;
  assert.deepEqual(
    ratesBetween(older, newer, 2).actors.sink?.queues["valueOf"],
    {
      in_rate: 3,
      out_rate: 3,
      dropped_rate: 0,
    },
  );
});
