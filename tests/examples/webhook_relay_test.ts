import assert from "node:assert/strict";
import { spawnCli } from "../cli_helpers.ts";
import {
  freePort,
  killIfRunning,
  stopWithSigterm,
  waitForPort,
} from "./helpers.ts";

/** What the target saw of one hook: its attempts and what each carried. */
interface Seen {
  attempts: number;
  relayIds: Set<string>;
  bodies: Set<string>;
}

/**
 * The relay's target: hooks "ok-*" are answered 200 at once, "flaky-*" 503
 * twice then 200, "refused" 400, "down" always 503. Resolves `done` once
 * every "ok-*" and "flaky-*" hook got its 200 and "down" was tried
 * `downAttempts` times.
 */
function startTarget(expected: readonly string[], downAttempts: number) {
  const seen = new Map<string, Seen>();
  const succeeded = new Set<string>();
  const done = Promise.withResolvers<void>();
  const check = () => {
    if (
      expected.every((id) => succeeded.has(id)) &&
      (seen.get("down")?.attempts ?? 0) >= downAttempts
    ) done.resolve();
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const text = await request.text();
      const { id } = JSON.parse(text) as { id: string };
      const entry = seen.get(id) ??
        { attempts: 0, relayIds: new Set(), bodies: new Set() };
      seen.set(id, entry);
      entry.attempts++;
      entry.relayIds.add(request.headers.get("x-relay-id") ?? "");
      entry.bodies.add(
        `${request.method} ${new URL(request.url).pathname} ${
          request.headers.get("content-type")
        } ${text}`,
      );
      let response: Response;
      if (id === "refused") {
        response = new Response("unknown hook", { status: 400 });
      } else if (
        id === "down" || (id.startsWith("flaky-") && entry.attempts <= 2)
      ) {
        response = new Response("try again later", { status: 503 });
      } else {
        succeeded.add(id);
        response = new Response(null, { status: 204 });
      }
      queueMicrotask(check);
      return response;
    },
  );
  return { server, seen, done: done.promise };
}

Deno.test("examples/webhook_relay.yaml relays every hook, retrying 5xx answers with backoff, and prints the ones that fail", async () => {
  const ok = Array.from({ length: 10 }, (_, i) => `ok-${i}`);
  const flaky = Array.from({ length: 6 }, (_, i) => `flaky-${i}`);
  // One attempt and the example's four retries.
  const target = startTarget([...ok, ...flaky], 5);
  const port = freePort();
  const cli = spawnCli(["run", "examples/webhook_relay.yaml"], {
    HTTP_PORT: String(port),
    TARGET_URL: `http://127.0.0.1:${target.server.addr.port}/hooks`,
  });
  try {
    await waitForPort(cli, port);

    // Every hook is accepted at once with its id.
    const hooks = [...flaky, ...ok, "refused", "down"];
    const accepted = new Map<string, string>();
    await Promise.all(hooks.map(async (id) => {
      const response = await fetch(`http://127.0.0.1:${port}/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id, payload: { ref: "main" } }),
      });
      assert.equal(response.status, 202);
      const body: { id: string } = await response.json();
      accepted.set(id, body.id);
    }));
    const wrong = await fetch(`http://127.0.0.1:${port}/events`);
    assert.equal(wrong.status, 405);
    await wrong.body?.cancel();

    await target.done;
    await cli.stdout.until((text) => text.split("\n").length > 2);
    const { result, report } = await stopWithSigterm(cli);

    // What the target saw: each hook relayed as it was posted, with the id
    // of its acceptance; 5xx answers retried until a 2xx, a 4xx not retried.
    for (const id of hooks) {
      const entry = target.seen.get(id);
      assert.ok(entry, `hook "${id}" reached the target`);
      assert.deepEqual(entry.relayIds, new Set([accepted.get(id)]));
      assert.deepEqual(
        entry.bodies,
        new Set([
          `POST /hooks application/json ${
            JSON.stringify({ id, payload: { ref: "main" } })
          }`,
        ]),
      );
    }
    const attempts = Object.fromEntries(
      hooks.map((id) => [id, target.seen.get(id)!.attempts]),
    );
    assert.deepEqual(attempts, {
      ...Object.fromEntries(flaky.map((id) => [id, 3])),
      ...Object.fromEntries(ok.map((id) => [id, 1])),
      refused: 1,
      down: 5,
    });

    // The two that failed are printed, with why.
    const failed = result.stdout.trimEnd().split("\n").map((line) => {
      assert.ok(line.startsWith("failed: "), line);
      return JSON.parse(line.slice("failed: ".length));
    });
    const byId = new Map(failed.map((event) => [event.data.id, event]));
    assert.deepEqual([...byId.keys()].sort(), ["down", "refused"]);
    const refused = byId.get("refused")!.header;
    assert.equal(refused.hooks.id, accepted.get("refused"));
    assert.equal(refused.error.actor, "relay");
    assert.equal(refused.error.status, 400);
    assert.equal(refused.error.body, "unknown hook");
    assert.equal(refused.error.attempts, 1);
    const down = byId.get("down")!.header;
    assert.equal(down.hooks.id, accepted.get("down"));
    assert.equal(down.error.status, 503);
    assert.equal(down.error.body, "try again later");
    assert.equal(down.error.attempts, 5);
    assert.match(down.error.message, /\(after 5 attempts\)$/);

    // 16 relayed; the 2 that failed in "relay" printed by the error output.
    assert.deepEqual(report, {
      created: ok.length + flaky.length + 2,
      delivered: ok.length + flaky.length,
      errors: 2,
      filtered: 0,
      dropped: 0,
      failed: 0,
      abandoned: 0,
      discarded: 0,
    });
  } finally {
    await killIfRunning(cli);
    await target.server.shutdown();
  }
});
