import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { Router } from "../../../core/router.ts";
import { FileIn, type FileInOptions } from "../../../actors/input/file_in.ts";
import { Collector, withTempDir } from "../../helpers.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { type InputRun, startInput, throughHolder, within } from "./support.ts";
import type { z } from "zod";

function pipeline(
  options: z.input<typeof FileInOptions>,
): Promise<InputRun<FileIn>> {
  return startInput(new FileIn("input", options));
}

const append = (path: string, text: string): Promise<void> =>
  Deno.writeTextFile(path, text, { append: true });

Deno.test("file_in reads a file once, reports bad and over-long lines, and finishes", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/in.ndjson`;
    await Deno.writeTextFile(
      path,
      `{"n":1}\nnot json\n{"long":"${"x".repeat(100)}"}\n\n{"n":2}\n{"n":3}`,
    );
    const { router, sink, errors } = await pipeline({
      path,
      codec: "ndjson",
      max_line_bytes: 64,
    });
    await within(router.finished, "the pipeline to finish");
    const report = await router.stop();
    assert.deepEqual(sink.data(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(sink.events.map((event) => event.header.input), [
      { path, line: 1 },
      { path, line: 5 },
      { path, line: 6 },
    ]);
    assert.deepEqual(
      errors.events.map((event) => {
        const error = event.header.error as EventError;
        return [event.header.input, error.actor, error.queue, error.name];
      }),
      [
        [{ path, line: 2 }, "input", "", "SyntaxError"],
        [{ path, line: 3 }, "input", "", "RangeError"],
      ],
    );
    const messages = errors.events.map((event) =>
      (event.header.error as EventError).message
    );
    assert.match(messages[0]!, /^Line 2 is not valid JSON: /);
    assert.equal(
      messages[1],
      "Line 3 is longer than 64 bytes (max_line_bytes)",
    );
    assert.equal(errors.events[0]!.data, "not json");
    assert.equal(report.timedOut, false);
    assert.equal(report.dropped, 0);
  });
});

Deno.test("file_in reads a whole file as one JSON document with codec json", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/doc.json`;
    await Deno.writeTextFile(path, '{\n  "items": [1, 2, 3]\n}\n');
    const { router, sink } = await pipeline({ path, codec: "json" });
    await within(router.finished, "the pipeline to finish");
    await router.stop();
    assert.deepEqual(sink.data(), [{ items: [1, 2, 3] }]);
    assert.deepEqual(sink.events[0]!.header.input, { path });
  });
});

Deno.test("file_in without follow fails the start when the file is missing", async () => {
  await withTempDir(async (dir) => {
    const router = new Router();
    router.register(new FileIn("input", { path: `${dir}/missing.txt` }));
    router.register(new Collector("sink"));
    router.connect("input.outbox", "sink.inbox");
    await assert.rejects(
      router.start(),
      (error: Error) =>
        error.message.startsWith('Actor "input" failed to set up: NotFound'),
    );
  });
});

Deno.test("file_in rejects codec json with follow", () => {
  assert.throws(
    () => new FileIn("input", { path: "x", follow: true, codec: "json" }),
    /cannot be used with follow: true/,
  );
});

Deno.test("file_in follow reads what is appended, joining a line written in two parts", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "a\nb\n");
    const { router, sink } = await pipeline({
      path,
      follow: true,
      poll_interval: 0.01,
    });
    try {
      await within(sink.waitFor(2), "the first two lines");
      await append(path, "c\nd\n");
      await within(sink.waitFor(4), "the appended lines");
      await append(path, "e");
      await append(path, "f\n");
      await within(sink.waitFor(5), "the line written in two parts");
    } finally {
      const report = await router.stop();
      assert.equal(report.timedOut, false);
    }
    assert.deepEqual(sink.data(), ["a", "b", "c", "d", "ef"]);
    assert.deepEqual(
      sink.events.map((event) => event.header.input),
      [
        1,
        2,
        3,
        4,
        5,
      ].map((line) => ({ path, line })),
    );
  });
});

Deno.test("file_in follow with start_at end reads only what is appended", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "old 1\nold 2\n");
    const { router, sink } = await pipeline({
      path,
      follow: true,
      start_at: "end",
      poll_interval: 0.01,
    });
    try {
      await append(path, "new\n");
      await within(sink.waitFor(1), "the appended line");
    } finally {
      await router.stop();
    }
    assert.deepEqual(sink.data(), ["new"]);
  });
});

Deno.test("file_in follow survives rotation: reads the old file to its end, then the new one from its start", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "1\n");
    const { router, sink } = await pipeline({
      path,
      follow: true,
      poll_interval: 0.01,
    });
    try {
      await within(sink.waitFor(1), "the first line");
      await append(path, "2");
      await Deno.rename(path, `${path}.1`);
      await Deno.writeTextFile(path, "3\n4\n");
      await within(sink.waitFor(4), "the lines of both files");
      await Deno.rename(path, `${path}.2`);
      await Deno.writeTextFile(path, "5\n");
      await within(sink.waitFor(5), "the line of the third file");
    } finally {
      await router.stop();
    }
    assert.deepEqual(sink.data(), ["1", "2", "3", "4", "5"]);
    assert.deepEqual(
      sink.events.map((event) => (event.header.input as { line: number }).line),
      [1, 2, 1, 2, 1],
    );
  });
});

Deno.test("file_in follow waits for a removed file to be created again", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    const { router, sink } = await pipeline({
      path,
      follow: true,
      poll_interval: 0.01,
    });
    try {
      await Deno.writeTextFile(path, "first\n");
      await within(sink.waitFor(1), "the line of the file created late");
      await Deno.remove(path);
      await Deno.writeTextFile(path, "second\n");
      await within(sink.waitFor(2), "the line of the file created again");
    } finally {
      await router.stop();
    }
    assert.deepEqual(sink.data(), ["first", "second"]);
  });
});

Deno.test("file_in follow survives truncation: reads again from the start", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "aaaa\nbbbb\n");
    const { router, sink } = await pipeline({
      path,
      follow: true,
      poll_interval: 0.01,
    });
    try {
      await within(sink.waitFor(2), "the first lines");
      await Deno.writeTextFile(path, "c\n");
      await within(sink.waitFor(3), "the line after truncation");
      await append(path, "d\n");
      await within(sink.waitFor(4), "the line appended after truncation");
    } finally {
      await router.stop();
    }
    assert.deepEqual(sink.data(), ["aaaa", "bbbb", "c", "d"]);
    assert.deepEqual(
      sink.events.map((event) => (event.header.input as { line: number }).line),
      [1, 2, 1, 2],
    );
  });
});

Deno.test("file_in follow stops at once even with a long poll interval", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/app.log`;
    await Deno.writeTextFile(path, "x\n");
    const { router, sink } = await pipeline({
      path,
      follow: true,
      poll_interval: 3600,
    });
    await within(sink.waitFor(1), "the line");
    const report = await router.stop({ timeoutMs: 5_000 });
    assert.equal(report.timedOut, false);
    assert.deepEqual(sink.data(), ["x"]);
  });
});

Deno.test("file_in raw gives the file's bytes in chunks", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/blob.bin`;
    const bytes = new Uint8Array(200_000).map((_, i) => i % 251);
    await Deno.writeFile(path, bytes);
    const { router, sink } = await pipeline({ path, codec: "raw" });
    await within(router.finished, "the pipeline to finish");
    await router.stop();
    const chunks = sink.data() as Uint8Array[];
    assert.ok(chunks.every((chunk) => chunk instanceof Uint8Array));
    const joined = new Uint8Array(
      chunks.reduce((n, chunk) => n + chunk.length, 0),
    );
    let offset = 0;
    for (const chunk of chunks) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    assert.deepEqual(joined, bytes);
  });
});

Deno.test("file_in stops decoding inside one read while its events wait for room downstream", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/in.log`;
    const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i}`);
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const { data, most } = await throughHolder(
      new FileIn("input", { path }),
      lines.length,
    );
    assert.deepEqual(data, lines);
    // A batch being written and one more: never the rest of a 64 KiB read.
    assert.ok(most <= 2 * MAX_BATCH + 1, `the outbox held ${most} events`);
  });
});
