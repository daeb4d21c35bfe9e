/**
 * Fuzz tests of the inputs that decode bytes from outside: `tcp_server`
 * (newline and length framing), `udp_in`, `stdin` and `file_in`. Each feeds
 * 10,000 generated messages (valid and truncated JSON, random bytes, invalid
 * UTF-8, empty and oversized messages, deep JSON, garbled and truncated
 * framing) through the real actor in a running pipeline (sockets on
 * 127.0.0.1, a file, a stream in place of standard input) behind a small
 * queue, so that decoding stops and resumes all the time. A plain model of
 * the framing and codecs, written here, says what each stream must give;
 * the test checks that every input became that event or a counted error, in
 * order, that the actor never crashed, and that its outbox never held more
 * than a batch and one event.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import fc from "fast-check";
import type { Actor } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import type { StopReport } from "../../../core/router.ts";
import { FileIn } from "../../../actors/input/file_in.ts";
import { Stdin } from "../../../actors/input/stdin.ts";
import { TcpServer } from "../../../actors/input/tcp_server.ts";
import { UdpIn } from "../../../actors/input/udp_in.ts";
import { pollUntil, until, withTempDir } from "../../helpers.ts";
import {
  encode,
  frame,
  joined,
  type ProbedRun,
  startProbed,
  within,
} from "./support.ts";

/** `max_line_bytes` and `max_frame_bytes` of the actors under test. */
const MAX = 2048;
/** Generated messages per property run, and runs: 10,000 in all. */
const MESSAGES = 2000;
const RUNS = 5;
const UTF8 = new TextDecoder();

/** Bytes that make invalid UTF-8 (and a few valid ones between them). */
const invalidUtf8 = fc.array(
  fc.constantFrom(
    0x80,
    0xbb,
    0xbf,
    0xc0,
    0xc3,
    0xe2,
    0xed,
    0xef,
    0xf0,
    0xff,
    0x41,
  ),
  { minLength: 1, maxLength: 24 },
).map((bytes) => Uint8Array.from(bytes));

/** One generated message, before framing. */
const message: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.json({ maxDepth: 3 }).map(encode) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 120 }) },
  { weight: 2, arbitrary: invalidUtf8 },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX + 1, max: 2 * MAX })
      .map((length) => new Uint8Array(length).fill(0x7a)),
  },
  {
    // Deep JSON; deeper than MAX / 2 it is over-long too.
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: MAX })
      .map((depth) => encode("[".repeat(depth) + "]".repeat(depth))),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.json(), fc.nat())
      .map(([json, cut]) => encode(json.slice(0, cut % (json.length + 1)))),
  },
);

/** `messages` each followed by `"\n"`, the last one without it if `cut`. */
function newlineStream(messages: readonly Uint8Array[], cut: boolean) {
  const bytes = joined(messages.flatMap((bytes) => [bytes, encode("\n")]));
  return cut ? bytes.subarray(0, bytes.length - 1) : bytes;
}

/**
 * Each message as a frame (or, garbled, without its length), the stream cut
 * `cut` bytes before its end.
 */
function lengthStream(
  messages: readonly [Uint8Array, boolean][],
  cut: number,
): Uint8Array {
  const bytes = joined(
    messages.map(([bytes, garbled]) => garbled ? bytes : frame(bytes)),
  );
  return bytes.subarray(0, Math.max(0, bytes.length - cut));
}

/** What a stream must give: values (with their line) and failures. */
interface Outcome {
  /** `[line, value]`, in order; line 0 without line numbers. */
  values: [number, unknown][];
  /** Failures (their lines, or 0s). */
  errors: number[];
}

/** The model of one whole message (a frame, a datagram) with `codec`. */
function modelMessage(
  bytes: Uint8Array,
  codec: "json" | "lines",
  into: Outcome,
): void {
  const text = UTF8.decode(bytes);
  if (codec === "lines") {
    into.values.push([0, text]);
    return;
  }
  try {
    into.values.push([0, JSON.parse(text)]);
  } catch {
    into.errors.push(0);
  }
}

/** The model of newline framing with codec `lines` or `ndjson`. */
function modelLines(bytes: Uint8Array, codec: "lines" | "ndjson"): Outcome {
  const outcome: Outcome = { values: [], errors: [] };
  let line = 0;
  for (let from = 0; from < bytes.length;) {
    const newline = bytes.indexOf(0x0a, from);
    const end = newline === -1 ? bytes.length : newline;
    const raw = bytes.subarray(from, end);
    from = end + 1;
    line++;
    if (raw.length > MAX) {
      outcome.errors.push(line);
      continue;
    }
    let text = new TextDecoder("utf-8", { ignoreBOM: line > 1 }).decode(raw);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (codec === "lines") {
      outcome.values.push([line, text]);
    } else if (text.trim() !== "") {
      try {
        outcome.values.push([line, JSON.parse(text)]);
      } catch {
        outcome.errors.push(line);
      }
    }
  }
  return outcome;
}

/** The model of length framing, each frame decoded with `codec`. */
function modelFrames(bytes: Uint8Array, codec: "json" | "lines"): Outcome {
  const outcome: Outcome = { values: [], errors: [] };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 4) {
      outcome.errors.push(0); // ends inside a length prefix
      break;
    }
    const length = view.getUint32(at);
    at += 4;
    if (length > MAX) outcome.errors.push(0); // too long: skipped
    if (bytes.length - at < length) {
      outcome.errors.push(0); // ends inside a frame
      break;
    }
    if (length <= MAX) {
      modelMessage(bytes.subarray(at, at + length), codec, outcome);
    }
    at += length;
  }
  return outcome;
}

/**
 * A text that is the same for equal JSON values, made without recursion
 * (deep JSON would overflow the stack of a recursive comparison).
 */
function canonical(value: unknown): string {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const next = stack.pop();
    if (typeof next === "symbol") {
      out.push(next.description!);
    } else if (Array.isArray(next)) {
      out.push("[");
      stack.push(Symbol("]"));
      for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]);
    } else if (next !== null && typeof next === "object") {
      out.push("{");
      stack.push(Symbol("}"));
      const entries = Object.entries(next);
      for (let i = entries.length - 1; i >= 0; i--) {
        stack.push(entries[i]![1]);
        stack.push(Symbol(`${JSON.stringify(entries[i]![0])}:`));
      }
    } else {
      out.push(
        next instanceof Uint8Array ? String(next) : JSON.stringify(next),
      );
    }
    out.push(",");
  }
  return out.join("");
}

/** `[line, canonical value]` of each event, and the lines of the failures. */
function observed(
  name: string,
  events: readonly Event[],
  errors: readonly Event[],
): { values: [number, string][]; errors: number[] } {
  const line = (event: Event) =>
    ((event.header[name] as { line?: number }).line) ?? 0;
  return {
    values: events.map((event) => [line(event), canonical(event.data)]),
    errors: errors.map(line),
  };
}

/** The model's outcome in the same form as {@link observed}. */
function expected(outcome: Outcome): {
  values: [number, string][];
  errors: number[];
} {
  return {
    values: outcome.values.map(([line, value]) => [line, canonical(value)]),
    errors: outcome.errors,
  };
}

/**
 * Starts `input` -> a holder that lets everything through (behind an inbox
 * of capacity 8, so that decoding stops and resumes all the time), probing
 * the input's outbox at each event, and a collector of its `error` queue.
 */
async function start(input: Actor): Promise<ProbedRun> {
  const run = await startProbed(input, 8);
  run.holder.release();
  return run;
}

/** Stops the run and checks what holds for every input whatever it read. */
async function finish(run: ProbedRun, input: Actor): Promise<StopReport> {
  const report = await run.router.stop();
  assert.equal(report.timedOut, false);
  assert.equal(report.unaccounted, 0);
  assert.equal(input.figures().restarts_total, 0, "the input never crashed");
  const most = Math.max(0, ...run.holder.probes);
  assert.ok(most <= 2 * MAX_BATCH + 1, `the outbox held ${most} events`);
  return report;
}

/** Splits `bytes` at the given points (taken modulo its length). */
function pieces(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))]
    .sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) parts.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  return parts;
}

const cuts = fc.array(fc.nat(), { maxLength: 4 });

/**
 * Sends each stream over its own connection (8 at a time), in the pieces
 * given, and closes it; returns each connection's `"host:port"`.
 */
async function sendStreams(
  port: number,
  streams: readonly [Uint8Array, number[]][],
): Promise<string[]> {
  const remotes: string[] = new Array(streams.length);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < streams.length) {
      const index = next++;
      const [bytes, at] = streams[index]!;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      remotes[index] = `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
      try {
        for (const part of pieces(bytes, at)) {
          let written = 0;
          while (written < part.length) {
            written += await conn.write(part.subarray(written));
          }
        }
      } finally {
        conn.close();
      }
    }
  }));
  return remotes;
}

/** The events of `run` from connection `remote`. */
function fromRemote(events: readonly Event[], remote: string): Event[] {
  return events.filter((event) =>
    (event.header.input as { remote: string }).remote === remote
  );
}

/** Checks each connection's events against the model of its stream. */
async function checkConnections(
  run: ProbedRun,
  remotes: readonly string[],
  outcomes: readonly Outcome[],
): Promise<void> {
  const values = outcomes.reduce((n, outcome) => n + outcome.values.length, 0);
  const errors = outcomes.reduce((n, outcome) => n + outcome.errors.length, 0);
  await within(run.holder.waitFor(values), `${values} events`);
  await within(run.errors.waitFor(errors), `${errors} errors`);
  for (const [index, remote] of remotes.entries()) {
    assert.deepEqual(
      observed(
        "input",
        fromRemote(run.holder.events, remote),
        fromRemote(run.errors.events, remote),
      ),
      expected(outcomes[index]!),
      `connection ${index} (${remote})`,
    );
  }
}

/** Messages per connection in the `tcp_server` tests. */
const PER_CONNECTION = 25;

/**
 * Runs {@link RUNS} x {@link MESSAGES} messages through a `tcp_server` with
 * `framing`, {@link PER_CONNECTION} a connection: `stream` makes each
 * connection's bytes from what `messages` generated (sent in the pieces
 * `cuts` makes), and `model` says what they must give with the codec drawn
 * from `codecs`.
 */
async function fuzzTcpServer<C extends "lines" | "ndjson" | "json", M>(
  framing: "newline" | "length",
  codecs: readonly C[],
  messages: fc.Arbitrary<M>,
  stream: (messages: M) => Uint8Array,
  model: (bytes: Uint8Array, codec: C) => Outcome,
): Promise<void> {
  const connections = fc.array(fc.tuple(messages, cuts), {
    minLength: MESSAGES / PER_CONNECTION,
    maxLength: MESSAGES / PER_CONNECTION,
  });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...codecs),
      connections,
      async (codec, generated) => {
        const server = new TcpServer("input", {
          port: 0,
          framing,
          codec,
          max_line_bytes: MAX,
          max_frame_bytes: MAX,
        });
        const run = await start(server);
        try {
          const streams = generated.map((
            [made, at],
          ): [Uint8Array, number[]] => [stream(made), at]);
          const remotes = await sendStreams(server.port, streams);
          await checkConnections(
            run,
            remotes,
            streams.map(([bytes]) => model(bytes, codec)),
          );
          await pollUntil(
            () => server.connections,
            (n) => n === 0,
            "every close",
          );
          assert.equal(server.figures().pending_bytes, 0);
        } finally {
          await finish(run, server);
        }
      },
    ),
    { numRuns: RUNS, endOnFailure: true },
  );
}

Deno.test("fuzz: tcp_server with newline framing gives each line's event or counted error", async () => {
  await fuzzTcpServer(
    "newline",
    ["lines", "ndjson"],
    fc.tuple(
      fc.array(message, {
        minLength: PER_CONNECTION,
        maxLength: PER_CONNECTION,
      }),
      fc.boolean(),
    ),
    ([messages, cut]) => newlineStream(messages, cut),
    modelLines,
  );
});

Deno.test("fuzz: tcp_server with length framing gives each frame's event or counted error", async () => {
  await fuzzTcpServer(
    "length",
    ["lines", "json"],
    fc.tuple(
      fc.array(
        // One frame in a hundred is garbled: sent without its length.
        fc.tuple(message, fc.nat({ max: 99 }).map((n) => n === 0)),
        { minLength: PER_CONNECTION, maxLength: PER_CONNECTION },
      ),
      fc.oneof(fc.constant(0), fc.nat({ max: 40 })),
    ),
    ([messages, cut]) => lengthStream(messages, cut),
    modelFrames,
  );
});

Deno.test("fuzz: udp_in gives each datagram's event or counted error", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(message, { minLength: MESSAGES, maxLength: MESSAGES }),
      async (datagrams) => {
        const input = new UdpIn("input", { port: 0, codec: "json" });
        const run = await start(input);
        const socket = createSocket("udp4");
        try {
          await new Promise<void>((bound) =>
            socket.bind(0, "127.0.0.1", bound)
          );
          const outbound = [...input.pool.outbound.values()];
          const received = () =>
            input.waiting +
            outbound.reduce((n, queue) => n + queue.figures().in_total, 0);
          // In groups, each once the one before was received, so that the
          // system's socket buffer never overflows.
          for (let at = 0; at < datagrams.length; at += 100) {
            for (const datagram of datagrams.slice(at, at + 100)) {
              await new Promise<void>((sent, failed) =>
                socket.send(
                  datagram,
                  input.port,
                  "127.0.0.1",
                  (error) => error ? failed(error) : sent(),
                )
              );
            }
            const sent = Math.min(at + 100, datagrams.length);
            await until(() => received() === sent, `${sent} datagrams`);
          }
          const outcome: Outcome = { values: [], errors: [] };
          for (const datagram of datagrams) {
            modelMessage(datagram, "json", outcome);
          }
          await within(run.holder.waitFor(outcome.values.length), "the events");
          await within(run.errors.waitFor(outcome.errors.length), "errors");
          assert.deepEqual(
            observed("input", run.holder.events, run.errors.events),
            expected(outcome),
          );
          assert.equal(input.dropped, 0);
        } finally {
          await new Promise<void>((closed) => socket.close(() => closed()));
          await finish(run, input);
        }
      },
    ),
    { numRuns: RUNS, endOnFailure: true },
  );
});

Deno.test("fuzz: stdin gives each line's event or counted error, whatever the chunks", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(message, { minLength: MESSAGES, maxLength: MESSAGES }),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 70_000 }), {
        minLength: 1,
        maxLength: 20,
      }),
      async (messages, cut, sizes) => {
        const bytes = newlineStream(messages, cut);
        let at = 0;
        let turn = 0;
        const source = new ReadableStream<Uint8Array>({
          pull: (controller) => {
            if (at >= bytes.length) {
              controller.close();
              return;
            }
            const size = sizes[turn++ % sizes.length]!;
            controller.enqueue(bytes.slice(at, at + size));
            at += size;
          },
        });
        const input = new Stdin(
          "input",
          {
            codec: "ndjson",
            max_line_bytes: MAX,
          },
          {},
          source,
        );
        const run = await start(input);
        try {
          await within(run.router.finished, "the end of the input");
          assert.deepEqual(
            observed("input", run.holder.events, run.errors.events),
            expected(modelLines(bytes, "ndjson")),
          );
        } finally {
          await finish(run, input);
        }
      },
    ),
    { numRuns: RUNS, endOnFailure: true },
  );
});

Deno.test("fuzz: file_in gives each line's event or counted error", async () => {
  await withTempDir(async (dir) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: MESSAGES, maxLength: MESSAGES }),
        fc.boolean(),
        async (messages, cut) => {
          const bytes = newlineStream(messages, cut);
          const path = `${dir}/in.log`;
          await Deno.writeFile(path, bytes);
          const input = new FileIn("input", {
            path,
            codec: "lines",
            max_line_bytes: MAX,
          });
          const run = await start(input);
          try {
            await within(run.router.finished, "the end of the file");
            assert.deepEqual(
              observed("input", run.holder.events, run.errors.events),
              expected(modelLines(bytes, "lines")),
            );
          } finally {
            await finish(run, input);
          }
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  });
});
