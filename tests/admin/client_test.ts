import assert from "node:assert/strict";
import { formatTop, serverSentEvents } from "../../admin/client.ts";

Deno.test("serverSentEvents reads events split anywhere, with CRLF, comments and multi-line data", async () => {
  const text =
    ": hello\r\nevent: open\r\ndata: {}\r\n\r\nid: 7\ndata: a\ndata: b\n\ndata: c\n\n";
  const chunks = [...text].map((char) => char);
  const events = [];
  for await (const event of serverSentEvents(ReadableStream.from(chunks))) {
    events.push(event);
  }
  assert.deepEqual(events, [
    { event: "open", data: "{}" },
    { event: "message", data: "a\nb", id: "7" },
    { event: "message", data: "c", id: "7" },
  ]);
});

Deno.test("formatTop shows a row per actor and per queue, cut to the width", () => {
  const table = formatTop({
    time: "2026-01-01T00:00:00.000Z",
    state: "running",
    rate_seconds: 5,
    actors: [{
      name: "sink",
      kind: "output",
      column: 1,
      state: "running",
      phase: "running",
      restarts_total: 1,
      ready: false,
      reason: "Disk full",
      consumed_total: 12_345,
      failed_total: 2,
      created_total: 0,
      delivered_total: 12_345,
      errors_total: 0,
      filtered_total: 0,
      lost_total: 2,
      consumed_rate: 1234.5,
      failed_rate: 0,
      consume_mean_seconds: 0,
      queues: [],
    }],
    connections: [{
      from: "input.outbox",
      to: "sink.inbox",
      depth: 250,
      capacity: 1000,
      fill: 0.25,
      in_total: 20_000,
      out_total: 19_750,
      dropped_total: 3,
      in_rate: 2.25,
      out_rate: 2,
      dropped_rate: 0,
    }],
  }, 200);
  assert.equal(
    table,
    [
      "Pipeline running: 1 actor, 1 connection; rates over 5.0 s; 2026-01-01T00:00:00.000Z",
      "",
      "ACTOR  TYPE    STATE      IN/S  OUT/S    DONE  FAILED  RESTARTS  REASON",
      "sink   output  not ready  1.2k    0.0  12,345       2         1  Disk full",
      "",
      "QUEUE                       FILL                  DEPTH  IN/S  OUT/S      IN  DROPPED",
      "input.outbox -> sink.inbox  [###.......]  25%  250/1000   2.3    2.0  20,000        3",
      "",
    ].join("\n"),
  );
});

Deno.test("formatTop adds what waits on disk when a connection has a disk buffer", () => {
  const connection = {
    depth: 1000,
    capacity: 1000,
    fill: 1,
    in_total: 2_000_000,
    out_total: 0,
    dropped_total: 0,
    in_rate: 10_000,
    out_rate: 0,
    dropped_rate: 0,
  };
  const table = formatTop({
    time: "2026-01-01T00:00:00.000Z",
    state: "running",
    rate_seconds: 5,
    actors: [],
    connections: [
      {
        ...connection,
        from: "input.outbox",
        to: "sink.inbox",
        disk_events: 1_999_000,
        disk_bytes: 250 * 1024 * 1024,
      },
      { ...connection, from: "input.error", to: "sink.error_in" },
    ],
  }, 200);
  assert.deepEqual(table.split("\n").slice(-4), [
    "QUEUE                         FILL                    DEPTH              ON DISK  IN/S  OUT/S         IN  DROPPED",
    "input.outbox -> sink.inbox    [##########]  100%  1000/1000  1,999,000 (250 MiB)   10k    0.0  2,000,000        0",
    "input.error -> sink.error_in  [##########]  100%  1000/1000                        10k    0.0  2,000,000        0",
    "",
  ]);
});
