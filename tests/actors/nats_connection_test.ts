import assert from "node:assert/strict";
import { routeLogs, scopedLogger, unrouteLogs } from "../../core/log.ts";
import {
  connectNats,
  NatsConnectionOptions,
} from "../../actors/nats_connection.ts";
import { pollUntil, schemaProblems } from "../helpers.ts";
import { NATS_SERVER, startNatsServer } from "../nats_server.ts";
import { testNeeding } from "../requires.ts";

/** A test that needs nats-server: skipped, saying why, where it is missing. */
const test = testNeeding(NATS_SERVER);

test("connectNats tracks the connection: reconnecting while the server is down, connected again once it is back, closed at the end", async () => {
  const first = await startNatsServer();
  const lines: string[] = [];
  const scope = routeLogs((event) => lines.push(event.data));
  let second: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  try {
    const link = await connectNats(
      NatsConnectionOptions.parse({
        servers: first.url,
        reconnect_time_wait_ms: 20,
        reconnect_max_wait_ms: 100,
      }),
      "watcher",
      scopedLogger(scope, "watcher"),
    );
    assert.equal(link.state, "connected");
    assert.deepEqual(link.health(), { ready: true });

    await first.stop();
    await pollUntil(
      () => link.state,
      (state) => state === "reconnecting",
      "the link to see the server go",
    );
    assert.deepEqual(link.health(), {
      ready: false,
      reason: "The NATS connection is reconnecting",
    });
    assert.equal(link.figures().nats_connected, 0);

    second = await startNatsServer({ port: first.port });
    await pollUntil(
      () => link.state,
      (state) => state === "connected",
      "the link to reconnect",
    );
    assert.deepEqual(link.figures(), {
      nats_connected: 1,
      nats_reconnects_total: 1,
      nats_disconnects_total: 1,
    });

    await link.close();
    assert.equal(link.state, "closed");
    assert.ok(
      lines.some((line) => line.startsWith("Disconnected from NATS server")),
      "the disconnection was logged",
    );
    assert.ok(
      lines.some((line) => line.startsWith("Reconnected to NATS server")),
      "the reconnection was logged",
    );
  } finally {
    unrouteLogs(scope);
    await first.stop();
    await second?.stop();
  }
});

Deno.test("NatsConnectionOptions take one way to authenticate and TLS files that go together", () => {
  const problems = (options: unknown) =>
    schemaProblems(NatsConnectionOptions, options);
  assert.equal(problems({}), undefined);
  assert.deepEqual(problems({ user: "u", password: "p", creds_file: "c" }), [
    'creds_file: Give one way to authenticate, not "user" and "creds_file"',
  ]);
  assert.deepEqual(problems({ password: "p" }), [
    'user: "password" needs a "user"',
  ]);
  assert.deepEqual(problems({ tls: { cert_file: "c.pem" } }), [
    'tls.key_file: "tls.cert_file" and "tls.key_file" go together',
  ]);
  assert.deepEqual(
    problems({ reconnect_time_wait_ms: 500, reconnect_max_wait_ms: 100 }),
    [
      'reconnect_max_wait_ms: "reconnect_max_wait_ms" must be at least "reconnect_time_wait_ms"',
    ],
  );
});

Deno.test("connectNats says which credential file it cannot read", async () => {
  await assert.rejects(
    connectNats(
      NatsConnectionOptions.parse({ creds_file: "/nonexistent/user.creds" }),
      "reader",
      scopedLogger("unrouted", "reader"),
    ),
    /Cannot read "creds_file" file "\/nonexistent\/user.creds": NotFound/,
  );
});
