import assert from "node:assert/strict";
import { Router } from "../../../core/router.ts";
import type { MetricEvent } from "../../../core/metrics.ts";
import { Graphite } from "../../../actors/metric/graphite.ts";
import {
  Collector,
  eventually,
  freePort,
  ListInput,
  numbered,
} from "../../helpers.ts";
import { TIME } from "./fixtures.ts";

function metric(depth: number, queue = "inbox"): MetricEvent {
  return {
    header: { metric: { time: TIME, actor: "a", queue } },
    data: { depth, in_total: depth * 10, capacity: 100 },
  };
}

Deno.test("graphite writes one plaintext line per figure of the router's metric events", async () => {
  const carbon = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = (async () => {
    const conn = await carbon.accept();
    return await new Response(conn.readable).text();
  })();
  try {
    const router = new Router();
    const graphite = router.registerMetricActor(
      new Graphite("graphite", { port: carbon.addr.port, prefix: "prod.p1" }),
    ) as Graphite;
    router.register(new ListInput("input", numbered(3)));
    router.register(new Collector("sink"));
    router.connect("input.outbox", "sink.inbox");
    await router.start();
    await router.finished;
    await router.stop();
    const lines = (await received).split("\n").slice(0, -1);
    for (const line of lines) {
      assert.match(line, /^prod\.p1(\.[A-Za-z0-9_-]+)+ [0-9.e+-]+ \d+$/);
    }
    const figure = (path: string) =>
      lines.find((line) => line.startsWith(`${path} `))?.split(" ")[1];
    assert.equal(figure("prod.p1.sink.consumed_total"), "3");
    assert.equal(figure("prod.p1.sink.inbox.in_total"), "3");
    assert.equal(figure("prod.p1.sink.inbox.capacity"), "1024");
    assert.equal(figure("prod.p1.input.outbox.out_total"), "3");
    assert.equal(figure("prod.p1.sink.consume_seconds.count"), "3");
    assert.equal(figure("prod.p1.sink.consume_seconds.le_10"), "3");
    assert.ok(figure("prod.p1.sink.consume_seconds.le_0_001") !== undefined);
    assert.equal(graphite.figures().sent_lines_total, lines.length);
  } finally {
    carbon.close();
  }
});

Deno.test("graphite.lines names each figure by prefix, actor and queue, in Unix seconds", () => {
  assert.deepEqual(
    new Graphite("g", { prefix: "" }).lines({
      header: {
        metric: {
          time: "2026-01-01T00:00:10.900Z",
          actor: "a.b c",
          queue: "in",
        },
      },
      data: { depth: 2, bad: NaN },
    }),
    ["a_b_c.in.depth 2 1767225610\n"],
  );
});

Deno.test("graphite connects again with backoff after the server closes the connection", async () => {
  const carbon = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const graphite = new Graphite("g", {
    port: carbon.addr.port,
    reconnect_min_ms: 10,
    reconnect_max_ms: 40,
  });
  try {
    const first = carbon.accept();
    await graphite.setup();
    assert.deepEqual(graphite.health(), { ready: true });
    (await first).close();
    const second = await carbon.accept();
    await eventually(
      () => graphite.connections === 2 && graphite.connected || undefined,
      "the second connection",
    );
    graphite.consume(metric(7));
    await graphite.drained();
    await graphite.teardown();
    const text = await new Response(second.readable).text();
    assert.deepEqual(text.split("\n").slice(0, -1), [
      "compysition.a.inbox.depth 7 1767225600",
      "compysition.a.inbox.in_total 70 1767225600",
      "compysition.a.inbox.capacity 100 1767225600",
    ]);
  } finally {
    await graphite.teardown();
    carbon.close();
  }
});

Deno.test("graphite keeps max_buffer lines while the server is down, counts the drops, and sends the rest once it is up", async () => {
  const port = freePort();
  const graphite = new Graphite("g", {
    port,
    reconnect_min_ms: 10,
    reconnect_max_ms: 20,
    max_buffer: 5,
  });
  let carbon: Deno.TcpListener | undefined;
  try {
    await graphite.setup();
    const health = graphite.health();
    assert.equal(health.ready, false);
    assert.match(
      health.reason ?? "",
      new RegExp(`^Not connected to 127\\.0\\.0\\.1:${port}: `),
    );
    for (const depth of [1, 2, 3]) graphite.consume(metric(depth));
    assert.deepEqual(
      {
        dropped: graphite.figures().dropped_lines_total,
        buffered: graphite.figures().buffered_lines,
      },
      { dropped: 4, buffered: 5 },
    );
    carbon = Deno.listen({ hostname: "127.0.0.1", port });
    const conn = await carbon.accept();
    await eventually(() => graphite.connected || undefined, "a connection");
    await graphite.drained();
    await graphite.teardown();
    const text = await new Response(conn.readable).text();
    // The newest 5 of the 9 lines: the oldest 4 were dropped.
    assert.deepEqual(text.split("\n").slice(0, -1), [
      "compysition.a.inbox.in_total 20 1767225600",
      "compysition.a.inbox.capacity 100 1767225600",
      "compysition.a.inbox.depth 3 1767225600",
      "compysition.a.inbox.in_total 30 1767225600",
      "compysition.a.inbox.capacity 100 1767225600",
    ]);
    assert.equal(graphite.figures().sent_lines_total, 5);
  } finally {
    await graphite.teardown();
    carbon?.close();
  }
});
