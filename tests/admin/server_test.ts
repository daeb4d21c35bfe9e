import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Router } from "../../core/router.ts";
import { AdminServer, parseListenAddress } from "../../admin/server.ts";
import type { PipelineView } from "../../admin/pipeline.ts";
import { Collector, eventually, ListInput, numbered } from "../helpers.ts";
import { serverSentEvents } from "../../admin/client.ts";
import { Pass, suppressedCount } from "../core/fixtures.ts";
import {
  type LogEvent,
  routeLogs,
  scopedLogger,
  unrouteLogs,
} from "../../core/log.ts";
import { chain, getWithHost, rawRequest, Unhealthy } from "./support.ts";

/** What parse-prometheus-text-format returns for one metric family. */
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

const parsePrometheus = parsePrometheusTextFormat as (
  text: string,
) => Family[];

async function get(
  admin: AdminServer,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; type: string | null }> {
  const response = await fetch(new URL(path, admin.url), init);
  return {
    status: response.status,
    body: await response.text(),
    type: response.headers.get("content-type"),
  };
}

/** A pipeline of 10 events that finished: input -> stage -> sink. */
async function finishedPipeline(): Promise<Router> {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new ListInput("input", numbered(10)));
  router.register(new Pass("stage"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  return router;
}

Deno.test("AdminServer binds 127.0.0.1 by default and answers /health with 200", async () => {
  const router = new Router();
  const admin = new AdminServer({ router, port: 0 });
  try {
    assert.match(admin.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const health = await get(admin, "/health");
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: "alive" });
    const unknown = await get(admin, "/nothing");
    assert.equal(unknown.status, 404);
    const post = await get(admin, "/health", { method: "POST" });
    assert.equal(post.status, 405);
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("AdminServer requires the token on every route but /health", async () => {
  const router = await finishedPipeline();
  const admin = new AdminServer({ router, port: 0, token: "s3cret" });
  try {
    assert.equal((await get(admin, "/health")).status, 200);
    for (const path of ["/", "/ready", "/metrics", "/api/pipeline"]) {
      const refused = await get(admin, path);
      assert.equal(refused.status, 401, `${path} without a token`);
      const wrong = await get(admin, path, {
        headers: { authorization: "Bearer s3cre" },
      });
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
    }
    const bearer = await get(admin, "/api/pipeline", {
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(bearer.status, 200);
    const query = await get(admin, "/metrics?token=s3cret");
    assert.equal(query.status, 200);
    const tap = await get(admin, "/api/tap?queue=sink.inbox");
    assert.equal(tap.status, 401);
  } finally {
    await admin.close();
    await router.stop();
  }
});

/** A logger for the admin server, and the messages of what it logged. */
function capturedLog(): {
  log: ReturnType<typeof scopedLogger>;
  lines: () => LogEvent[];
  [Symbol.dispose](): void;
} {
  const seen: LogEvent[] = [];
  const scope = routeLogs((event) => seen.push(event));
  return {
    log: scopedLogger(scope, "admin"),
    lines: () => seen,
    [Symbol.dispose]: () => unrouteLogs(scope),
  };
}

Deno.test("AdminServer answers only to a Host naming its own address, a loopback name or an allowed one, and logs the others", async () => {
  const router = await finishedPipeline();
  using captured = capturedLog();
  const admin = new AdminServer({
    router,
    port: 0,
    allowedHosts: ["admin.example.com", "proxy.example:8443"],
    log: captured.log,
  });
  const port = admin.port;
  try {
    for (
      const host of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        `LocalHost:${port}`,
        `[::1]:${port}`,
        "admin.example.com",
        "admin.example.com:443",
        "proxy.example:8443",
      ]
    ) {
      const answer = await getWithHost(port, "/api/pipeline", host);
      assert.equal(answer.status, 200, `Host: ${host}`);
    }
    for (
      const host of [
        `attacker.example:${port}`,
        `127.0.0.1:${port + 1}`,
        "127.0.0.1",
        `localhost.:${port}`,
        "proxy.example:80",
        `10.0.0.1:${port}`,
      ]
    ) {
      const answer = await getWithHost(
        port,
        "/api/tap?queue=sink.inbox&limit=1",
        host,
      );
      assert.equal(answer.status, 421, `Host: ${host}`);
      assert.equal(
        JSON.parse(answer.body).error,
        `This server does not answer to the host "${host}": it answers to 127.0.0.1:${port}, localhost:${port}, [::1]:${port}, proxy.example:8443, admin.example.com (any port) (allow more names with --admin-allow-host or allowedHosts)`,
      );
    }
    // The same over a plain connection, and without any Host.
    const raw = await rawRequest(
      port,
      `GET /api/pipeline HTTP/1.1\r\nHost: attacker.example:${port}\r\n`,
    );
    assert.equal(raw.status, 421);
    assert.match(
      JSON.parse(raw.body).error,
      /^This server does not answer to the host "attacker\.example:/,
    );
    const none = await rawRequest(port, "GET /api/pipeline HTTP/1.0\r\n");
    assert.equal(none.status, 421);
    const fine = await rawRequest(
      port,
      `GET /api/pipeline HTTP/1.1\r\nHost: localhost:${port}\r\n`,
    );
    assert.equal(fine.status, 200);
    assert.equal(admin.taps, 0, "a refused tap observes nothing");
    captured[Symbol.dispose](); // hands over the summary of what was held back
    const lines = captured.lines();
    const refused = lines.filter((event) => event.data.startsWith("Refused"));
    assert.equal(refused[0]!.header.log.level, "warning");
    assert.equal(
      refused[0]!.data,
      `Refused a request for /api/tap from 127.0.0.1: Host "attacker.example:${port}" is not a name of this server`,
    );
    // 8 refusals: each logged or counted in a summary (rate-limited).
    const suppressed = suppressedCount(lines);
    assert.equal(refused.length + suppressed, 8);
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("AdminServer logs every request refused for its token, rate-limited", async () => {
  const router = await finishedPipeline();
  using captured = capturedLog();
  const admin = new AdminServer({
    router,
    port: 0,
    token: "s3cret",
    log: captured.log,
  });
  try {
    for (let i = 0; i < 50; i++) {
      const answer = await getWithHost(
        admin.port,
        "/metrics",
        `127.0.0.1:${admin.port}`,
        { authorization: `Bearer guess${i}` },
      );
      assert.equal(answer.status, 401);
    }
  } finally {
    await admin.close();
    await router.stop();
  }
  captured[Symbol.dispose](); // hands over the summary of what was held back
  const lines = captured.lines();
  const refused = lines.filter((event) => event.data.startsWith("Refused"));
  assert.equal(
    refused[0]!.data,
    "Refused a request for /metrics from 127.0.0.1: the token is missing or wrong",
  );
  const suppressed = suppressedCount(lines);
  assert.ok(suppressed > 0, "repeated refusals are summed up");
  assert.equal(refused.length + suppressed, 50, "every refusal is counted");
  assert.ok(
    lines.every((event) => !JSON.stringify(event).includes("guess")),
    "the token given is not logged",
  );
});

Deno.test("AdminServer refuses to listen on a non-loopback address without a token, unless insecure", async () => {
  const router = new Router();
  assert.throws(
    () => new AdminServer({ router, hostname: "0.0.0.0", port: 0 }),
    {
      name: "RangeError",
      message:
        'AdminServer: refusing to listen on "0.0.0.0" without a token: anyone who can reach it could read the pipeline\'s events. Give a token, or set "insecure" to listen there anyway',
    },
  );
  assert.throws(
    () =>
      new AdminServer({ router, port: 0, allowedHosts: ["http://a.example/"] }),
    {
      name: "RangeError",
      message:
        'allowedHosts: "http://a.example/" is not a host name, "NAME:PORT" or "[IPV6]:PORT"',
    },
  );
  // On every address, it answers to any IP address with its port (what a
  // load balancer or a Kubernetes probe sends), never to another name.
  for (const options of [{ token: "t" }, { insecure: true }]) {
    const admin = new AdminServer({
      router,
      hostname: "0.0.0.0",
      port: 0,
      ...options,
    });
    try {
      const port = admin.port;
      for (const host of [`10.1.2.3:${port}`, `[fd00::1]:${port}`]) {
        const answer = await getWithHost(port, "/health", host);
        assert.equal(answer.status, 200, host);
      }
      for (const host of [`attacker.example:${port}`, `10.1.2.3:${port + 1}`]) {
        const answer = await getWithHost(port, "/health", host);
        assert.equal(answer.status, 421, host);
      }
    } finally {
      await admin.close();
    }
  }
  await router.stop();
});

Deno.test("/ready is 200 while every actor runs and is healthy, 503 naming the one that is not", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  const { promise: release, resolve } = Promise.withResolvers<void>();
  router.register(new ListInput("input", numbered(3)));
  const db = router.register(new Unhealthy("db"));
  router.connect("input.outbox", "db.inbox");
  const admin = new AdminServer({ router, port: 0 });
  try {
    const before = await get(admin, "/ready");
    assert.equal(before.status, 503);
    assert.equal(JSON.parse(before.body).state, "new");

    // Keep the input running until the test lets it finish.
    (router.actor("input") as ListInput).produce = async () => {
      await release;
    };
    await router.start();
    const unhealthy = await get(admin, "/ready");
    assert.equal(unhealthy.status, 503);
    assert.deepEqual(JSON.parse(unhealthy.body), {
      ready: false,
      state: "running",
      not_ready: [{
        name: "db",
        state: "running",
        reason: "The database is down",
      }],
    });

    db.problem = undefined;
    const ready = await get(admin, "/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), {
      ready: true,
      state: "running",
    });

    resolve();
    await router.finished;
    const finished = await get(admin, "/ready");
    assert.equal(finished.status, 503);
    assert.deepEqual(
      JSON.parse(finished.body).not_ready.map((a: { name: string }) => a.name),
      ["input", "db"],
    );
  } finally {
    resolve();
    await admin.close();
    await router.stop();
  }
});

Deno.test("/metrics is the Prometheus text format that an independent parser reads back", async () => {
  const router = await finishedPipeline();
  const admin = new AdminServer({ router, port: 0 });
  try {
    const response = await get(admin, "/metrics");
    assert.equal(response.status, 200);
    assert.equal(response.type, "text/plain; version=0.0.4; charset=utf-8");
    const families = new Map(
      parsePrometheus(response.body).map((family) => [family.name, family]),
    );
    const value = (name: string, labels: Record<string, string>) => {
      const family = families.get(name);
      assert.ok(family !== undefined, `${name} is present`);
      const sample = family.metrics.find((metric) =>
        JSON.stringify(metric.labels) === JSON.stringify(labels)
      );
      assert.ok(sample !== undefined, `${name}${JSON.stringify(labels)}`);
      return Number(sample.value);
    };
    for (
      const [name, type] of [
        ["compysition_queue_in_total", "COUNTER"],
        ["compysition_queue_out_total", "COUNTER"],
        ["compysition_queue_dropped_total", "COUNTER"],
        ["compysition_queue_failed_total", "COUNTER"],
        ["compysition_queue_depth", "GAUGE"],
        ["compysition_queue_capacity", "GAUGE"],
        ["compysition_actor_consumed_total", "COUNTER"],
        ["compysition_actor_failed_total", "COUNTER"],
        ["compysition_actor_consume_seconds", "HISTOGRAM"],
      ]
    ) {
      assert.equal(families.get(name!)?.type, type, `${name} is a ${type}`);
      assert.notEqual(families.get(name!)?.help, "", `${name} has help`);
    }
    const sink = { actor: "sink", queue: "inbox" };
    assert.equal(value("compysition_queue_in_total", sink), 10);
    assert.equal(value("compysition_queue_out_total", sink), 10);
    assert.equal(value("compysition_queue_dropped_total", sink), 0);
    assert.equal(value("compysition_queue_failed_total", sink), 0);
    assert.equal(value("compysition_queue_depth", sink), 0);
    assert.equal(value("compysition_queue_capacity", sink), 1024);
    assert.equal(
      value("compysition_queue_out_total", { actor: "stage", queue: "outbox" }),
      10,
    );
    assert.equal(
      value("compysition_actor_consumed_total", { actor: "sink" }),
      10,
    );
    assert.equal(
      value("compysition_actor_failed_total", { actor: "stage" }),
      0,
    );
    // The parser folds labelled histograms into one sample (it keeps the
    // family's type only): read the series again as untyped samples.
    const series = parsePrometheus(
      response.body.replace(/^# TYPE \S+ histogram$/gm, ""),
    ).flatMap((family) =>
      family.metrics.map((metric) => ({ name: family.name, ...metric }))
    );
    const sinkSeries = (name: string) =>
      series.filter((s) => s.name === name && s.labels?.actor === "sink");
    const buckets = sinkSeries("compysition_actor_consume_seconds_bucket");
    assert.deepEqual(
      buckets.map((s) => s.labels?.le),
      [
        "0.000001",
        "0.00001",
        "0.0001",
        "0.001",
        "0.01",
        "0.1",
        "1",
        "10",
        "+Inf",
      ],
    );
    const counts = buckets.map((s) => Number(s.value));
    for (let i = 1; i < counts.length; i++) {
      assert.ok(counts[i]! >= counts[i - 1]!, "buckets are cumulative");
    }
    assert.equal(counts.at(-1), 10);
    const [count] = sinkSeries("compysition_actor_consume_seconds_count");
    assert.equal(Number(count?.value), 10);
    const [sum] = sinkSeries("compysition_actor_consume_seconds_sum");
    assert.ok(Number(sum?.value) >= 0);
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("/metrics escapes label values so that odd actor names read back as they are", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  const name = 'odd "name" \\ with\nnewline';
  router.register(new ListInput("input", numbered(2)));
  router.register(new Collector(name));
  router.connect("input.outbox", `${name}.inbox`);
  await router.start();
  await router.finished;
  const admin = new AdminServer({ router, port: 0 });
  try {
    const families = parsePrometheus((await get(admin, "/metrics")).body);
    const consumed = families.find((family) =>
      family.name === "compysition_actor_consumed_total"
    )!;
    assert.deepEqual(
      consumed.metrics.find((metric) => metric.labels?.actor === name)?.value,
      "2",
    );
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("/api/pipeline gives the topology, live counters and rates", async () => {
  const { router, sink } = chain(2);
  const admin = new AdminServer({
    router,
    port: 0,
    sampleIntervalMs: 50,
    types: { input: "generator" },
  });
  try {
    await router.start();
    await sink.waitFor(5);
    const view = await eventually(async () => {
      const got = JSON.parse(
        (await get(admin, "/api/pipeline")).body,
      ) as PipelineView;
      return got.connections.every((c) => c.in_rate > 0) ? got : undefined;
    }, "rates above 0");
    assert.equal(view.state, "running");
    assert.ok(view.rate_seconds > 0);
    assert.deepEqual(
      view.actors.map((a) => [a.name, a.kind, a.column, a.state]),
      [
        ["input", "input", 0, "running"],
        ["stage", "transform", 1, "running"],
        ["sink", "output", 2, "running"],
      ],
    );
    assert.equal(view.actors[0]!.type, "generator");
    assert.deepEqual(
      view.connections.map((c) => [c.from, c.to, c.capacity]),
      [["input.outbox", "stage.inbox", 1024], [
        "stage.outbox",
        "sink.inbox",
        1024,
      ]],
    );
    const stage = view.actors[1]!;
    assert.ok(stage.consumed_total >= 5);
    assert.ok(stage.consumed_rate > 0);
    const inbox = stage.queues.find((q) => q.name === "inbox")!;
    assert.equal(inbox.direction, "inbound");
    assert.equal(inbox.connected, "input.outbox");
    assert.equal(inbox.address, "stage.inbox");
    const outbox = stage.queues.find((q) => q.name === "outbox")!;
    assert.equal(outbox.direction, "outbound");
    assert.equal(outbox.connected, "sink.inbox");
    // Counters are read live: a later view has seen more events.
    const later = await eventually(async () => {
      const got = JSON.parse(
        (await get(admin, "/api/pipeline")).body,
      ) as PipelineView;
      return got.actors[2]!.consumed_total > view.actors[2]!.consumed_total
        ? got
        : undefined;
    }, "the sink's counter to rise");
    assert.ok(later.connections[1]!.in_total > view.connections[1]!.in_total);
  } finally {
    await admin.close();
    await router.stop();
  }
});

/** Reads the server-sent events of a tap until `count` messages came. */
async function readTap(
  response: Response,
  count: number,
): Promise<{ open: unknown; messages: { id?: string; data: string }[] }> {
  let open: unknown;
  const messages: { id?: string; data: string }[] = [];
  for await (
    const event of serverSentEvents(
      response.body!.pipeThrough(new TextDecoderStream()),
    )
  ) {
    if (event.event === "open") open = JSON.parse(event.data);
    else if (event.event === "message") messages.push(event);
    if (messages.length === count) break;
  }
  return { open, messages };
}

Deno.test("/api/tap streams the events passing a queue as server-sent events, up to the limit", async () => {
  const { router, sink } = chain(1);
  const admin = new AdminServer({ router, port: 0 });
  try {
    await router.start();
    const response = await fetch(
      new URL("/api/tap?queue=stage.outbox&limit=5&rate=1000", admin.url),
    );
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/event-stream; charset=utf-8",
    );
    const { open, messages } = await readTap(response, 100);
    // The stream ended by itself after 5 events.
    assert.deepEqual(open, { queue: "sink.inbox", rate: 1000, limit: 5 });
    assert.deepEqual(messages.map((m) => m.id), ["1", "2", "3", "4", "5"]);
    const events = messages.map((m) => JSON.parse(m.data));
    const seqs = events.map((e) => e.header.input.seq as number);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!);
    assert.deepEqual(events[0], {
      header: { input: { seq: seqs[0] } },
      data: `n=${seqs[0]}`,
    });
    assert.equal(admin.taps, 0, "the tap stopped observing at its limit");
    // The pipeline went on all along.
    await sink.waitFor(Math.max(...seqs) + 1);
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("/api/tap stops observing the queue when the client goes away", async () => {
  const { router, sink } = chain(1);
  const admin = new AdminServer({ router, port: 0 });
  try {
    await router.start();
    const client = new AbortController();
    const response = await fetch(
      new URL("/api/tap?queue=sink.inbox", admin.url),
      { signal: client.signal },
    );
    const { messages } = await readTap(response, 2);
    assert.equal(messages.length, 2);
    assert.equal(admin.taps, 1, "one tap observes the queue");
    client.abort();
    await eventually(
      () => admin.taps === 0 ? true : undefined,
      "the tap to stop observing",
    );
    // Events keep flowing with no one observing.
    const seen = sink.events.length;
    await sink.waitFor(seen + 10);
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("/api/tap says what is wrong with the queue asked for", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new ListInput("input", []));
  router.register(new Pass("stage"));
  router.connect("input.outbox", "stage.inbox");
  const admin = new AdminServer({ router, port: 0 });
  try {
    const cases: [string, number, string][] = [
      ["/api/tap", 400, 'Missing "queue", e.g. "?queue=a.outbox"'],
      [
        "/api/tap?queue=stag.inbox",
        404,
        'Cannot tap "stag.inbox": actor "stag" is not registered; did you mean "stage"?',
      ],
      [
        "/api/tap?queue=stage.inbx",
        404,
        'Cannot tap "stage.inbx": actor "stage" has no queue "inbx"; did you mean "inbox"?',
      ],
      [
        "/api/tap?queue=stage.outbox",
        404,
        'Cannot tap "stage.outbox": it is not connected, so no event passes it',
      ],
      [
        "/api/tap?queue=stage.inbox&limit=0",
        400,
        '"limit" must be a whole number of at least 1, not "0"',
      ],
    ];
    for (const [path, status, error] of cases) {
      const response = await get(admin, path);
      assert.equal(response.status, status, path);
      assert.deepEqual(JSON.parse(response.body), { error }, path);
    }
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("AdminServer.close ends open taps so that it stops at once", async () => {
  const { router } = chain(1);
  const admin = new AdminServer({ router, port: 0 });
  await router.start();
  const response = await fetch(new URL("/api/tap?queue=sink.inbox", admin.url));
  const text = response.body!.pipeThrough(new TextDecoderStream());
  const reading = (async () => {
    let all = "";
    for await (const chunk of text) all += chunk;
    return all;
  })();
  await eventually(() => admin.taps === 1 ? true : undefined, "the tap");
  await admin.close();
  assert.match(await reading, /^event: open\n/);
  assert.equal(admin.taps, 0);
  await router.stop();
});

Deno.test("parseListenAddress reads HOST:PORT, [IPV6]:PORT and a port alone", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9630"), {
    hostname: "127.0.0.1",
    port: 9630,
  });
  assert.deepEqual(parseListenAddress("0.0.0.0:80"), {
    hostname: "0.0.0.0",
    port: 80,
  });
  assert.deepEqual(parseListenAddress(":9000"), {
    hostname: "127.0.0.1",
    port: 9000,
  });
  assert.deepEqual(parseListenAddress("9000"), {
    hostname: "127.0.0.1",
    port: 9000,
  });
  assert.deepEqual(parseListenAddress("[::1]:0"), { hostname: "::1", port: 0 });
  for (const bad of ["", "host", "host:", "1.2.3.4:70000", "a:b:1"]) {
    assert.throws(() => parseListenAddress(bad), RangeError, bad);
  }
});
