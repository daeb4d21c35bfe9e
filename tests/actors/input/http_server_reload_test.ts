/**
 * `http_server` replaced by a reload on the same address: a kept-alive
 * connection goes on under the replacement.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HttpServer } from "../../../actors/input/http_server.ts";
import type { Actor } from "../../../core/actor.ts";
import { Router } from "../../../core/router.ts";
import { Collector, freePort } from "../../helpers.ts";
import { RawClient } from "../../raw_http.ts";
import { within } from "./support.ts";

/** A kept-alive request posting `body`. */
function post(body: string): string {
  return `POST /outbox HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** How many answers `text` holds. */
function answers(text: string): number {
  return text.match(/HTTP\/1\.1 202 /g)?.length ?? 0;
}

Deno.test("http_server replaced with other options keeps a kept-alive connection: requests before and after the reload on one socket", async () => {
  const port = freePort();
  const options = (queueTimeout: number) => ({
    hostname: "127.0.0.1",
    port,
    queue_timeout: queueTimeout,
  });
  const router = new Router({ logLevel: "warning" });
  router.register(new HttpServer("web", options(5)));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("web.outbox", "sink.inbox");
  await router.start();
  const client = await RawClient.open(port, post("one"));
  try {
    await within(client.until((text) => answers(text) === 1), "answer one");
    const before = router.actor("web");
    for (let reload = 1; reload <= 3; reload++) {
      const result = await router.change({
        actors: new Map<string, Actor>([
          ["web", new HttpServer("web", options(5 + reload))],
          ["sink", sink],
        ]),
        connections: [...router.connections()],
        remake: () => assert.fail("nothing to renew"),
        sameAddress: new Set(["web"]),
      });
      assert.equal(result.applied, true, result.reason);
      assert.deepEqual(result.takenOver, ["web"]);
      assert.equal(await client.write(post(`after ${reload}`)), true);
      await within(
        client.until((text) => answers(text) === reload + 1),
        `the answer after reload ${reload}`,
      );
    }
    assert.notEqual(router.actor("web"), before);
    assert.equal(client.ended, false, "the server closed the connection");
    assert.deepEqual(sink.data().map(String), [
      "one",
      "after 1",
      "after 2",
      "after 3",
    ]);
  } finally {
    await client.close();
  }
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.delivered, 4);
});
