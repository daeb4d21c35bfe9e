/**
 * The reload routes of the admin server: `POST /api/reload` and
 * `GET /api/reloads` (the CLI test `tests/cli/commands/run_reload_test.ts`
 * runs them against a real `run`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { AdminServer } from "../../admin/server.ts";
import type { ReloadOutcome } from "../../core/config/reload.ts";
import { Router } from "../../core/router.ts";

/** An outcome of `status`. */
function outcome(status: ReloadOutcome["status"]): ReloadOutcome {
  return {
    at: "2026-01-01T03:00:00.000Z",
    trigger: "api",
    file: "pipeline.yaml",
    status,
    durationMs: 1,
  };
}

Deno.test("POST /api/reload answers the outcome with a status that says whether it changed anything", async () => {
  const router = new Router();
  const history: ReloadOutcome[] = [];
  const next: ReloadOutcome["status"][] = [
    "applied",
    "unchanged",
    "invalid",
    "rolled_back",
    "refused",
    "applied",
  ];
  const admin = new AdminServer({
    router,
    port: 0,
    token: "t",
    reloads: {
      reload: (trigger) => {
        const done = { ...outcome(next.shift()!), trigger };
        history.push(done);
        return Promise.resolve(done);
      },
      history: () => history,
    },
  });
  const headers = { authorization: "Bearer t" };
  try {
    const url = new URL("api/reload", admin.url);
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const response = await fetch(url, { method: "POST", headers });
      const body = await response.json();
      statuses.push(`${response.status} ${body.status} ${body.trigger}`);
    }
    assert.deepEqual(statuses, [
      "200 applied api",
      "200 unchanged api",
      "422 invalid api",
      "409 rolled_back api",
      "409 refused api",
    ]);
    const wrongMethod = await fetch(url, { headers });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "POST");
    await wrongMethod.body?.cancel();
    const posted = await fetch(new URL("api/reloads", admin.url), {
      method: "POST",
      headers,
    });
    assert.equal(posted.status, 405);
    await posted.body?.cancel();
    const listed = await fetch(new URL("api/reloads", admin.url), { headers });
    const { reloads } = await listed.json();
    assert.equal(reloads.length, 5);
    // The host check applies to the Origin too.
    const own = await fetch(url, {
      method: "POST",
      headers: { ...headers, origin: admin.url.replace(/\/$/, "") },
    });
    assert.equal(own.status, 200);
    await own.body?.cancel();
  } finally {
    await admin.close();
    await router.stop();
  }
});

Deno.test("without a reloader, the reload routes answer 404", async () => {
  const router = new Router();
  const admin = new AdminServer({ router, port: 0 });
  try {
    const routes: [string, string][] = [
      ["api/reload", "POST"],
      ["api/reloads", "GET"],
    ];
    for (const [path, method] of routes) {
      const response = await fetch(new URL(path, admin.url), { method });
      assert.equal(response.status, 404);
      assert.match((await response.json()).error, /cannot be reloaded/);
    }
  } finally {
    await admin.close();
    await router.stop();
  }
});
