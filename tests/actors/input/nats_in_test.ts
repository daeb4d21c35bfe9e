import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerInfo,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import {
  type Context,
  emptyFigures,
  type EventError,
} from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import {
  natsIn,
  type NatsInHeader,
  NatsInOptions,
} from "../../../actors/input/nats_in.ts";
import {
  Collector,
  freePort,
  pollUntil,
  schemaProblems,
  within,
} from "../../helpers.ts";
import { NATS_SERVER, startNatsServer } from "../../nats_server.ts";
import { testNeeding } from "../../requires.ts";

/** A test that needs nats-server: skipped, saying why, where it is missing. */
const test = testNeeding(NATS_SERVER);

const WAIT_MS = 15_000;

/** Makes stream `S` with subjects `s.>`, as an operator would. */
async function makeStream(connection: NatsConnection): Promise<void> {
  const manager = await jetstreamManager(connection);
  await manager.streams.add({ name: "S", subjects: ["s.>"] });
}

/** Publishes `{ n }` for n = 1..count to `s.<n>`, with a `Trace-Id` header. */
async function publish(connection: NatsConnection, count: number) {
  const js = jetstream(connection);
  for (let n = 1; n <= count; n++) {
    const h = headers();
    h.set("Trace-Id", `trace-${n}`);
    await js.publish(`s.${n}`, JSON.stringify({ n }), { headers: h });
  }
}

/** Waits until consumer `d` of `S` has nothing pending and nothing unacked. */
async function settled(connection: NatsConnection): Promise<ConsumerInfo> {
  const manager = await jetstreamManager(connection);
  return await pollUntil(
    () => manager.consumers.info("S", "d"),
    (info) => info.num_pending === 0 && info.num_ack_pending === 0,
    "consumer d to have nothing pending and nothing unacknowledged",
  );
}

/** A sink that fails each event for which `fails` says so. */
class FailingSink extends Collector {
  failures = 0;
  #fails: (header: NatsInHeader) => boolean;

  constructor(name: string, fails: (header: NatsInHeader) => boolean) {
    super(name);
    this.#fails = fails;
  }

  override consume(event: Event, context: Context): void {
    if (this.#fails(event.header.input as NatsInHeader)) {
      this.failures++;
      throw new Error("Not this time");
    }
    super.consume(event, context);
  }
}

function jetstreamOptions(url: string, more: Partial<NatsInOptions> = {}) {
  return {
    servers: url,
    stream: "S",
    durable: "d",
    create: true,
    ...more,
  };
}

test("nats_in makes an event per message with its subject, sequence, delivery count and headers, and acknowledges it once consumed", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 50);
    const router = new Router();
    router.register(natsIn, "input", jetstreamOptions(server.url));
    const sink = router.register(new Collector("sink")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    await router.start();
    await within(sink.waitFor(50), WAIT_MS, "50 events to reach the sink");
    const info = await settled(connection);
    const input = router.actor("input")!;
    assert.deepEqual(input.health(), { ready: true });
    assert.deepEqual(input.figures(), {
      ...emptyFigures(),
      created_total: 50,
      nats_connected: 1,
      nats_reconnects_total: 0,
      nats_disconnects_total: 0,
      messages_in_flight: 0,
    });
    const report = await router.stop();

    assert.deepEqual(
      sink.data(),
      Array.from({ length: 50 }, (_, i) => ({ n: i + 1 })),
    );
    sink.events.forEach((event, i) => {
      assert.deepEqual(event.header.input, {
        subject: `s.${i + 1}`,
        seq: i + 1,
        delivered: 1,
        headers: { "Trace-Id": `trace-${i + 1}` },
      });
    });
    assert.equal(info.delivered.consumer_seq, 50, "each delivered once");
    assert.equal(info.ack_floor.stream_seq, 50, "all acknowledged");
    assert.equal(report.delivered, 50);
    assert.equal(report.timedOut, false);
  } finally {
    await connection.close();
  }
});

test("nats_in has a message redelivered when its event fails with no error queue", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 5);
    const router = new Router();
    router.register(
      natsIn,
      "input",
      jetstreamOptions(server.url, { nak_delay_ms: 100 }),
    );
    const sink = router.register(
      new FailingSink("sink", (header) => header.delivered === 1),
    ) as FailingSink;
    router.connect("input.outbox", "sink.inbox");
    await router.start();
    await within(sink.waitFor(5), WAIT_MS, "5 events to reach the sink");
    const info = await settled(connection);
    await router.stop();

    assert.equal(sink.failures, 5, "each first delivery failed");
    assert.deepEqual(
      sink.events.map((event) => (event.header.input as NatsInHeader).seq)
        .sort(),
      [1, 2, 3, 4, 5],
    );
    assert.ok(
      sink.events.every((event) =>
        (event.header.input as NatsInHeader).delivered === 2
      ),
      "each was consumed on its second delivery",
    );
    assert.equal(info.delivered.consumer_seq, 10, "5 deliveries, 5 again");
  } finally {
    await connection.close();
  }
});

test("nats_in sends a message that failed max_deliver times to error with its delivery count, then terminates it", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 2);
    const router = new Router();
    router.register(
      natsIn,
      "input",
      jetstreamOptions(server.url, { nak_delay_ms: 0, max_deliver: 3 }),
    );
    const sink = router.register(
      new FailingSink("sink", () => true),
    ) as FailingSink;
    const errors = router.register(new Collector("errors")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    router.connect("input.error", "errors.inbox");
    await router.start();
    await within(errors.waitFor(2), WAIT_MS, "2 events to reach error");
    const info = await settled(connection);
    await router.stop();

    assert.equal(sink.failures, 6, "each message failed 3 times");
    const failed = errors.events.toSorted((a, b) =>
      (a.header.input as NatsInHeader).seq! -
      (b.header.input as NatsInHeader).seq!
    );
    assert.deepEqual(failed.map((event) => event.data), [{ n: 1 }, { n: 2 }]);
    for (const event of failed) {
      const error = event.header.error as EventError & { delivered: number };
      assert.equal(error.actor, "input");
      assert.equal(error.name, "DeliveryError");
      assert.equal(error.delivered, 3);
      assert.match(error.message, /failed 3 deliveries \(max_deliver 3\)/);
      assert.equal((event.header.input as NatsInHeader).delivered, 3);
    }
    assert.equal(info.delivered.consumer_seq, 6, "never delivered again");
  } finally {
    await connection.close();
  }
});

test("nats_in terminates a message that failed max_deliver times when error is not connected", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 1);
    const router = new Router();
    router.register(
      natsIn,
      "input",
      jetstreamOptions(server.url, { nak_delay_ms: 0, max_deliver: 2 }),
    );
    const sink = router.register(
      new FailingSink("sink", () => true),
    ) as FailingSink;
    router.connect("input.outbox", "sink.inbox");
    await router.start();
    const info = await settled(connection);
    await router.stop();

    assert.equal(sink.failures, 2);
    assert.equal(info.delivered.consumer_seq, 2);
  } finally {
    await connection.close();
  }
});

test("nats_in sends a message that does not decode to error at once and terminates it", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    const js = jetstream(connection);
    await js.publish("s.bad", "not json");
    await js.publish("s.good", '"fine"');
    const router = new Router();
    router.register(natsIn, "input", jetstreamOptions(server.url));
    const sink = router.register(new Collector("sink")) as Collector;
    const errors = router.register(new Collector("errors")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    router.connect("input.error", "errors.inbox");
    await router.start();
    await within(errors.waitFor(1), WAIT_MS, "1 event to reach error");
    await within(sink.waitFor(1), WAIT_MS, "1 event to reach the sink");
    const info = await settled(connection);
    await router.stop();

    assert.deepEqual(sink.data(), ["fine"]);
    const [failed] = errors.events;
    assert.equal(failed!.data, "not json");
    const error = failed!.header.error as EventError;
    assert.equal(error.name, "SyntaxError");
    assert.match(
      error.message,
      /^Message 1 on "s\.bad" cannot be decoded as json/,
    );
    assert.equal(info.delivered.consumer_seq, 2, "each delivered once");
  } finally {
    await connection.close();
  }
});

test("nats_in decodes message data as text or raw bytes with its codec", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await jetstream(connection).publish("s.x", "héllo");
    const router = new Router();
    router.register(
      natsIn,
      "text",
      jetstreamOptions(server.url, {
        codec: "text",
        durable: "text",
      }),
    );
    router.register(
      natsIn,
      "raw",
      jetstreamOptions(server.url, {
        codec: "raw",
        durable: "raw",
      }),
    );
    const texts = router.register(new Collector("texts")) as Collector;
    const bytes = router.register(new Collector("bytes")) as Collector;
    router.connect("text.outbox", "texts.inbox");
    router.connect("raw.outbox", "bytes.inbox");
    await router.start();
    await within(texts.waitFor(1), WAIT_MS, "the text event to arrive");
    await within(bytes.waitFor(1), WAIT_MS, "the raw event to arrive");
    await router.stop();

    assert.deepEqual(texts.data(), ["héllo"]);
    assert.deepEqual(bytes.data(), [new TextEncoder().encode("héllo")]);
  } finally {
    await connection.close();
  }
});

test("nats_in releases the messages it has not finished when stopped, for another worker to take", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 300);
    // Worker one takes a few messages and never finishes them.
    const gate = Promise.withResolvers<void>();
    const one = new Router();
    one.register(natsIn, "input", jetstreamOptions(server.url, { batch: 50 }));
    const stuck = one.register(
      new (class extends Collector {
        override async consume(event: Event, context: Context): Promise<void> {
          super.consume(event, context);
          await gate.promise;
        }
      })("sink"),
    ) as Collector;
    one.connect("input.outbox", "sink.inbox", { capacity: 10 });
    await one.start();
    await within(stuck.waitFor(1), WAIT_MS, "worker one to take a message");
    const stopped = await one.stop({ timeoutMs: 100 });
    gate.resolve();
    assert.equal(stopped.timedOut, true, "worker one could not drain");

    // Worker two gets everything, the messages worker one held included.
    const two = new Router();
    two.register(natsIn, "input", jetstreamOptions(server.url));
    const sink = two.register(new Collector("sink")) as Collector;
    two.connect("input.outbox", "sink.inbox");
    await two.start();
    const info = await settled(connection);
    await two.stop();

    const seqs = new Set(
      sink.events.map((event) => (event.header.input as NatsInHeader).seq),
    );
    assert.equal(seqs.size, 300, "worker two handled every message");
    assert.equal(info.ack_floor.stream_seq, 300);
  } finally {
    await connection.close();
  }
});

test("nats_in fails to start when the stream or the consumer does not exist and create is false", async () => {
  await using server = await startNatsServer();
  const router = new Router();
  router.register(natsIn, "input", {
    servers: server.url,
    stream: "MISSING",
    durable: "d",
  });
  await assert.rejects(
    router.start(),
    /Stream "MISSING" does not exist on the NATS server: create it, or set "create: true"/,
  );

  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
  } finally {
    await connection.close();
  }
  const again = new Router();
  again.register(natsIn, "input", {
    servers: server.url,
    stream: "S",
    durable: "missing",
  });
  await assert.rejects(
    again.start(),
    /Consumer "missing" does not exist on stream "S": create it, or set "create: true"/,
  );
});

test("nats_in with create binds to an existing consumer and sets its max_ack_pending and ack_wait", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    const manager = await jetstreamManager(connection);
    await manager.consumers.add("S", {
      durable_name: "d",
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: 10,
    });
    const router = new Router();
    router.register(
      natsIn,
      "input",
      jetstreamOptions(server.url, { max_ack_pending: 50, ack_wait_ms: 5000 }),
    );
    await router.start();
    await router.stop();
    const { config } = await manager.consumers.info("S", "d");
    assert.equal(config.max_ack_pending, 50);
    assert.equal(config.ack_wait, 5000 * 1_000_000);
  } finally {
    await connection.close();
  }
});

test("nats_in sends the messages that arrive together on as one batch", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    await publish(connection, 200);
    const router = new Router();
    router.register(
      natsIn,
      "input",
      jetstreamOptions(server.url, { batch: 200 }),
    );
    const sink = router.register(new Collector("sink")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    const batches: number[] = [];
    sink.pool.inbound.get("inbox")!.observe((batch) =>
      batches.push(batch.length)
    );
    await router.start();
    await within(sink.waitFor(200), WAIT_MS, "200 events to reach the sink");
    const info = await settled(connection);
    await router.stop();

    assert.equal(info.ack_floor.stream_seq, 200);
    assert.equal(batches.reduce((sum, size) => sum + size, 0), 200);
    // One message per batch would be 200 batches; they arrive in a few
    // reads of the socket.
    assert.ok(
      batches.length <= 20,
      `200 messages came in ${batches.length} batches: ${batches}`,
    );
  } finally {
    await connection.close();
  }
});

test("nats_in leaves no pull request behind when stopped: what is published next goes to the next worker", async () => {
  await using server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  try {
    await makeStream(connection);
    const manager = await jetstreamManager(connection);
    // Long enough that a message sent to a worker that stopped listening
    // would not be redelivered within the test.
    const options = jetstreamOptions(server.url, { ack_wait_ms: 120_000 });
    const one = new Router();
    one.register(natsIn, "input", options);
    one.register(new Collector("sink"));
    one.connect("input.outbox", "sink.inbox");
    await one.start();
    await pollUntil(
      () => manager.consumers.info("S", "d"),
      (info) => info.num_waiting > 0,
      "a pull request to wait at the server",
    );
    await one.stop();

    // Published once worker one stopped: it must go to worker two.
    await publish(connection, 5);
    const two = new Router();
    two.register(natsIn, "input", options);
    const sink = two.register(new Collector("sink")) as Collector;
    two.connect("input.outbox", "sink.inbox");
    await two.start();
    await within(sink.waitFor(5), WAIT_MS, "worker two to get the messages");
    const info = await settled(connection);
    await two.stop();
    assert.deepEqual(sink.data(), [1, 2, 3, 4, 5].map((n) => ({ n })));
    assert.equal(info.num_redelivered, 0);
  } finally {
    await connection.close();
  }
});

Deno.test("nats_in fails to start when no server answers", async () => {
  const port = freePort();
  const router = new Router();
  router.register(natsIn, "input", {
    servers: `nats://127.0.0.1:${port}`,
    stream: "S",
    durable: "d",
    connect_timeout_ms: 1000,
  });
  await assert.rejects(
    router.start(),
    new RegExp(`Cannot connect to NATS at "nats://127.0.0.1:${port}"`),
  );
});

Deno.test("nats_in options name what each mode needs", () => {
  const problems = (options: unknown) => schemaProblems(NatsInOptions, options);
  assert.deepEqual(problems({}), [
    'stream: Mode "jetstream" needs "stream"',
    'durable: Mode "jetstream" needs "durable"',
  ]);
  assert.deepEqual(problems({ mode: "core" }), [
    'subjects: Mode "core" needs at least one subject',
  ]);
  assert.deepEqual(problems({ stream: "S", durable: "d", user: "u" }), [
    'password: "user" needs a "password"',
  ]);
  assert.deepEqual(
    problems({ stream: "a.b", durable: "d", token: "t", nkey_seed: "SU" }),
    [
      "stream: must have no spaces, dots, * or >",
      'nkey_seed: Give one way to authenticate, not "token" and "nkey_seed"',
    ],
  );
});

test("nats_in in core mode shares the messages of a queue group between subscribers", async () => {
  await using server = await startNatsServer();
  let seen = 0;
  const all = Promise.withResolvers<void>();
  class Counted extends Collector {
    override consume(event: Event, context: Context): void {
      super.consume(event, context);
      if (++seen === 200) all.resolve();
    }
  }
  const routers = [new Router(), new Router()];
  const sinks = routers.map((router) => {
    router.register(natsIn, "input", {
      servers: server.url,
      mode: "core",
      subjects: ["c.>"],
      queue_group: "group",
      codec: "text",
    });
    const sink = router.register(new Counted("sink")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    return sink;
  });
  for (const router of routers) await router.start();
  const connection = await connect({ servers: server.url });
  try {
    for (let n = 1; n <= 200; n++) {
      const h = headers();
      h.set("N", String(n));
      connection.publish(`c.${n}`, String(n), { headers: h });
    }
    await connection.flush();
    await within(all.promise, WAIT_MS, "200 messages to arrive");
  } finally {
    await connection.close();
    for (const router of routers) await router.stop();
  }

  const [a, b] = sinks.map((sink) => sink.data() as string[]);
  assert.ok(a!.length > 0 && b!.length > 0, "both subscribers got messages");
  assert.deepEqual(
    [...a!, ...b!].map(Number).sort((x, y) => x - y),
    Array.from({ length: 200 }, (_, i) => i + 1),
    "each message went to one of them",
  );
  const first = sinks.flatMap((sink) => sink.events).find((event) =>
    event.data === "7"
  );
  assert.deepEqual(first?.header.input, {
    subject: "c.7",
    headers: { N: "7" },
  });
});
