/**
 * `syslog_encode` against a real receiver: syslog-ng gets what a pipeline
 * forwards (RFC 5424 over TCP with octet counting through `tcp_client`, RFC
 * 3164 over UDP through `udp_out`) and writes every message it parsed to a
 * file as JSON; every message must be there with its fields intact.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { tcpClient } from "../../../actors/output/tcp_client.ts";
import { udpOut } from "../../../actors/output/udp_out.ts";
import { syslogEncode } from "../../../actors/transform/syslog_encode.ts";
import {
  FACILITY_NAMES,
  SEVERITY_NAMES,
  type SyslogFields,
} from "../../../actors/syslog.ts";
import { freePort, ListInput, pollUntil, withTempDir } from "../../helpers.ts";
import { testWith } from "../../requires.ts";
import { startDaemon, SYSLOG_NG } from "../../syslog_daemons.ts";

/** Messages forwarded each way. */
const COUNT = 1000;

/** Record `i`: every field used, with the characters that need escaping. */
function record(i: number): SyslogFields {
  return {
    facility: i % 24,
    severity: i % 8,
    timestamp: `2026-0${1 + i % 9}-1${i % 10}T0${i % 10}:1${i % 10}:2${
      i % 10
    }.${String(i).padStart(6, "0")}${i % 2 === 0 ? "Z" : "+05:30"}`,
    hostname: `host-${i}.example`,
    app_name: `app${i % 5}`,
    procid: i % 4 === 0 ? null : String(1000 + i),
    msgid: i % 3 === 0 ? null : `M${i}`,
    structured_data: i % 5 === 0 ? {} : {
      [`sd@${i % 3}`]: { quote: `say "${i}" ]\\ é`, n: String(i) },
      meta2: { seq: String(i) },
    },
    message: `message ${i}: é "quoted" [brackets] \\ 🎉`,
  };
}

/** What syslog-ng's template writes per message. */
interface Received {
  FACILITY: string;
  LEVEL: string;
  ISODATE: string;
  HOST: string;
  PROGRAM?: string;
  PID?: string;
  MSGID?: string;
  MSG: string;
  _SDATA?: Record<string, Record<string, string>>;
}

/** Runs `events` through `syslog_encode` (`format`) into `output`. */
async function send(
  format: "rfc5424" | "rfc3164",
  output: ["tcp_client" | "udp_out", Record<string, unknown>],
): Promise<void> {
  const router = new Router({ logLevel: "warning" });
  const events: Event[] = Array.from(
    { length: COUNT },
    (_, i) => ({ header: {}, data: record(i) }),
  );
  router.register(new ListInput("input", events));
  router.register(syslogEncode, "encode", { format });
  router.register(
    output[0] === "tcp_client" ? tcpClient : udpOut,
    "send",
    output[1],
  );
  router.connect("input.outbox", "encode.inbox");
  router.connect("encode.outbox", "send.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.delivered, COUNT);
  assert.equal(report.failed, 0);
}

testWith(
  "a syslog-ng receiver gets every message syslog_encode forwards, over TCP (RFC 5424, octet counting) and UDP (RFC 3164), fields intact",
  [SYSLOG_NG],
  ([syslogNg]) =>
    withTempDir(async (dir) => {
      const tcpPort = freePort();
      const udpPort = freePort();
      const file = (name: string) => join(dir, `${name}.ndjson`);
      const template =
        "$(format-json --key FACILITY --key LEVEL --key ISODATE --key HOST --key PROGRAM --key PID --key MSGID --key MSG --key .SDATA.*)\\n";
      await using daemon = startDaemon(
        syslogNg!,
        dir,
        `@version: 3.38
options { stats-freq(0); keep-hostname(yes); keep-timestamp(yes); frac-digits(6); };
source s_tcp { syslog(ip("127.0.0.1") port(${tcpPort}) transport("tcp")); };
source s_udp { network(ip("127.0.0.1") port(${udpPort}) transport("udp") so-rcvbuf(4194304)); };
destination d_tcp { file("${file("tcp")}" template("${template}")); };
destination d_udp { file("${file("udp")}" template("${template}")); };
log { source(s_tcp); destination(d_tcp); };
log { source(s_udp); destination(d_udp); };
`,
      );
      await daemon.said("syslog-ng starting up");
      await send("rfc5424", ["tcp_client", {
        port: tcpPort,
        framing: "octet_counting",
      }]);
      await send("rfc3164", ["udp_out", { port: udpPort }]);
      const read = async (name: string): Promise<Received[]> => {
        const text = await Deno.readTextFile(file(name)).catch(() => "");
        return text.split("\n").filter((line) => line !== "").map((line) =>
          JSON.parse(line)
        );
      };
      for (const name of ["tcp", "udp"]) {
        await pollUntil(
          () => read(name),
          (lines) => lines.length >= COUNT,
          `${COUNT} messages in syslog-ng's ${name} file; its log:\n${daemon.log()}`,
        );
      }
      await daemon.stop();

      const tcp = await read("tcp");
      assert.equal(tcp.length, COUNT);
      tcp.forEach((got, i) => {
        const sent = record(i);
        assert.deepEqual(
          {
            facility: got.FACILITY,
            severity: got.LEVEL,
            time: Date.parse(got.ISODATE),
            hostname: got.HOST,
            app_name: got.PROGRAM,
            procid: got.PID ?? null,
            msgid: got.MSGID ?? null,
            structured_data: got._SDATA ?? {},
            message: got.MSG,
          },
          {
            facility: FACILITY_NAMES[sent.facility],
            severity: SEVERITY_NAMES[sent.severity],
            time: Date.parse(sent.timestamp),
            hostname: sent.hostname,
            app_name: sent.app_name,
            procid: sent.procid,
            msgid: sent.msgid,
            structured_data: sent.structured_data,
            message: sent.message,
          },
          `message ${i} over TCP`,
        );
      });

      const udp = await read("udp");
      assert.equal(udp.length, COUNT);
      const byMessage = new Map(udp.map((got) => [got.MSG, got]));
      for (let i = 0; i < COUNT; i++) {
        const sent = record(i);
        const got = byMessage.get(sent.message);
        assert.ok(got, `message ${i} over UDP`);
        assert.deepEqual(
          [
            got.FACILITY,
            got.LEVEL,
            got.HOST,
            got.PROGRAM,
            got.PID ?? null,
            // RFC 3164 carries the wall-clock time, without year nor zone.
            got.ISODATE.slice(5, 19),
          ],
          [
            FACILITY_NAMES[sent.facility],
            SEVERITY_NAMES[sent.severity],
            sent.hostname,
            sent.app_name,
            sent.procid,
            sent.timestamp.slice(5, 19),
          ],
          `message ${i} over UDP`,
        );
      }
    }),
);
