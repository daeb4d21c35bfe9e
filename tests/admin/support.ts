/**
 * Helpers for the admin tests: pipelines to look at, an output whose health
 * the test sets, and HTTP clients that name the `Host` they want.
 *
 * @module
 */

import http from "node:http";
import { Actor } from "../../core/actor.ts";
import { Router } from "../../core/router.ts";
import { Generator } from "../../actors/input/generator.ts";
import { Fanout } from "../../actors/flow/fanout.ts";
import { Pass } from "../core/fixtures.ts";
import { Collector } from "../helpers.ts";

/**
 * An input whose first `crashes` runs send one event (its run number) and
 * then crash; the run after them sends one more and waits for the stop.
 */
export class Flaky extends Actor {
  readonly kind = "input";
  #runs = 0;
  readonly #crashes: number;

  constructor(name: string, crashes: number) {
    super(name, { restart: { max: 5, withinMs: 60_000, backoffMs: 1 } }, {
      inbound: [],
    });
    this.#crashes = crashes;
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const run = ++this.#runs;
    await this.send({ header: {}, data: run });
    if (run <= this.#crashes) throw new Error(`run ${run} lost its socket`);
    if (!signal.aborted) {
      await new Promise((done) =>
        signal.addEventListener("abort", done, { once: true })
      );
    }
  }
}

/** An output whose `health()` says what the test sets. */
export class Unhealthy extends Collector {
  /** Why it is not ready; `undefined` when it is. */
  problem: string | undefined = "The database is down";

  override health(): { ready: boolean; reason?: string } {
    return this.problem === undefined
      ? { ready: true }
      : { ready: false, reason: this.problem };
  }
}

/**
 * `input` (a generator, an event every `intervalMs`, without end) ->
 * `stage` -> `sink` (a collector).
 */
export function chain(intervalMs = 1): {
  router: Router;
  sink: Collector;
} {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(
    new Generator("input", { interval: intervalMs / 1000, data: "n={{seq}}" }),
  );
  router.register(new Pass("stage"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  return { router, sink };
}

/**
 * A pipeline of 50 actors: `input` (a generator) -> `split` (fanout to 8
 * branches) -> 5 stages per branch -> a sink per branch.
 */
export function fiftyActors(intervalMs = 5): {
  router: Router;
  names: string[];
  sinks: Collector[];
} {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(
    new Generator("input", { interval: intervalMs / 1000, data: { n: 1 } }),
  );
  router.register(new Fanout("split"));
  router.connect("input.outbox", "split.inbox");
  const sinks: Collector[] = [];
  for (let branch = 1; branch <= 8; branch++) {
    let previous = `split.b${branch}`;
    for (let stage = 1; stage <= 5; stage++) {
      const name = `branch${branch}_stage${stage}`;
      router.register(new Pass(name));
      router.connect(previous, `${name}.inbox`);
      previous = `${name}.outbox`;
    }
    const sink = router.register(new Collector(`branch${branch}_sink`));
    router.connect(previous, `${sink.name}.inbox`);
    sinks.push(sink);
  }
  return { router, names: router.actors().map((a) => a.name), sinks };
}

/** The status and body of an answer. */
export interface Answer {
  status: number;
  body: string;
}

/**
 * A GET of `path` from the server on 127.0.0.1:`port` by `node:http`, with
 * the `Host` header `host` (which `fetch` would replace by the URL's).
 */
export function getWithHost(
  port: number,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      {
        host: "127.0.0.1",
        port,
        path,
        headers: { ...headers, host },
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => body += chunk);
        response.on(
          "end",
          () => resolve({ status: response.statusCode!, body }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
  });
}

/**
 * Sends `head` (a request line and headers, each line ended by CRLF; the
 * blank line is added) to 127.0.0.1:`port` over a plain TCP connection and
 * reads the answer to its end (`Connection: close` is added).
 */
export async function rawRequest(port: number, head: string): Promise<Answer> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(
    new TextEncoder().encode(`${head}Connection: close\r\n\r\n`),
  );
  const text = await new Response(connection.readable).text();
  const [start = "", body = ""] = text.split("\r\n\r\n", 2);
  return { status: Number(start.split(" ")[1]), body };
}
