import assert from "node:assert/strict";
import { join } from "node:path";
import { Router } from "../../../core/router.ts";
import { LogFile } from "../../../actors/log/log_file.ts";
import { ListInput, withTempDir } from "../../helpers.ts";
import { feed, logEvent } from "./support.ts";

/** Feeds `messages` as log events to a `log_file` actor through a router. */
async function write(
  options: ConstructorParameters<typeof LogFile>[1],
  messages: string[],
): Promise<LogFile> {
  const actor = new LogFile("file", options);
  await feed(actor, messages.map((message) => logEvent(message, "info")));
  return actor;
}

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

// Each line is "2026-01-01T00:00:00.000Z INFO  [a] mNN\n": 40 bytes.
const LINE = 40;

Deno.test("log_file rotates before a line would pass max_bytes and keeps max_files rotated files", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "app.log");
    const messages = Array.from(
      { length: 10 },
      (_, i) => `m${String(i).padStart(2, "0")}`,
    );
    const actor = await write(
      { path, max_bytes: 3 * LINE, max_files: 2 },
      messages,
    );
    assert.deepEqual(await files(dir), ["app.log", "app.log.1", "app.log.2"]);
    const lines = async (name: string) =>
      (await Deno.readTextFile(join(dir, name))).split("\n").slice(0, -1)
        .map((line) => line.slice(-3));
    // Three lines a file; the oldest file (m00..m02) was removed.
    assert.deepEqual(await lines("app.log.2"), ["m03", "m04", "m05"]);
    assert.deepEqual(await lines("app.log.1"), ["m06", "m07", "m08"]);
    assert.deepEqual(await lines("app.log"), ["m09"]);
    assert.equal(
      (await Deno.readTextFile(path)).split("\n")[0],
      "2026-01-01T00:00:00.000Z INFO  [a] m09",
    );
    assert.equal(actor.figures().rotations_total, 3);
  });
});

Deno.test("log_file appends to an existing file, counting its size, and writes ndjson in json format", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "logs", "app.log");
    await Deno.mkdir(join(dir, "logs"));
    await Deno.writeTextFile(path, "x".repeat(100) + "\n");
    await write({ path, format: "json", max_bytes: 200 }, ["one", "two"]);
    const kept = await Deno.readTextFile(path);
    const rotated = await Deno.readTextFile(`${path}.1`);
    assert.equal(rotated.split("\n")[0], "x".repeat(100));
    assert.deepEqual(
      JSON.parse(rotated.split("\n")[1]!),
      {
        time: "2026-01-01T00:00:00.000Z",
        level: "info",
        actor: "a",
        message: "one",
      },
    );
    assert.equal(JSON.parse(kept.trim()).message, "two");
  });
});

Deno.test("log_file with max_files 0 empties the file instead of keeping rotated ones", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "app.log");
    await write({ path, max_bytes: 2 * LINE, max_files: 0 }, [
      "m01",
      "m02",
      "m03",
      "m04",
      "m05",
    ]);
    assert.deepEqual(await files(dir), ["app.log"]);
    assert.deepEqual(
      (await Deno.readTextFile(path)).split("\n").slice(0, -1).map((line) =>
        line.slice(-3)
      ),
      ["m05"],
    );
  });
});

Deno.test("log_file takes the router's log records as its log actor and creates the folder", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "new", "router.log");
    const router = new Router();
    router.registerLogActor(new LogFile("file", { path }));
    router.register(new ListInput("input", []));
    await router.start();
    await router.finished;
    await router.stop();
    const text = await Deno.readTextFile(path);
    assert.match(
      text,
      /WARN {2}\[router\] Queue "input\.outbox" is not connected/,
    );
  });
});
