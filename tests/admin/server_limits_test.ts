import assert from "node:assert/strict";
import { AdminServer, DEFAULT_ADMIN_LIMITS } from "../../admin/server.ts";
import { Router } from "../../core/router.ts";
import { pollUntil, within } from "../helpers.ts";
import { RawClient } from "../raw_http.ts";

const GIVE_UP_MS = 10_000;

Deno.test("AdminServer keeps at most maxConnections open, closes silent ones, and still answers", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  const admin = new AdminServer({
    router,
    port: 0,
    limits: { maxConnections: 4, headerTimeoutMs: 100 },
  });
  const silent: RawClient[] = [];
  try {
    for (let i = 0; i < 20; i++) silent.push(await RawClient.open(admin.port));
    // The silent ones are closed (refused over the limit, or timed out)...
    for (const client of silent) {
      assert.equal(
        await within(client.closed, GIVE_UP_MS, "a silent connection to close"),
        "",
      );
    }
    // ...and real requests are answered.
    const health = await fetch(new URL("/health", admin.url));
    assert.deepEqual(await health.json(), { status: "alive" });
    const figures = admin.connectionFigures();
    assert.equal(figures.connections_total, 21);
    assert.equal(
      figures.connections_refused_total + figures.connections_shed_total +
        figures.connections_timed_out_total,
      20,
    );
    assert.ok(figures.connections_timed_out_total > 0);
  } finally {
    await Promise.all(silent.map((client) => client.close()));
    await admin.close();
    await router.stop();
  }
});

Deno.test("AdminServer closes a kept-alive connection after idleTimeoutMs, and has limits by default", async () => {
  assert.equal(DEFAULT_ADMIN_LIMITS.maxConnections, 128);
  const router = new Router({ metricsIntervalMs: 0 });
  const admin = new AdminServer({
    router,
    port: 0,
    limits: { idleTimeoutMs: 50 },
  });
  const client = await RawClient.open(
    admin.port,
    `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${admin.port}\r\n\r\n`,
  );
  try {
    const text = await within(client.closed, GIVE_UP_MS, "the idle close");
    assert.match(text, /^HTTP\/1\.1 200 /);
    await pollUntil(
      () => admin.connectionFigures().connections_timed_out_total,
      (count) => count === 1,
      "the timeout to be counted",
    );
  } finally {
    await client.close();
    await admin.close();
    await router.stop();
  }
});
