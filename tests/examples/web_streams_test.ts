import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../cli_helpers.ts";
import { withTempDir } from "../helpers.ts";

const FETCH = join(ROOT, "examples", "fetch_to_file.ts");
const GZIP = join(ROOT, "examples", "gzip_stage.ts");

Deno.test("examples/fetch_to_file.ts: a fetch body from a local Deno.serve goes through a jsonata actor into a file", async () => {
  const orders = 20_000;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => {
      let id = 0;
      // Served in many small chunks, records cut across them.
      const body = new ReadableStream<string>({
        pull(controller) {
          let text = "";
          for (let i = 0; i < 100 && id < orders; i++) {
            id++;
            text += JSON.stringify({
              id,
              items: [{ price: id }, { price: 0.5 }],
            }) + "\n";
          }
          controller.enqueue(text.slice(0, 7));
          controller.enqueue(text.slice(7));
          if (id === orders) controller.close();
        },
      });
      return new Response(body.pipeThrough(new TextEncoderStream()));
    },
  );
  await withTempDir(async (dir) => {
    const path = join(dir, "totals.ndjson");
    const url = `http://127.0.0.1:${server.addr.port}/orders`;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-net=127.0.0.1:${server.addr.port}`,
        `--allow-write=${path}`,
        FETCH,
        url,
        path,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(stderr, `Wrote ${orders} orders to ${path}\n`);
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assert.equal(lines.length, orders);
    lines.forEach((line, i) =>
      assert.deepEqual(JSON.parse(line), { order: i + 1, total: i + 1.5 })
    );
  });
});

Deno.test("examples/gzip_stage.ts: a router between Deno.stdin and CompressionStream, run with piped stdin", async () => {
  const lines = Array.from(
    { length: 30_000 },
    (_, i) => i % 3 === 0 ? "" : `line ${i}`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", GZIP],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = ReadableStream.from([lines.join("\n") + "\n"])
    .pipeThrough(new TextEncoderStream())
    .pipeTo(child.stdin);
  const [status, text, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout.pipeThrough(new DecompressionStream("gzip")))
      .text(),
    new Response(child.stderr).text(),
  ]);
  await writing;
  assert.equal(status.code, 0, stderr);
  const kept = lines.filter((line) => line !== "");
  assert.deepEqual(
    text.trimEnd().split("\n"),
    kept.map((line) => line.toUpperCase()),
  );
  assert.equal(
    stderr,
    `${lines.length} lines in, ${kept.length} out, ${
      lines.length - kept.length
    } blank\n`,
  );
});

Deno.test("the README's Web Streams examples are examples/fetch_to_file.ts and examples/gzip_stage.ts, word for word", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  for (const path of [FETCH, GZIP]) {
    const code = await Deno.readTextFile(path);
    assert.ok(
      readme.includes("```ts ignore\n" + code + "```\n"),
      `README.md shows ${path} in a \`\`\`ts ignore block`,
    );
  }
});
