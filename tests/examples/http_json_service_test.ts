import assert from "node:assert/strict";
import { spawnCli } from "../cli_helpers.ts";
import {
  freePort,
  killIfRunning,
  stopWithSigterm,
  waitForPort,
} from "./helpers.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Item {
  sku: string;
  price: number | string;
  quantity: number;
}

function post(port: number, path: string, body: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}

Deno.test("examples/http_json_service.yaml answers each POST /quote with its priced order, an unpriceable one 422, until SIGTERM", async () => {
  const port = freePort();
  const cli = spawnCli(["run", "examples/http_json_service.yaml"], {
    HTTP_PORT: String(port),
  });
  try {
    await waitForPort(cli, port);

    // Forty orders at once: each answer is the one of its own request.
    const orders = Array.from({ length: 40 }, (_, n) => ({
      customer: `customer-${n}`,
      items: Array.from({ length: 1 + (n % 3) }, (_, i): Item => ({
        sku: `sku-${i}`,
        price: n + i + 0.5,
        quantity: i + 1,
      })),
    }));
    const answers = await Promise.all(orders.map(async (order) => {
      const response = await post(port, "/quote", JSON.stringify(order));
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        id: response.headers.get("x-request-id"),
        body: await response.json(),
      };
    }));
    const ids = new Set<string>();
    answers.forEach((answer, n) => {
      const items = orders[n]!.items;
      assert.equal(answer.status, 200);
      assert.equal(answer.type, "application/json");
      assert.match(answer.id ?? "", UUID);
      ids.add(answer.id!);
      assert.deepEqual(answer.body, {
        customer: `customer-${n}`,
        lines: items.length,
        total: items.reduce(
          (sum, item) => sum + Number(item.price) * item.quantity,
          0,
        ),
        currency: "EUR",
      });
    });
    assert.equal(ids.size, orders.length, "every request has its own id");

    // An order whose price is not a number fails the expression: the error
    // path answers 422 with the reason.
    const rejected = [];
    for (let n = 0; n < 3; n++) {
      const response = await post(
        port,
        "/quote",
        JSON.stringify({
          customer: "mallory",
          items: [{ sku: "tea", price: "free", quantity: 1 }],
        }),
      );
      rejected.push(response.status);
      assert.match(response.headers.get("x-request-id") ?? "", UUID);
      const body = await response.json();
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.match(
        body.error,
        /^JSONata error T2001 at position \d+: The left side of the "\*" operator must evaluate to a number$/,
      );
    }
    assert.deepEqual(rejected, [422, 422, 422]);

    // The server's own answers: no such queue, a body that is not JSON.
    const missing = await post(port, "/orders", "{}");
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: 'No queue "orders"' });
    const broken = await post(port, "/quote", '{"customer":');
    assert.equal(broken.status, 400);
    assert.match((await broken.json()).error, /^The body is not valid JSON: /);

    const { result, report } = await stopWithSigterm(cli);
    assert.equal(result.stdout, "");
    // Every answer the server consumed counts: the priced orders as
    // delivered, the three rejected ones, which failed in "price" and were
    // answered by the error path, as errors.
    assert.deepEqual(report, {
      created: orders.length + 3,
      delivered: orders.length,
      errors: 3,
      filtered: 0,
      dropped: 0,
      failed: 0,
      abandoned: 0,
      discarded: 0,
    });
  } finally {
    await killIfRunning(cli);
  }
});
