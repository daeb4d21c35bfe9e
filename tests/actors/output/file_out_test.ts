import assert from "node:assert/strict";
import { directContext, type EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import { FileOut, fileOut } from "../../../actors/output/file_out.ts";
import { counted, ListInput, sequenced, withTempDir } from "../../helpers.ts";
import { runStage } from "../stage.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** `count` lines "line <n> <padding>", numbered from 1. */
function lines(count: number, padding: string): string[] {
  return Array.from({ length: count }, (_, i) => `line ${i + 1} ${padding}`);
}

/** The files of `dir` by name, with their text. */
async function files(dir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    found[entry.name] = await Deno.readTextFile(`${dir}/${entry.name}`);
  }
  return found;
}

Deno.test("file_out appends lines: string data and bytes as they are, other data as JSON", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    await Deno.writeTextFile(path, "already here\n");
    const { errors, report } = await runStage(
      new FileOut("file", { path, fsync: true }),
      sequenced([
        "plain text",
        { a: 1, b: [true, null] },
        3,
        bytes("raw bytes"),
        [
          "x",
        ],
        undefined,
      ]),
      [],
    );
    assert.deepEqual(errors.events, []);
    assert.equal(report.delivered, 6);
    assert.equal(
      await Deno.readTextFile(path),
      'already here\nplain text\n{"a":1,"b":[true,null]}\n3\nraw bytes\n["x"]\nnull\n',
    );
  });
});

Deno.test("file_out ndjson writes every data as JSON, strings included", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.ndjson`;
    await runStage(
      new FileOut("file", { path, format: "ndjson" }),
      sequenced(['say "hi"', { n: 1 }, 2.5, false]),
      [],
    );
    assert.equal(
      await Deno.readTextFile(path),
      '"say \\"hi\\""\n{"n":1}\n2.5\nfalse\n',
    );
  });
});

Deno.test("file_out rotates by size into path.1 … path.N, keeping max_files old files with whole lines", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    const lines = ["1111", "2222", "3333", "4444", "5555", "6666", "7777"];
    const { errors } = await runStage(
      new FileOut("file", { path, max_bytes: 10, max_files: 2 }),
      sequenced(lines),
      [],
    );
    assert.deepEqual(errors.events, []);
    // Two 5-byte lines fill a file; "1111" and "2222" rotated out of path.2.
    assert.deepEqual(await files(dir), {
      "app.log": "7777\n",
      "app.log.1": "5555\n6666\n",
      "app.log.2": "3333\n4444\n",
    });
  });
});

Deno.test("file_out gives a line longer than max_bytes a file of its own and counts the existing file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "old\n");
    await runStage(
      new FileOut("file", { path, max_bytes: 8, max_files: 3 }),
      sequenced(["abc", "a very long line", "xy", "z"]),
      [],
    );
    assert.deepEqual(await files(dir), {
      "app.log": "xy\nz\n",
      "app.log.1": "a very long line\n",
      "app.log.2": "old\nabc\n",
    });
  });
});

Deno.test("file_out with max_files 0 keeps no old file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await runStage(
      new FileOut("file", { path, max_bytes: 6, max_files: 0 }),
      sequenced(["one", "two", "three"]),
      [],
    );
    assert.deepEqual(await files(dir), { "app.log": "three\n" });
  });
});

Deno.test("file_out rotates the same way whatever the batches are", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    const file = new FileOut("file", { path, max_bytes: 10, max_files: 5 });
    await file.setup();
    try {
      const [a, b, c, d, e] = sequenced([
        "aaaa",
        "bbbb",
        "cccc",
        "dddd",
        "eeee",
      ]);
      const context = directContext(file);
      await file.consumeBatch([a!], context);
      await file.consumeBatch([b!, c!], context);
      await file.consumeBatch([d!, e!], context);
      assert.deepEqual(context.failures, []);
    } finally {
      file.teardown();
    }
    assert.deepEqual(await files(dir), {
      "app.log": "eeee\n",
      "app.log.1": "cccc\ndddd\n",
      "app.log.2": "aaaa\nbbbb\n",
    });
  });
});

Deno.test("file_out sends data it cannot write as JSON to error and writes the rest of the batch", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const file = new FileOut("file", { path });
    const { errors, report } = await runStage(
      file,
      sequenced(["first", { big: 1n }, "third", cycle, "fifth"]),
      [],
    );
    assert.equal(await Deno.readTextFile(path), "first\nthird\nfifth\n");
    assert.deepEqual(errors.events.map((event) => event.header.seq), [2, 4]);
    const failure = errors.events[0]!.header.error as EventError;
    assert.equal(failure.actor, "file");
    assert.equal(failure.queue, "inbox");
    assert.equal(failure.name, "TypeError");
    assert.match(failure.message, /^Cannot write the data as JSON: .*BigInt/);
    assert.deepEqual(counted(file.figures()), {
      consumed_total: 3,
      failed_total: 2,
    });
    assert.equal(report.errors, 2);
    assert.equal(report.failed, 0);
  });
});

Deno.test("file_out writes a named pipe in the background: while its reader waits, the rest of the process runs", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pipe`;
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(made.success, "mkfifo failed");
    // A safety net, not a clock: were the pipe written synchronously, this
    // process would block in write(2) until someone reads; after 30 s this
    // reader does, so the test then fails on the text instead of hanging.
    const rescue = new Deno.Command("sh", {
      args: ["-c", `sleep 30 && exec cat "${path}" > /dev/null`],
    }).spawn();
    try {
      const count = 5_000; // about 500 KB: several times a pipe's buffer
      const padding = "x".repeat(90);
      const router = new Router();
      router.register(new ListInput("input", sequenced(lines(count, padding))));
      router.register(fileOut, "file", { path });
      router.connect("input.outbox", "file.inbox");
      // Opening a pipe to write waits for a reader: open ours alongside.
      const [reader] = await Promise.all([
        Deno.open(path, { read: true }),
        router.start(),
      ]);
      // Nobody reads yet, so the pipe fills up; timers must still fire.
      let ticks = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (++ticks < 20) return;
          clearInterval(timer);
          resolve();
        }, 1);
      });
      const text = new Response(reader.readable).text();
      await router.finished;
      assert.equal((await router.stop()).delivered, count);
      assert.deepEqual(
        (await text).split("\n").slice(0, -1),
        lines(count, padding),
      );
    } finally {
      rescue.kill();
      await rescue.status;
    }
  });
});

Deno.test("file_out fails to start, naming the file, when it cannot open it", async () => {
  await withTempDir(async (dir) => {
    const router = new Router();
    router.register(fileOut, "file", { path: `${dir}/missing/out.log` });
    await assert.rejects(
      router.start(),
      new RegExp(
        `^Error: Actor "file" failed to set up: Error: Cannot open "${dir}/missing/out.log" for appending: `
          .replace(/[.]/g, "\\."),
      ),
    );
  });
});

Deno.test("file_out options: path is required, max_bytes and max_files are checked", () => {
  assert.throws(
    () => createActor(fileOut, "file", {}),
    /Invalid options for actor "file" \(type "file_out"\): "path": /,
  );
  assert.throws(
    () => createActor(fileOut, "file", { path: "x", max_bytes: 0 }),
    /"max_bytes": /,
  );
  assert.throws(
    () => createActor(fileOut, "file", { path: "x", format: "csv" }),
    /"format": /,
  );
});
