/**
 * `Reloader`: a running pipeline reloaded from its bootstrap file, the
 * proof of issue 15: many reloads under load with nothing lost or repeated
 * and an `http_server` in front that never refuses a connection; a new
 * actor that fails to start (a port in use, a module that throws) rolled
 * back; a file with a syntax error changing nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { BUILTIN_ACTORS } from "../../../actors/mod.ts";
import { Actor, type ActorSettings } from "../../../core/actor.ts";
import type { PipelineConfig } from "../../../core/config/mod.ts";
import { loadPipeline } from "../../../core/config/mod.ts";
import { Reloader } from "../../../core/config/reload.ts";
import type { Event } from "../../../core/event.ts";
import type { LogLevel } from "../../../core/log.ts";
import { type ActorSpec, Registry } from "../../../core/registry.ts";
import type { Router } from "../../../core/router.ts";
import { Collector, eventually, freePort, withTempDir } from "../../helpers.ts";
import { sendDatagrams, within } from "../../actors/input/support.ts";
import { RawClient } from "../../raw_http.ts";

/** Every collector made, by actor name, in the order they were made. */
type Made = Map<string, Collector[]>;

/**
 * The built-in actors, `collect` (a {@link Collector} recorded in `made`)
 * and `explode` (an output whose setup throws).
 */
function testRegistry(made: Made): Registry {
  const collect: ActorSpec<Record<string, never>> = {
    type: "collect",
    kind: "output",
    summary: "Keeps every event.",
    options: z.strictObject({}),
    create: (name, _options, settings) => new Recorded(name, settings, made),
  };
  const explode: ActorSpec<Record<string, never>> = {
    type: "explode",
    kind: "output",
    summary: "Fails its setup.",
    options: z.strictObject({}),
    create: (name, _options, settings) => new Exploding(name, settings),
  };
  return new Registry([
    ...BUILTIN_ACTORS,
    collect as ActorSpec,
    explode as ActorSpec,
  ]);
}

/** A {@link Collector} that records itself in `made` once set up. */
class Recorded extends Collector {
  #made: Made;
  constructor(name: string, settings: ActorSettings, made: Made) {
    super(name, settings);
    this.#made = made;
  }
  override setup(): void {
    this.#made.set(this.name, [...this.#made.get(this.name) ?? [], this]);
  }
}

/** An output whose setup throws, as a `module:` that cannot start. */
class Exploding extends Actor {
  readonly kind = "output";
  override setup(): void {
    throw new Error("cannot open the device");
  }
  override consume(_event: Event): void {}
}

/** What a version of the test pipeline has. */
interface Version {
  port: number;
  /** The tag the middle stage sets. */
  tag: string;
  /** Whether the `extra` branch is there. */
  branch: boolean;
  /** The `http_server`'s queue_timeout (a change replaces it). */
  queueTimeout: number;
  /** More actor lines (indented by 2). */
  more?: string[];
}

/**
 * generator and http_server -> funnel -> header (the middle stage) ->
 * fanout -> `out`, and `extra` when `branch`.
 */
function pipeline(version: Version): string {
  return [
    "actors:",
    "  gen: { type: generator, options: { interval: 0.001, data: 'g{{seq}}' } }",
    `  web: { type: http_server, options: { hostname: 127.0.0.1, port: ${version.port}, queue_timeout: ${version.queueTimeout} } }`,
    "  join: { type: funnel }",
    `  mid: { type: header, options: { set: { tag: ${version.tag} } } }`,
    "  copy: { type: fanout }",
    "  out: { type: collect }",
    ...(version.branch ? ["  extra: { type: collect }"] : []),
    ...version.more ?? [],
    "connections:",
    "  - gen.outbox -> join.gen",
    "  - web.outbox -> join.web",
    "  - join.outbox -> mid.inbox",
    "  - mid.outbox -> copy.inbox",
    "  - copy.main -> out.inbox",
    ...(version.branch ? ["  - copy.extra -> extra.inbox"] : []),
    "",
  ].join("\n");
}

/**
 * Posts `{"n": i}` for i = 1, 2... on a new connection each, until `stop`;
 * returns the answers' first lines (the status lines), one per request.
 */
async function postUntil(
  port: number,
  stop: AbortSignal,
): Promise<string[]> {
  const statuses: string[] = [];
  for (let n = 1; !stop.aborted; n++) {
    const body = JSON.stringify({ n });
    const client = await RawClient.open(
      port,
      `POST /outbox HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    const answer = await client.closed;
    statuses.push(answer.split("\r\n")[0]!);
  }
  return statuses;
}

/** The numbers 1..count. */
function upTo(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** The first version of the test pipeline: tag v0, no branch. */
function firstVersion(): Version {
  return { port: freePort(), tag: "v0", branch: false, queueTimeout: 5 };
}

/**
 * Starts the pipeline of `file` with the actors of {@link testRegistry},
 * and a {@link Reloader} of it.
 */
async function startFrom(
  file: string,
  made: Made,
  logLevel: LogLevel = "warning",
): Promise<{ router: Router; config: PipelineConfig; reloader: Reloader }> {
  const registry = testRegistry(made);
  const { router, config } = await loadPipeline(file, {
    registry,
    routerOptions: { logLevel },
  });
  await router.start();
  const reloader = new Reloader(router, config, () => file, { registry });
  return { router, config, reloader };
}

Deno.test("20 reloads under load: exactly once on kept paths, nothing lost on replaced ones, no connection refused", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    let version = firstVersion();
    await Deno.writeTextFile(file, pipeline(version));
    const { router, reloader } = await startFrom(file, made);
    const stop = new AbortController();
    const posting = postUntil(version.port, stop.signal);
    const kinds: Record<string, number> = {};
    for (let i = 1; i <= 20; i++) {
      // Each reload changes the middle stage's option, adds or removes
      // the branch, or changes an option of the http_server in front.
      const kind = ["mid", "branch", "mid", "web"][i % 4]!;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      version = kind === "mid"
        ? { ...version, tag: `v${i}` }
        : kind === "branch"
        ? { ...version, branch: !version.branch }
        : { ...version, queueTimeout: version.queueTimeout === 5 ? 6 : 5 };
      await Deno.writeTextFile(file, pipeline(version));
      await new Promise((resolve) => setTimeout(resolve, 15));
      const outcome = await reloader.reload("test");
      assert.equal(outcome.status, "applied", outcome.reason);
      assert.deepEqual(outcome.change!.warnings, []);
      if (kind === "web") assert.deepEqual(outcome.change!.takenOver, ["web"]);
    }
    assert.deepEqual(kinds, { mid: 10, branch: 5, web: 5 });
    await new Promise((resolve) => setTimeout(resolve, 15));
    stop.abort();
    const statuses = await posting;
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(
      report.failed + report.dropped + report.abandoned + report.discarded,
      0,
    );
    // The http_server answered every request on every new connection.
    assert.ok(statuses.length > 20, `only ${statuses.length} requests`);
    assert.deepEqual(
      statuses.filter((status) => status !== "HTTP/1.1 202 Accepted"),
      [],
    );
    // Every event reached the kept output once, in order per source.
    const [out] = made.get("out")!;
    assert.equal(made.get("out")!.length, 1);
    const generated = out!.events.filter((event) => "gen" in event.header)
      .map((event) => Number((event.data as string).slice(1)));
    assert.ok(generated.length > 100, `only ${generated.length} generated`);
    assert.deepEqual(generated, upTo(generated.length));
    const posted = out!.events.filter((event) => "web" in event.header)
      .map((event) => (event.data as { n: number }).n);
    assert.deepEqual(posted, upTo(statuses.length));
    assert.equal(report.created, generated.length + posted.length);
    // Every tag the middle stage had shows, in order.
    const tags = [...new Set(out!.events.map((event) => event.header.tag))];
    assert.deepEqual(
      tags,
      tags.toSorted((a, b) =>
        Number(String(a).slice(1)) - Number(String(b).slice(1))
      ),
    );
    assert.equal(tags.at(-1), version.tag);
    // Each branch added got an unbroken run of copies, then drained.
    const branches = made.get("extra")!;
    assert.equal(branches.length, 3);
    let copies = 0;
    for (const branch of branches) {
      const seqs = branch.events.filter((event) => "gen" in event.header)
        .map((event) => Number((event.data as string).slice(1)));
      assert.ok(seqs.length > 0);
      assert.deepEqual(seqs, upTo(seqs.length).map((i) => i + seqs[0]! - 1));
      copies += branch.events.length;
    }
    assert.equal(report.delivered, out!.events.length + copies);
  });
});

Deno.test("a reload whose new http_server finds its port in use rolls back, and traffic goes on", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    const version = firstVersion();
    await Deno.writeTextFile(file, pipeline(version));
    const { router, config, reloader } = await startFrom(file, made, "error");
    const [out] = made.get("out")!;
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await Deno.writeTextFile(
      file,
      pipeline({
        ...version,
        tag: "v1",
        branch: true,
        more: [
          `  web2: { type: http_server, options: { hostname: 127.0.0.1, port: ${taken.addr.port} } }`,
        ],
      }),
    );
    const outcome = await reloader.reload("test");
    assert.equal(outcome.status, "rolled_back");
    assert.match(outcome.reason!, /Actor "web2" failed to set up: AddrInUse/);
    assert.deepEqual(outcome.plan!.actors.add.map(({ name }) => name), [
      "extra",
      "web2",
    ]);
    // Nothing changed: the same actors run, and the old file is the one
    // a reload compares with.
    assert.equal(router.actor("web2"), undefined);
    assert.equal(router.actor("extra"), undefined);
    assert.equal(reloader.config, config);
    const before = out!.events.length;
    await out!.waitFor(before + 50);
    const posted = await fetch(`http://127.0.0.1:${version.port}/outbox`, {
      method: "POST",
      body: JSON.stringify({ n: 1 }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(posted.status, 202);
    await posted.body?.cancel();
    await eventually(
      () => out!.events.find((event) => "web" in event.header),
      "the posted event at the output",
    );
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(report.failed + report.dropped + report.abandoned, 0);
    assert.equal(report.delivered, out!.events.length);
    assert.ok(out!.events.every((event) => event.header.tag === "v0"));
  });
});

Deno.test("a reload whose new actor throws in its setup rolls back; a later good reload applies", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    const version = firstVersion();
    await Deno.writeTextFile(file, pipeline(version));
    const { router, reloader } = await startFrom(file, made, "error");
    await Deno.writeTextFile(
      file,
      pipeline({ ...version, tag: "v1", more: ["  bomb: { type: explode }"] })
        .replace(
          "  - copy.main -> out.inbox",
          "  - copy.main -> out.inbox\n  - copy.bomb -> bomb.inbox",
        ),
    );
    const failed = await reloader.reload("test");
    assert.equal(failed.status, "rolled_back");
    assert.equal(
      failed.reason,
      'Actor "bomb" failed to set up: Error: cannot open the device',
    );
    const [out] = made.get("out")!;
    await out!.waitFor(out!.events.length + 20);
    await Deno.writeTextFile(file, pipeline({ ...version, tag: "v2" }));
    const applied = await reloader.reload("test");
    assert.equal(applied.status, "applied", applied.reason);
    assert.deepEqual(applied.change!.replaced, ["mid"]);
    await eventually(
      () => out!.events.find((event) => event.header.tag === "v2"),
      "an event tagged by the new middle stage",
    );
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(report.failed + report.dropped + report.abandoned, 0);
    const tags = [...new Set(out!.events.map((event) => event.header.tag))];
    assert.deepEqual(tags, ["v0", "v2"]);
    assert.deepEqual(
      reloader.history().map(({ status }) => status),
      ["rolled_back", "applied"],
    );
  });
});

Deno.test("a reload of a file with a syntax error changes nothing and says where", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    const version = firstVersion();
    await Deno.writeTextFile(file, pipeline(version));
    const { router, config, reloader } = await startFrom(file, made, "error");
    const mid = router.actor("mid");
    await Deno.writeTextFile(
      file,
      pipeline({ ...version, tag: "v1" }).replace(
        "  copy: { type: fanout }",
        "  copy: { type: fanout",
      ),
    );
    const outcome = await reloader.reload("SIGHUP");
    assert.equal(outcome.status, "invalid");
    assert.equal(outcome.plan, undefined);
    assert.ok(outcome.errors!.length > 0);
    for (const error of outcome.errors!) {
      assert.match(error, new RegExp(`^${RegExp.escape(file)}:\\d+:\\d+: `));
    }
    assert.match(outcome.errors![0]!, /:7:3: YAML syntax error: /);
    // An unknown type is reported where it is, too.
    await Deno.writeTextFile(
      file,
      pipeline(version).replace("type: header", "type: headr"),
    );
    const unknown = await reloader.reload("SIGHUP");
    assert.equal(unknown.status, "invalid");
    assert.match(unknown.errors!.join("\n"), /:5:\d+: .*headr/);
    assert.equal(router.actor("mid"), mid);
    assert.equal(reloader.config, config);
    const [out] = made.get("out")!;
    await out!.waitFor(out!.events.length + 20);
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.ok(out!.events.every((event) => event.header.tag === "v0"));
  });
});

/**
 * Sends line `n` for n = 1, 2... on a new connection each, until `stop`;
 * returns how many were sent. A refused connection throws.
 */
async function sendLinesUntil(
  port: number,
  stop: AbortSignal,
): Promise<number> {
  let n = 0;
  while (!stop.aborted) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode(`${++n}\n`));
      await conn.closeWrite();
      // The server closes once it has read the line.
      await conn.read(new Uint8Array(16));
    } finally {
      conn.close();
    }
  }
  return n;
}

Deno.test("reloads that replace a tcp_server keep its socket: every connection is accepted and every line arrives once", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    const port = freePort();
    const text = (maxLine: number) =>
      [
        "actors:",
        `  tcp: { type: tcp_server, options: { hostname: 127.0.0.1, port: ${port}, max_line_bytes: ${maxLine} } }`,
        "  out: { type: collect }",
        "connections:",
        "  - tcp.outbox -> out.inbox",
        "",
      ].join("\n");
    await Deno.writeTextFile(file, text(1000));
    const { router, reloader } = await startFrom(file, made);
    const stop = new AbortController();
    const sending = sendLinesUntil(port, stop.signal);
    for (let i = 1; i <= 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 15));
      await Deno.writeTextFile(file, text(1000 + i));
      const outcome = await reloader.reload("test");
      assert.equal(outcome.status, "applied", outcome.reason);
      assert.deepEqual(outcome.change!.takenOver, ["tcp"]);
    }
    await new Promise((resolve) => setTimeout(resolve, 15));
    stop.abort();
    const sent = await sending;
    const [out] = made.get("out")!;
    await out!.waitFor(sent);
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(report.failed + report.dropped + report.abandoned, 0);
    assert.ok(sent > 6, `only ${sent} lines`);
    assert.deepEqual(
      out!.events.map((event) => Number(event.data)).toSorted((a, b) => a - b),
      upTo(sent),
    );
  });
});

Deno.test("reloads that replace a udp_in keep its socket: no datagram is lost to a closed port", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "pipeline.yaml");
    const made: Made = new Map();
    const port = freePort();
    const text = (waiting: number) =>
      [
        "actors:",
        `  udp: { type: udp_in, options: { hostname: 127.0.0.1, port: ${port}, max_waiting_datagrams: ${waiting} } }`,
        "  out: { type: collect }",
        "connections:",
        "  - udp.outbox -> out.inbox",
        "",
      ].join("\n");
    await Deno.writeTextFile(file, text(1000));
    const { router, reloader } = await startFrom(file, made);
    const [out] = made.get("out")!;
    // One datagram at a time, each sent once the one before arrived, so
    // that none is lost to a full socket buffer: only a closed port could.
    let sent = 0;
    const stop = new AbortController();
    const sending = (async () => {
      while (!stop.signal.aborted) {
        await sendDatagrams(port, [String(++sent)]);
        await within(out!.waitFor(sent), `datagram ${sent} at the output`);
      }
    })();
    for (let i = 1; i <= 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 15));
      await Deno.writeTextFile(file, text(1000 + i));
      const outcome = await reloader.reload("test");
      assert.equal(outcome.status, "applied", outcome.reason);
      assert.deepEqual(outcome.change!.takenOver, ["udp"]);
    }
    stop.abort();
    await sending;
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(report.failed + report.dropped + report.abandoned, 0);
    assert.ok(sent > 6, `only ${sent} datagrams`);
    assert.deepEqual(
      out!.events.map((event) => Number(event.data)),
      upTo(sent),
    );
  });
});

Deno.test("reloads asked for while one is in progress join into one, from the file as it is then", async () => {
  const made: Made = new Map();
  const registry = testRegistry(made);
  const version = firstVersion();
  let text = pipeline(version);
  const { router, config } = await loadPipeline(
    { text, file: "pipeline.yaml" },
    { registry, routerOptions: { logLevel: "warning" } },
  );
  await router.start();
  let taken = Promise.withResolvers<void>();
  let reads = 0;
  const reloader = new Reloader(router, config, () => {
    reads++;
    taken.resolve();
    return { text, file: "pipeline.yaml" };
  }, { registry });
  text = pipeline({ ...version, tag: "v1" });
  const first = reloader.reload("SIGHUP");
  await taken.promise;
  taken = Promise.withResolvers<void>();
  // The first reload took the file: those asked for now wait, together.
  text = pipeline({ ...version, tag: "v2" });
  const burst = Array.from({ length: 10 }, () => reloader.reload("SIGHUP"));
  const outcomes = await Promise.all([first, ...burst]);
  assert.equal(reads, 2);
  assert.equal(new Set(outcomes.slice(1)).size, 1);
  assert.deepEqual(
    outcomes.slice(0, 2).map(({ status, plan }) => [
      status,
      plan!.actors.replace[0]!.changes,
    ]),
    [
      ["applied", [{ field: "options.set.tag", before: "v0", after: "v1" }]],
      ["applied", [{ field: "options.set.tag", before: "v1", after: "v2" }]],
    ],
  );
  assert.equal(reloader.history().length, 2);
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
});
