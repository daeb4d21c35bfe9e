import assert from "node:assert/strict";
import { directContext, type EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import { FileOut, fileOut } from "../../../actors/output/file_out.ts";
import type { LogEvent } from "../../../core/log.ts";
import {
  Collector,
  counted,
  ListInput,
  pollUntil,
  sequenced,
  withTempDir,
} from "../../helpers.ts";
import { generator } from "../../../actors/input/generator.ts";
import { testWith } from "../../requires.ts";
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

/** Writes `values` as one batch to `file` (set up), checking none failed. */
async function writeBatch(file: FileOut, values: string[]): Promise<void> {
  const context = directContext(file);
  await file.consumeBatch(sequenced(values), context);
  assert.deepEqual(context.failures, []);
}

/**
 * Runs `body` with a `file_out` of `options`, set up, and tears it down
 * afterwards; returns the actor.
 */
async function withFileOut(
  options: ConstructorParameters<typeof FileOut>[1],
  body: (file: FileOut) => Promise<void>,
): Promise<FileOut> {
  const file = new FileOut("file", options);
  await file.setup();
  try {
    await body(file);
  } finally {
    file.teardown();
  }
  return file;
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

Deno.test("file_out starts a line of its own after a file whose last line is unfinished", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    await Deno.writeTextFile(path, "line A\npartial line");
    const { report } = await runStage(
      new FileOut("file", { path }),
      sequenced(["new 1", "new 2"]),
      [],
    );
    assert.equal(report.delivered, 2);
    assert.equal(
      await Deno.readTextFile(path),
      "line A\npartial line\nnew 1\nnew 2\n",
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
    await withFileOut(
      { path, max_bytes: 10, max_files: 5 },
      async (file) => {
        await writeBatch(file, ["aaaa"]);
        await writeBatch(file, ["bbbb", "cccc"]);
        await writeBatch(file, ["dddd", "eeee"]);
      },
    );
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

Deno.test("file_out follows a file removed under it: the next lines go to a new file at the path", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    const file = await withFileOut(
      { path, check_interval: 0 },
      async (file) => {
        await writeBatch(file, ["one", "two"]);
        await Deno.remove(path);
        await writeBatch(file, ["three"]);
      },
    );
    assert.deepEqual(await files(dir), { "out.log": "three\n" });
    assert.equal(file.figures().reopens_total, 1);
  });
});

Deno.test("file_out follows logrotate's create mode: after the file is renamed and a new one made, it writes the new one", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    await withFileOut(
      { path, check_interval: 0 },
      async (file) => {
        await writeBatch(file, ["one"]);
        await Deno.rename(path, `${path}.1`);
        await Deno.writeTextFile(path, "");
        await writeBatch(file, ["two"]);
      },
    );
    assert.deepEqual(await files(dir), {
      "out.log": "two\n",
      "out.log.1": "one\n",
    });
  });
});

Deno.test("file_out follows copytruncate: it writes at the new end and counts the size for rotation from there", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    await withFileOut({
      path,
      max_bytes: 10,
      check_interval: 0,
    }, async (file) => {
      await writeBatch(file, ["aaaa"]);
      await Deno.copyFile(path, `${dir}/copy.log`);
      await Deno.truncate(path, 0);
      // Counted from 0 again: "bbbb" and "cccc" fill the file (10 bytes);
      // "dddd" rotates it.
      await writeBatch(file, ["bbbb", "cccc"]);
      await writeBatch(file, ["dddd"]);
    });
    assert.deepEqual(await files(dir), {
      "copy.log": "aaaa\n",
      "out.log": "dddd\n",
      "out.log.1": "bbbb\ncccc\n",
    });
  });
});

Deno.test("file_out reopen() closes the file and opens the path again before the next write", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.log`;
    // Checks the path once an hour only: the reopen does it.
    const file = await withFileOut(
      { path, check_interval: 3600 },
      async (file) => {
        await writeBatch(file, ["one"]);
        await Deno.rename(path, `${path}.old`);
        await writeBatch(file, ["two"]);
        file.reopen();
        await writeBatch(file, ["three"]);
      },
    );
    assert.deepEqual(await files(dir), {
      "out.log": "three\n",
      "out.log.old": "one\ntwo\n",
    });
    assert.equal(file.figures().reopens_total, 1);
  });
});

Deno.test({
  name:
    "file_out on a full disk (/dev/full) retries, opening the file again each time, then sends the events to error, never counting them delivered",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const router = new Router({ logLevel: "debug", metricsIntervalMs: 0 });
    const logs = router.registerLogActor(new Collector("logs")) as Collector;
    router.register(new ListInput("input", sequenced(["a", "b", "c"])));
    const file = router.register(
      new FileOut("file", { path: "/dev/full" }, {
        retry: { max: 2, backoffMs: 1 },
      }),
    );
    const errors = router.register(new Collector("errors")) as Collector;
    router.connect("input.outbox", "file.inbox");
    router.connect("file.error", "errors.inbox");
    await router.start();
    await router.finished;
    const report = await router.stop();
    assert.deepEqual(errors.data(), ["a", "b", "c"]);
    const failure = errors.events[0]!.header.error as EventError;
    assert.equal(failure.actor, "file");
    assert.match(
      failure.message,
      /^Cannot write to "\/dev\/full": No space left on device/,
    );
    assert.equal(report.delivered, 0);
    assert.equal(report.errors, 3);
    assert.equal(report.unaccounted, 0);
    const figures = file.figures();
    assert.deepEqual(counted(figures), { consumed_total: 0, failed_total: 3 });
    // The first attempt and two retries, each on a newly opened file.
    assert.equal(figures.write_errors_total, 3);
    assert.equal(figures.reopens_total, 2);
    // A warning for the first failure, the next ones at debug level.
    assert.deepEqual(
      (logs.events as LogEvent[])
        .filter((event) => event.data.startsWith("Cannot write to /dev/full"))
        .map((event) => event.header.log.level),
      ["warning", "debug", "debug"],
    );
    assert.deepEqual(file.health(), { ready: false, reason: failure.message });
  },
});

Deno.test("file_out whose directory is removed fails and retries the events, not ready meanwhile, and writes them once the directory is back", async () => {
  await withTempDir(async (dir) => {
    const logDir = `${dir}/logs`;
    const path = `${logDir}/out.log`;
    await Deno.mkdir(logDir);
    const router = new Router({ metricsIntervalMs: 0 });
    router.register(generator, "input", { interval: 0.002, data: "{{seq}}" });
    const file = router.register(
      new FileOut("file", { path, check_interval: 0 }, {
        retry: { max: 1000, backoffMs: 20 },
      }),
    ) as FileOut;
    const errors = router.register(new Collector("errors")) as Collector;
    router.connect("input.outbox", "file.inbox");
    router.connect("file.error", "errors.inbox");
    await router.start();
    try {
      const lines = async (at: string) =>
        (await Deno.readTextFile(at)).split("\n").slice(0, -1).map(Number);
      await pollUntil(() => lines(path), (seen) => seen.length >= 5, "lines");
      // Keeps the first file's lines readable after its directory is gone.
      await Deno.link(path, `${dir}/first.log`);
      await Deno.remove(logDir, { recursive: true });
      const down = await pollUntil(
        () => file.health(),
        (health) => !health.ready && file.figures().write_errors_total >= 2,
        "failed attempts",
      );
      assert.match(
        down.reason ?? "",
        new RegExp(
          `^Cannot open "${path}": No such file or directory`.replace(
            /[.]/g,
            "\\.",
          ),
        ),
      );
      await Deno.mkdir(logDir);
      await pollUntil(() => file.health(), (health) => health.ready, "ready");
      await pollUntil(() => lines(path), (seen) => seen.length >= 5, "lines");
      const report = await router.stop();
      const first = await lines(`${dir}/first.log`);
      const second = await lines(path);
      // Every event once, in order: the ones the first file got, then the
      // rest in the new file.
      assert.deepEqual(
        [...first, ...second],
        Array.from({ length: report.delivered }, (_, i) => i + 1),
      );
      assert.equal(report.created, report.delivered);
      assert.deepEqual(errors.events, []);
      assert.equal(file.figures().reopens_total, 1);
    } finally {
      await router.stop();
    }
  });
});

const LOGROTATE = {
  name: "logrotate",
  paths: ["/usr/sbin/logrotate"],
  install: "apt-get install -y logrotate",
};

/** Runs logrotate once, forced, on `path` with `directive` (and its state in `dir`). */
async function logrotate(
  program: string,
  dir: string,
  path: string,
  directive: string,
): Promise<void> {
  const config = `${dir}/logrotate.conf`;
  await Deno.writeTextFile(
    config,
    `${path} {\n  rotate 3\n  ${directive}\n  missingok\n}\n`,
  );
  const { code, stderr } = await new Deno.Command(program, {
    args: ["--force", "--state", `${dir}/logrotate.state`, config],
    stdout: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

for (const mode of ["create", "copytruncate"]) {
  testWith(
    `file_out goes on writing whole lines after a real logrotate in ${mode} mode`,
    [LOGROTATE],
    async ([program]) => {
      await withTempDir(async (dir) => {
        const logs = `${dir}/logs`;
        await Deno.mkdir(logs);
        const path = `${logs}/out.log`;
        const file = await withFileOut({
          path,
          max_bytes: 1000,
          check_interval: 0,
        }, async (file) => {
          await writeBatch(file, ["one", "two"]);
          await logrotate(program!, dir, path, mode);
          await writeBatch(file, ["three"]);
        });
        // Nothing before "three": no hole of zero bytes where the file was
        // truncated, no line in the rotated file.
        assert.deepEqual(await files(logs), {
          "out.log": "three\n",
          "out.log.1": "one\ntwo\n",
        });
        assert.equal(file.figures().reopens_total, mode === "create" ? 1 : 0);
      });
    },
  );
}
