import assert from "node:assert/strict";
import { connect, type Msg } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Actor, EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { natsOut, NatsOutOptions } from "../../../actors/output/nats_out.ts";
import { Collector, ListInput, schemaProblems, within } from "../../helpers.ts";
import { NATS_SERVER, startNatsServer } from "../../nats_server.ts";
import { testNeeding } from "../../requires.ts";

/** A test that needs nats-server: skipped, saying why, where it is missing. */
const test = testNeeding(NATS_SERVER);

const WAIT_MS = 15_000;

/** The core's counters of `actor`. */
function counts(actor: Actor) {
  const { consumed_total, failed_total } = actor.figures();
  return { consumed_total, failed_total };
}

/** Events `{ n }` for n = 1..count, headed for region eu (odd) or us. */
function orders(count: number): Event[] {
  return Array.from({ length: count }, (_, i) => ({
    header: {
      route: { region: i % 2 === 0 ? "eu" : "us" },
      trace: `trace-${i + 1}`,
    },
    data: { n: i + 1 },
  }));
}

/** Runs `events` through `nats_out` with `options`; returns the report and errors. */
async function publishAll(
  events: Event[],
  options: Record<string, unknown>,
) {
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(natsOut, "publish", options);
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "publish.inbox");
  router.connect("publish.error", "errors.inbox");
  await router.start();
  await within(router.finished, WAIT_MS, "the pipeline to finish");
  const report = await router.stop();
  return { report, errors, actor: router.actor("publish")! };
}

test("nats_out publishes each event to the subject of its template with its headers, once the stream acknowledged it", async () => {
  await using server = await startNatsServer();
  const { report, errors, actor } = await publishAll(orders(20), {
    servers: server.url,
    subject: "orders.{header.route.region}",
    headers: { "Trace-Id": "{header.trace}", "Absent": "{header.nothing}" },
    msg_id: "{data.n}",
    stream: "ORDERS",
    subjects: ["orders.>"],
    create: true,
    max_in_flight: 4,
  });
  assert.deepEqual(errors.events, []);
  assert.equal(report.delivered, 20);
  assert.equal(report.failed, 0);
  assert.deepEqual(counts(actor), { consumed_total: 20, failed_total: 0 });

  const connection = await connect({ servers: server.url });
  try {
    const manager = await jetstreamManager(connection);
    const info = await manager.streams.info("ORDERS");
    assert.equal(info.state.messages, 20, "the stream stored every event");
    for (let seq = 1; seq <= 20; seq++) {
      const stored = await manager.streams.getMessage("ORDERS", { seq });
      const n = (stored!.json() as { n: number }).n;
      assert.equal(stored!.subject, n % 2 === 1 ? "orders.eu" : "orders.us");
      assert.equal(stored!.header.get("Trace-Id"), `trace-${n}`);
      assert.equal(stored!.header.get("Nats-Msg-Id"), String(n));
      assert.equal(stored!.header.has("Absent"), false);
    }
  } finally {
    await connection.close();
  }
});

test("nats_out sends an event whose subject has no value to error and publishes the others", async () => {
  await using server = await startNatsServer();
  const events = orders(3);
  delete (events[1]!.header as Record<string, unknown>).route;
  const { errors, actor } = await publishAll(events, {
    servers: server.url,
    subject: "orders.{header.route.region}",
    stream: "ORDERS",
    subjects: ["orders.>"],
    create: true,
  });
  assert.deepEqual(counts(actor), { consumed_total: 2, failed_total: 1 });
  assert.deepEqual(errors.data(), [{ n: 2 }]);
  const error = errors.events[0]!.header.error as EventError;
  assert.equal(error.actor, "publish");
  assert.equal(error.queue, "inbox");
  assert.match(error.message, /"header\.route\.region" has no value/);

  const connection = await connect({ servers: server.url });
  try {
    const manager = await jetstreamManager(connection);
    assert.equal((await manager.streams.info("ORDERS")).state.messages, 2);
  } finally {
    await connection.close();
  }
});

test("nats_out retries a publish no stream takes, then sends the event to error", async () => {
  await using server = await startNatsServer();
  const { errors, actor } = await publishAll(orders(2), {
    servers: server.url,
    subject: "nowhere.{header.route.region}",
    retries: 2,
    retry_backoff_ms: 1,
    ack_timeout_ms: 1000,
  });
  assert.deepEqual(counts(actor), { consumed_total: 0, failed_total: 2 });
  assert.deepEqual(errors.data(), [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(
    errors.events.map((event) => {
      const { actor, message } = event.header.error as EventError;
      return { actor, message };
    }),
    ["eu", "us"].map((region) => ({
      actor: "publish",
      message:
        `Publish to "nowhere.${region}" failed after 3 attempts: no stream takes this subject (or JetStream is not enabled)`,
    })),
  );
});

test("nats_out encodes data as JSON, text or raw bytes with its codec", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    const seen: Record<string, string[]> = { json: [], text: [], raw: [] };
    const subscription = connection.subscribe("codec.>", {
      callback: (_error: Error | null, msg: Msg) => {
        seen[msg.subject.slice("codec.".length)]!.push(msg.string());
      },
    });
    await connection.flush();
    const events: Event[] = [
      { header: {}, data: "text" },
      { header: {}, data: { a: 1 } },
      { header: {}, data: new TextEncoder().encode("bytes") },
    ];
    for (const codec of ["json", "text", "raw"]) {
      const { errors } = await publishAll(
        events.map((event) => ({ ...event })),
        {
          servers: server.url,
          mode: "core",
          subject: `codec.${codec}`,
          codec,
        },
      );
      assert.deepEqual(
        errors.events.map((event) => (event.header.error as EventError).name),
        codec === "raw" ? ["TypeError"] : [],
      );
    }
    await connection.flush();
    await subscription.drain();
    assert.deepEqual(seen, {
      json: ['"text"', '{"a":1}', '{"0":98,"1":121,"2":116,"3":101,"4":115}'],
      text: ["text", '{"a":1}', "bytes"],
      raw: ["text", "bytes"],
    });
  } finally {
    await connection.close();
  }
});

test("nats_out in core mode publishes to plain subscribers with headers", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    const received: Msg[] = [];
    const all = Promise.withResolvers<void>();
    const subscription = connection.subscribe("orders.*", {
      callback: (_error: Error | null, msg: Msg) => {
        received.push(msg);
        if (received.length === 10) all.resolve();
      },
    });
    await connection.flush();
    const { report } = await publishAll(orders(10), {
      servers: server.url,
      mode: "core",
      subject: "orders.{header.route.region}",
      headers: { "Trace-Id": "{header.trace}" },
    });
    await within(all.promise, WAIT_MS, "10 messages to arrive");
    await subscription.drain();
    assert.equal(report.delivered, 10);
    assert.deepEqual(
      received.map((msg) => [msg.subject, msg.headers?.get("Trace-Id")]),
      Array.from({ length: 10 }, (_, i) => [
        i % 2 === 0 ? "orders.eu" : "orders.us",
        `trace-${i + 1}`,
      ]),
    );
    assert.deepEqual(
      received.map((msg) => msg.json()),
      Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })),
    );
  } finally {
    await connection.close();
  }
});

test("nats_out fails to start when its stream does not exist and create is false", async () => {
  await using server = await startNatsServer();
  const router = new Router();
  router.register(natsOut, "publish", {
    servers: server.url,
    subject: "x",
    stream: "MISSING",
  });
  await assert.rejects(
    router.start(),
    /Stream "MISSING" does not exist on the NATS server/,
  );
});

Deno.test("nats_out options reject a bad template and options of the other mode", () => {
  const problems = (options: unknown) =>
    schemaProblems(NatsOutOptions, options);
  assert.deepEqual(problems({ subject: "a.{b}" }), [
    'subject: Bad placeholder "{b}" at character 3 of template "a.{b}": Field path "b" must start with "data" or "header"',
  ]);
  assert.deepEqual(
    problems({ subject: "a", mode: "core", msg_id: "{data.id}" }),
    ['msg_id: "msg_id" is for mode "jetstream"'],
  );
  assert.deepEqual(problems({ subject: "a", create: true }), [
    'stream: "create" needs the "stream" to create',
  ]);
});
