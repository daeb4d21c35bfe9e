import assert from "node:assert/strict";
import { join } from "node:path";
import { ByteBuilder } from "../../actors/payload.ts";
import {
  finishRecord,
  RECORD_HEADER_BYTES,
  SegmentLog,
  startRecord,
} from "../../core/segment_log.ts";
import { withTempDir } from "../helpers.ts";

const decoder = new TextDecoder();

/** Appends one record per text, in one write. */
async function append(log: SegmentLog, texts: string[]): Promise<void> {
  const builder = new ByteBuilder();
  for (const text of texts) {
    const start = startRecord(builder);
    builder.addText(text);
    finishRecord(builder, start);
  }
  await log.append(builder.bytes().slice(0, builder.length), texts.length);
}

/** Reads every record there is now, as text. */
async function readAll(log: SegmentLog): Promise<string[]> {
  const texts: string[] = [];
  for (;;) {
    const { records } = await log.read(1000, (bytes, start, end) => {
      texts.push(decoder.decode(bytes.subarray(start, end)));
    });
    if (records === 0) return texts;
  }
}

/** `record-1` .. `record-<count>`. */
function texts(count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => `record-${from + i}`);
}

/** The segment files of `dir`, oldest first. */
async function segments(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".seg")) names.push(join(dir, entry.name));
  }
  return names.sort();
}

/** Writes `count` records and closes the log without acknowledging any. */
async function leave(dir: string, count: number): Promise<void> {
  const log = await SegmentLog.open({ dir, fsync: "never" });
  await append(log, texts(count));
  await log.close();
}

Deno.test("SegmentLog reads records back in order across segments and deletes those acknowledged", async () => {
  await withTempDir(async (dir) => {
    const log = await SegmentLog.open({
      dir,
      fsync: "batch",
      segmentBytes: 1024,
    });
    for (let i = 0; i < 10; i++) await append(log, texts(20, i * 20 + 1));
    assert.equal(log.unread, 200);
    assert.ok((await segments(dir)).length > 3);
    const read = await readAll(log);
    assert.deepEqual(read, texts(200));
    assert.equal(log.unread, 0);
    log.acknowledge(200);
    await log.close();
    assert.deepEqual(await segments(dir), []);
    assert.equal(log.corrupt, 0);
  });
});

Deno.test("SegmentLog replays what a previous process read but did not acknowledge", async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentLog.open({ dir, fsync: "never" });
    await append(first, texts(50));
    assert.equal((await readAll(first)).length, 50);
    first.acknowledge(20);
    await first.close();

    const second = await SegmentLog.open({ dir, fsync: "never" });
    assert.equal(second.recovered, 30);
    assert.deepEqual(await readAll(second), texts(30, 21));
    second.acknowledge(30);
    await second.close();
    assert.deepEqual(await segments(dir), []);
  });
});

Deno.test("SegmentLog skips and counts a record torn by a crash, and keeps the others", async () => {
  await withTempDir(async (dir) => {
    await leave(dir, 100);
    const [segment] = await segments(dir);
    const size = (await Deno.stat(segment!)).size;
    await Deno.truncate(segment!, size - 3);

    const log = await SegmentLog.open({ dir, fsync: "never" });
    assert.equal(log.recovered, 99);
    assert.equal(log.corrupt, 1);
    assert.deepEqual(await readAll(log), texts(99));
    // Appends after the torn tail go to a new segment: nothing is lost.
    await append(log, ["after"]);
    assert.deepEqual(await readAll(log), ["after"]);
    log.acknowledge(100);
    await log.close();
    assert.equal(log.corrupt, 1);
    assert.deepEqual(await segments(dir), []);
  });
});

Deno.test("SegmentLog skips a record with a flipped byte and reads on at the next one", async () => {
  await withTempDir(async (dir) => {
    await leave(dir, 100);
    const [segment] = await segments(dir);
    const bytes = await Deno.readFile(segment!);
    // Inside the payload of record 50.
    const at = new TextDecoder("latin1").decode(bytes).indexOf("record-50");
    bytes[at + 2]! ^= 0x20;
    await Deno.writeFile(segment!, bytes);

    const log = await SegmentLog.open({ dir, fsync: "never" });
    assert.equal(log.recovered, 99);
    assert.equal(log.corrupt, 1);
    const read = await readAll(log);
    assert.deepEqual(read, texts(100).filter((text) => text !== "record-50"));
    log.acknowledge(99);
    await log.close();
  });
});

Deno.test("SegmentLog survives a segment of garbage, an empty one and a torn checkpoint", async () => {
  await withTempDir(async (dir) => {
    await leave(dir, 10);
    const garbage = new Uint8Array(5000);
    crypto.getRandomValues(garbage);
    await Deno.writeFile(join(dir, "000000000007.seg"), garbage);
    await Deno.writeFile(join(dir, "000000000008.seg"), new Uint8Array());
    await Deno.writeTextFile(join(dir, "checkpoint"), '{"segment":');

    const log = await SegmentLog.open({ dir, fsync: "never" });
    assert.equal(log.recovered, 10);
    assert.ok(log.corrupt >= 1);
    assert.deepEqual(await readAll(log), texts(10));
    await append(log, ["new"]);
    assert.deepEqual(await readAll(log), ["new"]);
    log.acknowledge(11);
    await log.close();
    assert.deepEqual(await segments(dir), []);
  });
});

Deno.test("SegmentLog counts records of its own corrupted on disk before they were read as lost", async () => {
  await withTempDir(async (dir) => {
    const log = await SegmentLog.open({
      dir,
      fsync: "never",
      segmentBytes: 256,
    });
    await append(log, texts(10));
    await append(log, texts(10, 11));
    const [first] = await segments(dir);
    const bytes = await Deno.readFile(first!);
    bytes[RECORD_HEADER_BYTES + 1]! ^= 0xff;
    await Deno.writeFile(first!, bytes);
    let lost = 0;
    const read: string[] = [];
    for (;;) {
      const outcome = await log.read(100, (bytes, start, end) => {
        read.push(decoder.decode(bytes.subarray(start, end)));
      });
      lost += outcome.lost;
      if (outcome.records === 0) break;
    }
    assert.deepEqual(read, texts(19, 2));
    assert.equal(lost, 1);
    assert.equal(log.corrupt, 1);
    assert.equal(log.unread, 0);
    log.acknowledge(19);
    await log.close();
  });
});

Deno.test("SegmentLog.open() names the directory it cannot use", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "file");
    await Deno.writeTextFile(file, "");
    await assert.rejects(
      SegmentLog.open({ dir: join(file, "buffer") }),
      (error: Error) => error.message.includes(join(file, "buffer")),
    );
  });
});
