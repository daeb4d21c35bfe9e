/**
 * The shared actor contract: every spec in `BUILTIN_ACTORS` gets one test here,
 * so an actor added to `actors/mod.ts` is checked without editing this file.
 *
 * Each test has three steps:
 *
 * 1. options: the spec has a summary and an example; its schema parses `{}`
 *    or the example, rejects unknown keys, and describes every option.
 * 2. runs and drains: the actor, made through a `Router` from the spec with
 *    the example options (or its fixture's), runs connected to a collector.
 *    An input must make events; it is then stopped. Any other actor is fed
 *    {@link EVENTS} events and the router is stopped as soon as the feed has
 *    handed the last one over: every event must be consumed during the drain,
 *    nothing dropped or failed, and for `flow` and `transform` actors every
 *    event comes out again (on some outbound queue) in the order it went in.
 *    The stop must not time out; Deno's sanitizers catch leaked timers and
 *    resources.
 * 3. a failed event reaches `error`: fed good, bad, good, the bad event (from
 *    the fixture) must arrive on `error` with `header.error` set and the good
 *    ones must be consumed. Actors in which no event can fail are listed in
 *    {@link NO_BAD_EVENT} with the reason, and the step is shown as ignored.
 *
 * Actors that need something outside the pipeline (a server to post to, a
 * file path, a stream the test can read) get it from {@link FIXTURES}; those
 * whose fixture runs a program a fresh machine may lack list it in
 * {@link PROGRAMS}, and their test is skipped where it is missing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { z } from "zod";
import type { Actor, EventError } from "../../core/actor.ts";
import { type Event, isEvent } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { Router, type StopReport } from "../../core/router.ts";
import { LogHuman } from "../../actors/log/log_human.ts";
import { LogJson } from "../../actors/log/log_json.ts";
import { BUILTIN_ACTORS } from "../../actors/mod.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";
import {
  fileInFixture,
  httpServerFixture,
  stdinFixture,
  tcpServerFixture,
  udpInFixture,
} from "./input/fixtures.ts";
import { logFileFixture } from "./log/fixtures.ts";
import { graphiteFixture, prometheusFixture } from "./metric/fixtures.ts";
import { natsInFixture, natsOutFixture } from "./nats_fixtures.ts";
import { NATS_SERVER } from "../nats_server.ts";
import { type Program, testWith } from "../requires.ts";
import {
  fileOutFixture,
  httpClientFixture,
  stdoutFixture,
  tcpClientFixture,
  udpOutFixture,
} from "./output/fixtures.ts";

/** What a fixture gives the contract test for one actor type. */
export interface Fixture {
  /** Options to make the actor with, instead of the spec's `example`. */
  options: Record<string, unknown>;
  /** Events fed to a non-input actor (default: {@link EVENTS} numbered events). */
  events?: Event[];
  /** An event whose `consume` fails, to check that it reaches `error`. */
  badEvent?: Event;
  /**
   * Makes the actor instead of `spec.create`, from options already parsed by
   * the spec's schema (e.g. to hand it a stream the test controls).
   */
  create?: ActorSpec["create"];
  /** Inbound queue the events are fed to (default: the first declared, or `inbox`). */
  inbound?: string;
  /**
   * Outbound queues connected to the collector (default: every declared one
   * but `error`, plus `one` and `two` for actors that take any name).
   */
  outbound?: string[];
  /**
   * `false` for a `flow` or `transform` actor that does not send on every
   * event it consumes (a filter, an aggregator): its output is not checked.
   */
  passThrough?: boolean;
  /** Called once the router runs: make an input produce (send a request...). */
  drive?(): Promise<void>;
  /**
   * Called after the stop with the events that were consumed successfully, in
   * order: check what the actor did outside the pipeline (lines written...).
   */
  verify?(consumed: Event[]): void | Promise<void>;
  /** Releases what the fixture made (servers, temporary files). */
  cleanup(): Promise<void>;
}

/**
 * The extension point for actors that cannot pass on their example options
 * alone. Key: actor type. Each call makes a fresh fixture (one per step).
 */
export const FIXTURES: Record<string, () => Promise<Fixture>> = {
  fanout: () =>
    Promise.resolve({
      options: {},
      outbound: ["one", "two"],
      badEvent: { header: {}, data: { cannot: () => "be copied" } },
      cleanup: () => Promise.resolve(),
    }),
  file_in: fileInFixture,
  file_out: fileOutFixture,
  header: () =>
    Promise.resolve({
      options: { set: { "route.seq": "seq {header.seq}", "route.v": 1 } },
      badEvent: { header: {}, data: "no header.seq for the template" },
      cleanup: () => Promise.resolve(),
    }),
  graphite: graphiteFixture,
  http_client: httpClientFixture,
  http_server: httpServerFixture,
  json_decode: () =>
    Promise.resolve({
      options: {},
      events: numbered(EVENTS).map((event) => ({
        header: event.header,
        data: JSON.stringify({ n: event.data }),
      })),
      badEvent: { header: {}, data: '{"not": json}' },
      cleanup: () => Promise.resolve(),
    }),
  json_encode: () =>
    Promise.resolve({
      options: {},
      badEvent: { header: {}, data: { big: 1n } },
      cleanup: () => Promise.resolve(),
    }),
  jsonata: () =>
    Promise.resolve({
      options: { expression: "$ * 2" },
      badEvent: { header: {}, data: "not a number" },
      cleanup: () => Promise.resolve(),
    }),
  log_file: logFileFixture,
  log_human: () =>
    Promise.resolve({
      options: {},
      create: (name, _options, settings) =>
        new LogHuman(name, settings, { writeSync: (bytes) => bytes.length }),
      cleanup: () => Promise.resolve(),
    }),
  log_json: () =>
    Promise.resolve({
      options: {},
      create: (name, _options, settings) =>
        new LogJson(name, settings, { writeSync: (bytes) => bytes.length }),
      cleanup: () => Promise.resolve(),
    }),
  nats_in: natsInFixture,
  nats_out: natsOutFixture,
  prometheus: prometheusFixture,
  stdin: stdinFixture,
  stdout: stdoutFixture,
  syslog_encode: () =>
    Promise.resolve({
      options: { hostname: "h" },
      badEvent: { header: {}, data: { message: 1 } },
      cleanup: () => Promise.resolve(),
    }),
  tcp_client: tcpClientFixture,
  tcp_server: tcpServerFixture,
  tippingbucket: () =>
    Promise.resolve({
      options: { count: 100, max_age: 1, bytes: 65536 },
      passThrough: false,
      badEvent: { header: {}, data: { big: 1n } },
      cleanup: () => Promise.resolve(),
    }),
  udp_in: udpInFixture,
  udp_out: udpOutFixture,
};

/**
 * The programs the fixture of an actor type runs (see `tests/requires.ts`):
 * its contract test is skipped, saying why, where one is missing.
 */
export const PROGRAMS: Record<string, Program[]> = {
  nats_in: [NATS_SERVER],
  nats_out: [NATS_SERVER],
};

/**
 * Actor types in which no event can fail, so that the `error` step does not
 * apply, with the reason.
 */
export const NO_BAD_EVENT: Record<string, string> = {
  filter: "tests a field with a predicate, which cannot throw",
  funnel: "passes every event on as it is, without looking at it",
  log_file:
    "writes every event, values JSON cannot hold in a printable form; only the disk can fail",
  log_human: "writes every event, values JSON cannot hold in a printable form",
  log_json: "writes every event, values JSON cannot hold in a printable form",
  log_level_filter:
    "passes on every event it does not leave out by level, without looking further",
  null: "discards every event without looking at it",
  roundrobin: "passes every event on as it is, without looking at it",
  switch: "tests fields with predicates, which cannot throw",
};

/** How many events a non-input actor is fed (more than two batches). */
const EVENTS = 1200;

/**
 * Longest wait for an input's first event, or for a feed to hand its events
 * over, before failing instead of hanging; in ms.
 */
const GIVE_UP_MS = 10_000;

/** The name of the actor under test in every pipeline. */
const SUBJECT = "subject";

/** Where to add what an actor type is missing, for failure messages. */
const WHERE = "tests/actors/contract_test.ts";

for (const spec of BUILTIN_ACTORS) {
  const name = `${spec.type} (${spec.kind}) passes the actor contract`;
  testWith(name, PROGRAMS[spec.type] ?? [], async (_paths, t) => {
    await t.step("options", () => checkOptions(spec));
    await t.step(
      "runs and drains",
      () =>
        withFixture(
          spec,
          (fixture) =>
            spec.kind === "input"
              ? checkInput(spec, fixture)
              : checkDrain(spec, fixture),
        ),
    );
    if (spec.kind === "input") return;
    const reason = NO_BAD_EVENT[spec.type];
    await t.step({
      name: reason === undefined
        ? "a failed event reaches error"
        : `a failed event reaches error (skipped: ${reason})`,
      ignore: reason !== undefined,
      fn: () => withFixture(spec, (fixture) => checkError(spec, fixture)),
    });
  });
}

Deno.test("every FIXTURES, PROGRAMS and NO_BAD_EVENT entry names a built-in actor type", () => {
  const types = new Set(BUILTIN_ACTORS.map((spec) => spec.type));
  assert.equal(types.size, BUILTIN_ACTORS.length, "actor types are unique");
  for (
    const type of [
      ...Object.keys(FIXTURES),
      ...Object.keys(PROGRAMS),
      ...Object.keys(NO_BAD_EVENT),
    ]
  ) {
    assert.ok(types.has(type), `"${type}" is not a built-in actor type`);
  }
});

function checkOptions(spec: ActorSpec): void {
  const type = `Actor type "${spec.type}"`;
  assert.ok(
    typeof spec.summary === "string" && spec.summary.trim() !== "",
    `${type} has no summary`,
  );
  const options = spec.options;
  assert.ok(
    options instanceof z.ZodType,
    `${type}: its options schema is not a zod schema`,
  );
  const empty = options.safeParse({});
  assert.ok(
    empty.success || spec.example !== undefined,
    `${type} needs options (${
      empty.error?.issues[0]?.message
    }) and has no example to use instead`,
  );
  assert.ok(spec.example !== undefined, `${type} has no example`);
  const example = options.safeParse(spec.example);
  assert.ok(
    example.success,
    `${type}: its example does not parse: ${example.error?.message}`,
  );
  assert.equal(
    options.safeParse({ ...spec.example, contract_unknown_key: 1 })
      .success,
    false,
    `${type} accepts unknown options (use z.strictObject)`,
  );
  let schema: { properties?: Record<string, { description?: string }> };
  try {
    schema = z.toJSONSchema(options, {
      io: "input",
      unrepresentable: "any",
    }) as typeof schema;
  } catch (error) {
    assert.fail(`${type}: its options have no JSON Schema: ${error}`);
  }
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    assert.ok(
      typeof property.description === "string" && property.description !== "",
      `${type}: option "${key}" has no .describe(...)`,
    );
  }
}

/** Inputs: must make events, then stop cleanly. */
async function checkInput(
  spec: ActorSpec,
  fixture: Fixture | undefined,
): Promise<void> {
  const router = new Router();
  const subject = register(router, spec, fixture);
  const { sink, errors } = connectOutputs(router, subject, fixture);
  await start(router, spec, fixture);
  let report: StopReport;
  try {
    await fixture?.drive?.();
    await firstEvent(spec, fixture, router, sink);
  } finally {
    report = await router.stop({ timeoutMs: 10_000 });
  }
  assert.equal(report.timedOut, false, "the stop drained in time");
  assert.ok(sink.events.every(isEvent), "everything it made is an event");
  assert.deepEqual(errors.events.map(failure), [], "no event failed");
  assert.equal(report.unaccounted, 0, "every event is accounted for");
}

/** Every other kind: N events in, all consumed during the drain of a stop. */
async function checkDrain(
  spec: ActorSpec,
  fixture: Fixture | undefined,
): Promise<void> {
  const fed = (fixture?.events ?? numbered(EVENTS)).map(tag);
  const { subject, sink, errors, report } = await feed(spec, fixture, fed);
  assert.equal(report.timedOut, false, "the stop drained in time");
  if (errors.events.length > 0) {
    assert.fail(explain(
      spec,
      fixture,
      "fails good events",
      `${errors.events.length} of ${fed.length} failed, the first with "${
        failure(errors.events[0]!)
      }" (give it events it can handle)`,
    ));
  }
  const { consumed_total, failed_total } = subject.figures();
  assert.deepEqual({ consumed_total, failed_total }, {
    consumed_total: fed.length,
    failed_total: 0,
  });
  assert.equal(report.dropped, 0, "nothing dropped");
  assert.equal(report.discarded, 0, "nothing discarded");
  assert.equal(report.unaccounted, 0, "every event is accounted for");
  const passThrough = spec.kind === "flow" || spec.kind === "transform";
  if (passThrough && fixture?.passThrough !== false) {
    checkPassedThrough(spec, sink, fed.length);
  }
  await fixture?.verify?.(fed);
}

/** Good, bad, good: the bad one reaches `error`, the good ones go on. */
async function checkError(
  spec: ActorSpec,
  fixture: Fixture | undefined,
): Promise<void> {
  if (fixture?.badEvent === undefined) {
    assert.fail(
      `Actor type "${spec.type}" has no bad event: give its fixture a "badEvent" in FIXTURES or list the type in NO_BAD_EVENT with the reason (${WHERE})`,
    );
  }
  const good = fixture.events?.[0] ?? numbered(1)[0]!;
  const fed = [good, fixture.badEvent, good].map(tag);
  const { subject, errors, report } = await feed(spec, fixture, fed);
  assert.equal(report.timedOut, false, "the stop drained in time");
  assert.deepEqual(errors.events.map(seq), [2], "the bad event reached error");
  const error = errors.events[0]!.header.error as EventError;
  assert.equal(error.actor, SUBJECT);
  assert.equal(error.queue, inboundName(subject, fixture));
  assert.ok(typeof error.name === "string" && error.name !== "");
  assert.ok(typeof error.message === "string" && error.message !== "");
  assert.ok(!Number.isNaN(Date.parse(error.time)), "error.time is a date");
  const { consumed_total, failed_total } = subject.figures();
  assert.deepEqual({ consumed_total, failed_total }, {
    consumed_total: 2,
    failed_total: 1,
  });
  assert.equal(report.errors, 1, "the error collector consumed it");
  assert.equal(report.failed, 0, "nothing was lost");
  assert.equal(report.unaccounted, 0);
  await fixture.verify?.([fed[0]!, fed[2]!]);
}

/**
 * Runs `fed` through the actor: connects a feed to its inbound queue, its
 * outbound queues to one collector and `error` to another, and stops the
 * router as soon as the feed has handed every event over.
 */
async function feed(
  spec: ActorSpec,
  fixture: Fixture | undefined,
  fed: Event[],
): Promise<
  { subject: Actor; sink: Collector; errors: Collector; report: StopReport }
> {
  const router = new Router();
  const subject = register(router, spec, fixture);
  const input = router.register(new Feed("feed", fed)) as Feed;
  router.connect("feed.outbox", `${SUBJECT}.${inboundName(subject, fixture)}`);
  const { sink, errors } = connectOutputs(router, subject, fixture);
  await start(router, spec, fixture);
  let report: StopReport;
  let sent: void | "gave up";
  try {
    sent = await bounded(input.sent);
  } finally {
    report = await router.stop({ timeoutMs: 10_000 });
  }
  if (sent === "gave up") {
    assert.fail(
      explain(
        spec,
        fixture,
        "does not take events",
        `the feed was still waiting after ${GIVE_UP_MS} ms`,
      ),
    );
  }
  return { subject, sink, errors, report };
}

/** Registers the actor under test from its spec, through the router. */
function register(
  router: Router,
  spec: ActorSpec,
  fixture: Fixture | undefined,
): Actor {
  const made = fixture?.create === undefined
    ? spec
    : { ...spec, create: fixture.create };
  let subject: Actor;
  try {
    subject = router.register(
      made,
      SUBJECT,
      fixture?.options ?? spec.example ?? {},
    );
  } catch (error) {
    throw new Error(explain(spec, fixture, "cannot be made", error), {
      cause: error,
    });
  }
  assert.equal(subject.kind, spec.kind, "the actor's kind is the spec's");
  return subject;
}

/** Connects the actor's outbound queues to one collector, `error` to another. */
function connectOutputs(
  router: Router,
  subject: Actor,
  fixture: Fixture | undefined,
): { sink: Collector; errors: Collector } {
  const outbound = fixture?.outbound ?? defaultOutbound(subject);
  const sink = router.register(
    new Collector("sink", {}, outbound),
  ) as Collector;
  for (const name of outbound) {
    router.connect(`${SUBJECT}.${name}`, `sink.${name}`);
  }
  const errors = router.register(new Collector("errors")) as Collector;
  if (subject.pool.outbound.has("error")) {
    router.connect(`${SUBJECT}.error`, "errors.inbox");
  }
  return { sink, errors };
}

function defaultOutbound(subject: Actor): string[] {
  const names = [...subject.pool.outbound.keys()].filter((name) =>
    name !== "error"
  );
  if (subject.pool.names.anyOutbound) {
    for (const name of ["one", "two"]) {
      if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

function inboundName(subject: Actor, fixture: Fixture | undefined): string {
  const name = fixture?.inbound ?? subject.pool.inbound.keys().next().value ??
    (subject.pool.names.anyInbound ? "inbox" : undefined);
  assert.ok(name !== undefined, `actor "${subject.name}" has no inbound queue`);
  return name;
}

async function start(
  router: Router,
  spec: ActorSpec,
  fixture: Fixture | undefined,
): Promise<void> {
  try {
    await router.start();
  } catch (error) {
    throw new Error(explain(spec, fixture, "cannot start", error), {
      cause: error,
    });
  }
}

/** Waits for the input's first event; fails clearly when none comes. */
async function firstEvent(
  spec: ActorSpec,
  fixture: Fixture | undefined,
  router: Router,
  sink: Collector,
): Promise<void> {
  const outcome = await bounded(
    Promise.race([
      sink.waitFor(1).then(() => "event" as const),
      router.finished.then(() => "finished" as const),
    ]),
  );
  if (sink.events.length > 0) return;
  assert.fail(
    explain(
      spec,
      fixture,
      "made no event",
      outcome === "finished"
        ? "it finished without making one"
        : `none within ${GIVE_UP_MS} ms`,
    ),
  );
}

/**
 * `promise`, or `"gave up"` after {@link GIVE_UP_MS}: turns an actor that
 * would hang the suite into a clear failure. Leaves no timer behind.
 */
async function bounded<T>(promise: Promise<T>): Promise<T | "gave up"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<"gave up">((resolve) => {
    timer = setTimeout(() => resolve("gave up"), GIVE_UP_MS);
  });
  try {
    return await Promise.race([promise, gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every event fed came out, each outbound queue in the order fed. */
function checkPassedThrough(
  spec: ActorSpec,
  sink: Collector,
  count: number,
): void {
  const byQueue = new Map<string, number[]>();
  sink.events.forEach((event, i) => {
    const queue = sink.queues[i]!;
    const n = seq(event);
    if (n === undefined) {
      assert.fail(
        `Actor type "${spec.type}" sent an event without the "contract" header it was fed with on "${queue}": if it makes new events or sends fewer than it consumes, set "passThrough: false" in its fixture in FIXTURES (${WHERE})`,
      );
    }
    let seqs = byQueue.get(queue);
    if (seqs === undefined) byQueue.set(queue, seqs = []);
    seqs.push(n);
  });
  const seen = new Set<number>();
  for (const [queue, seqs] of byQueue) {
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(
        seqs[i]! > seqs[i - 1]!,
        `events on "${queue}" keep their order (${seqs[i - 1]} then ${
          seqs[i]
        })`,
      );
    }
    for (const n of seqs) seen.add(n);
  }
  assert.equal(
    seen.size,
    count,
    `every event came out (${seen.size} of ${count}); if the actor sends fewer than it consumes, set "passThrough: false" in its fixture`,
  );
}

function explain(
  spec: ActorSpec,
  fixture: Fixture | undefined,
  what: string,
  cause: unknown,
): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  return fixture === undefined
    ? `Actor type "${spec.type}" ${what} without a fixture: ${message}. Add one to FIXTURES in ${WHERE}`
    : `Actor type "${spec.type}" ${what} with its fixture: ${message}`;
}

async function withFixture(
  spec: ActorSpec,
  check: (fixture: Fixture | undefined) => Promise<void>,
): Promise<void> {
  const fixture = await FIXTURES[spec.type]?.();
  try {
    await check(fixture);
  } finally {
    await fixture?.cleanup();
  }
}

/** A copy of `event` whose header says where it was fed (`contract.seq`). */
function tag(event: Event, i: number): Event {
  return {
    header: { ...event.header, contract: { seq: i + 1 } },
    data: event.data,
  };
}

/** The `contract.seq` header set by {@link tag}, if the event still has it. */
function seq(event: Event): number | undefined {
  const contract = event.header.contract as { seq?: unknown } | undefined;
  return typeof contract?.seq === "number" ? contract.seq : undefined;
}

function failure(event: Event): string {
  const error = event.header.error as EventError | undefined;
  return `${error?.name}: ${error?.message}`;
}

/** A {@link ListInput} that says when it has handed every event over. */
class Feed extends ListInput {
  #sent = Promise.withResolvers<void>();

  /** Resolves once every event has been sent. */
  get sent(): Promise<void> {
    return this.#sent.promise;
  }

  override async produce(signal: AbortSignal): Promise<void> {
    try {
      await super.produce(signal);
    } finally {
      this.#sent.resolve();
    }
  }
}
