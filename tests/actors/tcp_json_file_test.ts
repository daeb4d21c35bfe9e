/**
 * The TCP ingest path of issue 14, end to end and lossless: `tcp_server`
 * (codec `lines`) -> `json_decode` -> `file_out`, with real sockets on
 * 127.0.0.1 and real files. Every line a client sent ends up in the file
 * exactly once, in its connection's order, or as an event on an `error`
 * queue naming the actor and the reason; the stop report accounts for all.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import fc from "fast-check";
import type { EventError } from "../../core/actor.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import { Router, type StopReport } from "../../core/router.ts";
import { TcpServer } from "../../actors/input/tcp_server.ts";
import { jsonDecode } from "../../actors/transform/json_decode.ts";
import { FileOut } from "../../actors/output/file_out.ts";
import {
  Collector,
  pollUntil,
  readRotated,
  withTempDir,
  withTinyDisk,
} from "../helpers.ts";
import { encode, within } from "./input/support.ts";

/** The pipeline under test, its `error` queues each into a collector. */
interface Ingest {
  router: Router;
  server: TcpServer;
  file: FileOut;
  /** What `input.error`, `decode.error` and `file.error` got, in order. */
  failed: Collector;
}

async function ingest(
  file: FileOut,
  queues: { capacity?: number } = {},
): Promise<Ingest> {
  const router = new Router({ metricsIntervalMs: 0 });
  router.registerLogActor(new Collector("logs"));
  const server = router.register(
    new TcpServer("input", { port: 0, codec: "lines" }),
  ) as TcpServer;
  router.register(jsonDecode, "decode");
  router.register(file);
  const failed = router.register(
    new Collector("failed", {}, ["input", "decode", "file"]),
  ) as Collector;
  router.connect("input.outbox", "decode.inbox", queues);
  router.connect("decode.outbox", "file.inbox", queues);
  router.connect("input.error", "failed.input");
  router.connect("decode.error", "failed.decode");
  router.connect("file.error", "failed.file");
  await router.start();
  return { router, server, file, failed };
}

/** Sends all of `bytes` on `conn`, `cut` bytes (cycling) per write. */
async function sendCut(
  conn: Deno.Conn,
  bytes: Uint8Array,
  cuts: number[],
): Promise<void> {
  for (let at = 0, k = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, at + cuts[k++ % cuts.length]!);
    while (at < end) at += await conn.write(bytes.subarray(at, end));
  }
}

/** Every line `report` says was created went somewhere. */
function assertAccounted(report: StopReport, lines: number): void {
  assert.equal(report.created, lines);
  assert.equal(report.delivered + report.errors, lines);
  assert.equal(report.failed, 0);
  assert.equal(report.dropped, 0);
  assert.equal(report.unaccounted, 0);
}

/** The `error` header of `event`. */
function errorOf(event: { header: Record<string, unknown> }): EventError {
  return event.header.error as EventError;
}

Deno.test("tcp -> json_decode -> file_out: clients flooding at once with any chunk boundaries, bad lines, CRLF and a reset: each line once in the file in its connection's order, or on error naming actor and reason", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.integer({ min: 1, max: 2000 }), {
          minLength: 1,
          maxLength: 20,
        }),
        { minLength: 2, maxLength: 12 },
      ),
      fc.boolean(),
      fc.option(fc.integer({ min: 1000, max: 8000 }), { nil: undefined }),
      async (clients, crlf, maxBytes) => {
        await withTempDir(async (dir) => {
          const { router, server, failed } = await ingest(
            new FileOut("file", {
              path: `${dir}/out.log`,
              ...maxBytes === undefined ? {} : { max_bytes: maxBytes },
              max_files: 100,
            }),
            { capacity: 7 },
          );
          const sent: string[][] = [];
          try {
            await Promise.all(clients.map(async (cuts, c) => {
              const lines = Array.from(
                { length: 40 + 9 * c },
                (_, i) =>
                  i % 11 === 3
                    ? `not json ${c} ${i}`
                    : JSON.stringify({ c, i, text: "é".repeat(i % 7) }),
              );
              sent[c] = lines;
              let text = lines.join(crlf ? "\r\n" : "\n");
              // Every other client's last line ends with the connection.
              if (c % 2 === 0) text += crlf ? "\r\n" : "\n";
              const conn = await Deno.connect({
                hostname: "127.0.0.1",
                port: server.port,
              });
              try {
                await sendCut(conn, encode(text), cuts);
              } finally {
                conn.close();
              }
            }));
            // A client that resets its connection in the middle of a line.
            const reset = netConnect({ host: "127.0.0.1", port: server.port });
            await new Promise<void>((resolve, reject) => {
              reset.once("error", reject);
              reset.once("connect", () => resolve());
            });
            await new Promise<void>((resolve) =>
              reset.write('{"r":1}\n{"r":2}\n{"r":', () => resolve())
            );
            await pollUntil(
              () => server.figures(),
              (figures) =>
                figures.connections === 1 && figures.pending_bytes === 5,
              "the other clients gone and the reset one's half line held",
            );
            const closed = new Promise((resolve) =>
              reset.once("close", resolve)
            );
            reset.resetAndDestroy();
            await closed;
            const total = sent.flat().length + 3;
            await pollUntil(
              () => server.figures().connections,
              (connections) => connections === 0,
              "every connection closed",
            );
            const report = await router.stop();
            assertAccounted(report, total);
            const { text } = await readRotated(dir);
            const written = text.split("\n").slice(0, -1).map((line) =>
              JSON.parse(line) as { c?: number; i: number; r?: number }
            );
            assert.deepEqual(
              written.filter((value) => value.r !== undefined),
              [{ r: 1 }, { r: 2 }],
            );
            for (const [c, lines] of sent.entries()) {
              assert.deepEqual(
                written.filter((value) => value.c === c).map((value) =>
                  JSON.stringify(value)
                ),
                lines.filter((line) => !line.startsWith("not json")),
                `connection ${c}: every JSON line once, in order`,
              );
              assert.deepEqual(
                failed.events.filter((event) =>
                  String(event.data).startsWith(`not json ${c} `)
                ).map((event) => [event.data, errorOf(event).actor]),
                lines.filter((line) => line.startsWith("not json")).map(
                  (line) => [line, "decode"],
                ),
                `connection ${c}: every bad line on error, in order`,
              );
            }
            const resetFailure = failed.events.filter((event) =>
              errorOf(event).actor === "input"
            ).map((event) => errorOf(event).message);
            assert.deepEqual(resetFailure.length, 1);
            assert.match(
              resetFailure[0]!,
              /^Dropped an unfinished message of 5 bytes: the connection failed: Connection reset by peer/,
            );
            assert.equal(report.errors, failed.events.length);
          } finally {
            await router.stop();
          }
        });
      },
    ),
    { numRuns: 6 },
  );
});

/** `count` JSON lines of about 100 bytes, numbered from 1. */
function numberedLines(count: number): string {
  let text = "";
  for (let n = 1; n <= count; n++) {
    text += `${JSON.stringify({ n, pad: "x".repeat(80) })}\n`;
  }
  return text;
}

/** The numbers of the lines in `text` (each a whole JSON line). */
function numbersIn(text: string): number[] {
  assert.ok(text === "" || text.endsWith("\n"), "no torn last line");
  return text.split("\n").slice(0, -1).map((line) =>
    (JSON.parse(line) as { n: number }).n
  );
}

for (const fsync of [false, true]) {
  Deno.test(
    `tcp -> json_decode -> file_out on a full disk${
      fsync ? " with fsync" : ""
    }: each line once in the file, whole and in order, or on error saying "No space left on device"`,
    async () => {
      await withTinyDisk(256, async (dir) => {
        const path = `${dir}/out.log`;
        const { router, server, file, failed } = await ingest(
          new FileOut("file", { path, fsync }, {
            retry: { max: 2, backoffMs: 5 },
          }),
        );
        try {
          // About 600 KB into 256 KiB.
          const count = 6000;
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: server.port,
          });
          try {
            await sendCut(conn, encode(numberedLines(count)), [65_536]);
          } finally {
            conn.close();
          }
          await pollUntil(
            () => file.figures(),
            (figures) =>
              figures.consumed_total + figures.failed_total === count,
            "every line written or failed",
          );
          const report = await router.stop();
          assertAccounted(report, count);
          const written = numbersIn(await Deno.readTextFile(path));
          const lost = failed.events.map((event) =>
            (event.data as { n: number }).n
          );
          assert.ok(written.length > 0 && lost.length > 0);
          assert.deepEqual(
            [...written, ...lost].sort((a, b) => a - b),
            Array.from({ length: count }, (_, i) => i + 1),
            "each line once, in the file or on error",
          );
          assert.ok(written.every((n, i) => i === 0 || n > written[i - 1]!));
          assert.ok(lost.every((n, i) => i === 0 || n > lost[i - 1]!));
          assert.equal(report.delivered, written.length);
          for (const event of failed.events) {
            assert.equal(errorOf(event).actor, "file");
            assert.match(
              errorOf(event).message,
              /^Cannot write to ".*out\.log": No space left on device/,
            );
          }
        } finally {
          await router.stop();
        }
      });
    },
  );
}

Deno.test("tcp -> json_decode -> file_out: while the disk is full the sender is held back (memory bounded), and once there is room every line reaches the file once, in order", async () => {
  await withTinyDisk(256, async (dir) => {
    const path = `${dir}/out.log`;
    const { router, server, file, failed } = await ingest(
      new FileOut("file", { path }, { retry: { max: 10_000, backoffMs: 5 } }),
      { capacity: 100 },
    );
    try {
      const count = 150_000;
      const bytes = encode(numberedLines(count));
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      let sent = 0;
      const sending = (async () => {
        try {
          while (sent < bytes.length) {
            sent += await conn.write(bytes.subarray(sent, sent + 65_536));
          }
        } finally {
          conn.close();
        }
      })();
      await pollUntil(
        () => file.figures().write_errors_total,
        (errors) => errors >= 3,
        "the disk to be full",
      );
      // Held back: what was sent stops growing, far below the 15 MB of
      // lines, in the queues (100 events each), the read buffer and the
      // sockets' buffers.
      const held = await pollUntil(
        async () => {
          const before = sent;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return { before, after: sent };
        },
        ({ before, after }) => before === after,
        "the sender to be held back",
      );
      assert.ok(held.after < bytes.length, `sent ${held.after} bytes`);
      // Events made and not yet written: what the queues and the actors'
      // hands hold (a batch each), not what the client sent.
      const figures = server.figures();
      const files = file.figures();
      assert.ok(figures.kept_events <= 1);
      assert.ok(
        figures.created_total - files.consumed_total - files.failed_total <=
          3 * MAX_BATCH + 2 * 100 + 1,
      );
      assert.ok(file.health().ready === false);
      // Room again: the disk grows.
      const grown = await new Deno.Command("mount", {
        args: ["-o", "remount,size=64m", dir],
      }).output();
      assert.ok(grown.success, new TextDecoder().decode(grown.stderr));
      await within(sending, "every line sent");
      await pollUntil(
        () => file.figures().consumed_total,
        (consumed) => consumed === count,
        "every line written",
        600,
      );
      const report = await router.stop();
      assertAccounted(report, count);
      assert.deepEqual(failed.events, []);
      assert.deepEqual(
        numbersIn(await Deno.readTextFile(path)),
        Array.from({ length: count }, (_, i) => i + 1),
      );
    } finally {
      await router.stop();
    }
  });
});
