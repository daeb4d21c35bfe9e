import assert from "node:assert/strict";
import { join } from "node:path";
import type { EventError } from "../../../core/actor.ts";
import { repoUrl, ROOT } from "../../cli_helpers.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { Stdin } from "../../../actors/input/stdin.ts";
import { withTempDir } from "../../helpers.ts";
import { encode, throughHolder, within } from "./support.ts";

/**
 * A program that runs `stdin -> collector` with the codec and limit given as
 * arguments and prints what reached the collectors as one JSON line. With
 * `stop-after-first` it stops the router after the first event instead of
 * waiting for standard input to end.
 */
const PROGRAM = `
import { Router } from "${repoUrl("core/router.ts")}";
import { stdin } from "${repoUrl("actors/input/stdin.ts")}";
import { Collector } from "${repoUrl("tests/helpers.ts")}";

const [codec, maxLineBytes, mode] = Deno.args;
const router = new Router({ logLevel: "error" });
router.register(stdin, "input", { codec, max_line_bytes: Number(maxLineBytes) });
const sink = router.register(new Collector("sink"));
const errors = router.register(new Collector("errors"));
router.connect("input.outbox", "sink.inbox");
router.connect("input.error", "errors.inbox");
await router.start();
if (mode === "stop-after-first") await sink.waitFor(1);
else await router.finished;
const report = await router.stop({ timeoutMs: 5000 });
const plain = (data) =>
  data instanceof Uint8Array ? { bytes: new TextDecoder().decode(data) } : data;
console.log(JSON.stringify({
  events: sink.events.map((event) => ({ header: event.header, data: plain(event.data) })),
  errors: errors.events,
  timedOut: report.timedOut,
}));
`;

interface Outcome {
  events: { header: Record<string, unknown>; data: unknown }[];
  errors: { header: { input: unknown; error: EventError }; data: unknown }[];
  timedOut: boolean;
}

/**
 * Runs the program in a new Deno process, writes `input` to its standard
 * input (closing it unless `keepOpen`), and returns what it printed.
 */
async function run(
  args: string[],
  input: string,
  keepOpen = false,
): Promise<Outcome> {
  return await withTempDir(async (dir) => {
    const script = `${dir}/program.js`;
    await Deno.writeTextFile(script, PROGRAM);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--config",
        join(ROOT, "deno.json"),
        script,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    if (!keepOpen) await writer.close();
    let output: Deno.CommandOutput;
    try {
      output = await within(child.output(), "the program to exit");
    } catch (error) {
      child.kill();
      await child.status;
      throw error;
    } finally {
      if (keepOpen) await writer.close().catch(() => {});
    }
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `the program failed: ${stderr}`);
    return JSON.parse(new TextDecoder().decode(output.stdout));
  });
}

Deno.test("stdin makes one event per line of a real process's standard input and finishes when it ends", async () => {
  const outcome = await run(["lines", "1024"], "first\r\nsecond\n\nlast");
  assert.deepEqual(outcome.events, [
    { header: { input: { line: 1 } }, data: "first" },
    { header: { input: { line: 2 } }, data: "second" },
    { header: { input: { line: 3 } }, data: "" },
    { header: { input: { line: 4 } }, data: "last" },
  ]);
  assert.deepEqual(outcome.errors, []);
  assert.equal(outcome.timedOut, false);
});

Deno.test("stdin ndjson sends bad and over-long lines to error and goes on reading", async () => {
  const outcome = await run(
    ["ndjson", "32"],
    `{"n":1}\n{oops\n{"n":"${"x".repeat(64)}"}\n{"n":2}\n`,
  );
  assert.deepEqual(outcome.events.map((event) => event.data), [
    { n: 1 },
    { n: 2 },
  ]);
  assert.deepEqual(
    outcome.errors.map((event) => [
      event.header.input,
      event.header.error.name,
      event.header.error.actor,
    ]),
    [[{ line: 2 }, "SyntaxError", "input"], [
      { line: 3 },
      "RangeError",
      "input",
    ]],
  );
  assert.match(
    outcome.errors[0]!.header.error.message,
    /^Line 2 is not valid JSON: /,
  );
  assert.equal(outcome.errors[0]!.data, "{oops");
  assert.equal(
    outcome.errors[1]!.header.error.message,
    "Line 3 is longer than 32 bytes (max_line_bytes)",
  );
});

Deno.test("stdin json reads the whole input as one document", async () => {
  const outcome = await run(["json", "1024"], '{\n  "a": [1,\n 2]\n}\n');
  assert.deepEqual(outcome.events, [{
    header: { input: {} },
    data: { a: [1, 2] },
  }]);
});

Deno.test("stdin raw gives the bytes read", async () => {
  const outcome = await run(["raw", "16"], "bytes, not lines\nat all");
  const text = outcome.events.map((event) =>
    (event.data as { bytes: string }).bytes
  ).join("");
  assert.equal(text, "bytes, not lines\nat all");
  assert.deepEqual(outcome.errors, []);
});

Deno.test("stdin stops at once when the router stops while standard input is still open", async () => {
  const outcome = await run(
    ["lines", "1024", "stop-after-first"],
    "one\n",
    true,
  );
  assert.deepEqual(outcome.events.map((event) => event.data), ["one"]);
  assert.equal(outcome.timedOut, false);
});

Deno.test("stdin stops decoding inside one chunk while its events wait for room downstream", async () => {
  const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i}`);
  const source = new ReadableStream<Uint8Array>({
    start: (controller) => {
      controller.enqueue(encode(lines.join("\n") + "\n"));
      controller.close();
    },
  });
  const { data, most } = await throughHolder(
    new Stdin("input", { codec: "lines" }, {}, source),
    lines.length,
  );
  assert.deepEqual(data, lines);
  // A batch being written and one more: never the rest of the chunk.
  assert.ok(most <= 2 * MAX_BATCH + 1, `the outbox held ${most} events`);
});
