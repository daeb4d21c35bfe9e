/**
 * The syslog input (`tcp_server` with framing and codec `syslog`, `udp_in`
 * with codec `syslog`) against the real senders: `logger` in its RFC 3164 and
 * RFC 5424 forms, syslog-ng and rsyslog forwarding 10,000 messages each over
 * TCP (octet counting and newlines) and UDP.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { TcpServer } from "../../../actors/input/tcp_server.ts";
import { UdpIn } from "../../../actors/input/udp_in.ts";
import { isRfc3339, type SyslogRecord } from "../../../actors/syslog.ts";
import { Collector, pollUntil, withTempDir } from "../../helpers.ts";
import { testWith } from "../../requires.ts";
import {
  LOGGER,
  RSYSLOGD,
  startDaemon,
  SYSLOG_NG,
  udpDrops,
} from "../../syslog_daemons.ts";

/** Messages each forwarder sends. */
const COUNT = 10_000;

/** A pipeline with a syslog TCP input and a syslog UDP input. */
interface Inputs {
  router: Router;
  tcp: TcpServer;
  udp: UdpIn;
  /** What `tcp` made, and what `udp` made. */
  fromTcp: Collector;
  fromUdp: Collector;
  /** The failures of both. */
  errors: Collector;
}

async function startInputs(): Promise<Inputs> {
  const router = new Router({ logLevel: "warning" });
  const tcp = router.register(
    new TcpServer("tcp", { port: 0, framing: "syslog", codec: "syslog" }),
  );
  const udp = router.register(new UdpIn("udp", { port: 0, codec: "syslog" }));
  const fromTcp = router.register(new Collector("from_tcp"));
  const fromUdp = router.register(new Collector("from_udp"));
  const errors = router.register(
    new Collector("errors", {}, ["tcp", "udp"]),
  );
  router.connect("tcp.outbox", "from_tcp.inbox");
  router.connect("udp.outbox", "from_udp.inbox");
  router.connect("tcp.error", "errors.tcp");
  router.connect("udp.error", "errors.udp");
  await router.start();
  return { router, tcp, udp, fromTcp, fromUdp, errors };
}

function records(collector: Collector): SyslogRecord[] {
  return collector.events.map((event: Event) => event.data as SyslogRecord);
}

/** Whether `timestamp` is RFC 3339 text within a minute of now. */
function recent(timestamp: string): boolean {
  return isRfc3339(timestamp) &&
    Math.abs(Date.parse(timestamp) - Date.now()) < 60_000;
}

testWith(
  "logger (util-linux) in its RFC 5424 and RFC 3164 forms, over TCP with and without octet counting and over UDP",
  [LOGGER],
  async ([logger]) => {
    const { router, tcp, udp, fromTcp, fromUdp, errors } = await startInputs();
    try {
      const variants = [
        ["--tcp"],
        ["--tcp", "--octet-count"],
        ["--tcp", "--rfc3164"],
        ["--tcp", "--rfc3164", "--octet-count"],
        ["--udp"],
        ["--udp", "--rfc3164"],
      ];
      for (const variant of variants) {
        const rfc5424 = !variant.includes("--rfc3164");
        const port = variant.includes("--udp") ? udp.port : tcp.port;
        const output = await new Deno.Command(logger!, {
          args: [
            ...variant,
            "-n",
            "127.0.0.1",
            "-P",
            String(port),
            "-t",
            "app",
            "-p",
            "local4.warning",
            "-i",
            ...(rfc5424
              ? [
                "--msgid",
                "ID47",
                "--sd-id",
                "ex@32473",
                "--sd-param",
                'a="x\\"y"',
              ]
              : []),
            `hello ${variant.join(" ")} é`,
          ],
        }).output();
        assert.equal(
          output.code,
          0,
          `logger ${variant.join(" ")}: ${
            new TextDecoder().decode(output.stderr)
          }`,
        );
      }
      await pollUntil(
        () => fromTcp.events.length + fromUdp.events.length,
        (count) => count === variants.length,
        "a record per logger run",
      );
      const got = [...records(fromTcp), ...records(fromUdp)];
      for (const variant of variants) {
        const message = `hello ${variant.join(" ")} é`;
        const record = got.find((one) => one.message === message);
        assert.ok(
          record,
          `${message}: not received; got ${JSON.stringify(got)}`,
        );
        const rfc5424 = !variant.includes("--rfc3164");
        assert.equal(record.format, rfc5424 ? "rfc5424" : "rfc3164", message);
        assert.equal(record.facility_name, "local4");
        assert.equal(record.severity_name, "warning");
        assert.equal(record.hostname, Deno.hostname());
        assert.equal(record.app_name, "app");
        assert.match(record.procid ?? "", /^[0-9]+$/);
        assert.ok(recent(record.timestamp), record.timestamp);
        assert.equal(record.msgid, rfc5424 ? "ID47" : null);
        assert.deepEqual(
          record.structured_data["ex@32473"],
          rfc5424 ? { a: 'x"y' } : undefined,
        );
      }
      // Lines from stdin: one message each, on one connection.
      const child = new Deno.Command(logger!, {
        args: [
          "--tcp",
          "--octet-count",
          "-n",
          "127.0.0.1",
          "-P",
          String(tcp.port),
          "-t",
          "lines",
        ],
        stdin: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("first line\nsecond line\n"));
      await writer.close();
      assert.equal((await child.status).code, 0);
      await pollUntil(
        () => records(fromTcp).filter((one) => one.app_name === "lines").length,
        (count) => count === 2,
        "the two lines",
      );
      assert.deepEqual(
        records(fromTcp).filter((one) => one.app_name === "lines").map((one) =>
          one.message
        ),
        ["first line", "second line"],
      );
      assert.deepEqual(errors.events, []);
    } finally {
      await router.stop();
    }
  },
);

/**
 * What a forwarder sent into the pipeline: the records, and the datagrams
 * the kernel dropped at the UDP socket because it was full.
 */
interface Forwarded {
  records: SyslogRecord[];
  drops: number;
}

/** Lines "message <n> é <padding>" for n from `from` to `to`. */
function messageLines(from: number, to: number): string {
  let text = "";
  for (let n = from; n <= to; n++) {
    text += `message ${n} é ${"x".repeat(n % 50)}\n`;
  }
  return text;
}

/** Lines a second appended to the file a forwarder sends over UDP. */
const UDP_PACE = 2000;

/**
 * Starts the pipeline, then `binary` (syslog-ng or rsyslogd) with the
 * configuration `config` makes for a file and the input's port, and writes
 * `COUNT` lines "message <n> é <padding>" to that file: at once for TCP, and
 * {@link UDP_PACE} lines a second for UDP, which has no flow control (a log
 * file that grows: the forwarder sends as it reads, and the socket buffer is
 * not overrun). Waits until `expected` records arrived over `transport` (for
 * UDP, records and kernel drops together).
 */
function forward(
  binary: string,
  transport: "tcp" | "udp",
  expected: number,
  config: (input: string, port: number, dir: string) => string,
): Promise<Forwarded> {
  return withTempDir(async (dir) => {
    const input = join(dir, "in.log");
    await Deno.writeTextFile(
      input,
      transport === "tcp" ? messageLines(1, COUNT) : "",
    );
    const { router, tcp, udp, fromTcp, fromUdp, errors } = await startInputs();
    try {
      const port = transport === "tcp" ? tcp.port : udp.port;
      const sink = transport === "tcp" ? fromTcp : fromUdp;
      const drops = () => transport === "udp" ? udpDrops(port) : 0;
      await using daemon = startDaemon(binary, dir, config(input, port, dir));
      const batch = UDP_PACE / 20;
      for (let n = 1; transport === "udp" && n <= COUNT; n += batch) {
        await Deno.writeTextFile(input, messageLines(n, n + batch - 1), {
          append: true,
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      try {
        await pollUntil(
          () => sink.events.length + drops(),
          (count) => count >= expected,
          `${expected} messages over ${transport}`,
          1200,
          50,
        );
      } catch (error) {
        const failures = errors.events.slice(0, 3).map((event) =>
          JSON.stringify(event.header.error)
        );
        throw new Error(
          `${(error as Error).message}; ${errors.events.length} on error ${
            failures.join(" ")
          }; input figures ${JSON.stringify(tcp.figures())}\n${daemon.log()}${
            senderStats(dir)
          }`,
        );
      }
      assert.deepEqual(errors.events, []);
      if (drops() > 0) {
        console.log(
          `The kernel dropped ${drops()} of ${expected} datagrams: the machine is too loaded for the pace`,
        );
      }
      return { records: records(sink), drops: drops() };
    } finally {
      await router.stop();
    }
  });
}

/**
 * The last statistics rsyslog wrote (its `impstats` module, in the
 * configuration of {@link rsyslogConfig}) about its forwarding action: what
 * a failed test prints, so that events still in rsyslog's queue are told
 * apart from events lost on the way. Empty for syslog-ng.
 */
function senderStats(dir: string): string {
  try {
    const lines = Deno.readTextFileSync(join(dir, "stats.log")).split("\n");
    return lines.filter((line) => line.includes("omfwd")).slice(-4).join("\n");
  } catch {
    return "";
  }
}

/**
 * Checks that `got` holds each of the `COUNT` messages once (all of them, or
 * all but `drops` for UDP), whole, each parsed with the `expected` fields.
 */
function checkForwarded(
  { records: got, drops }: Forwarded,
  expected: Partial<SyslogRecord>,
  what: string,
): void {
  // Every datagram the kernel handed over was parsed; with the pace set,
  // drops are rare and few (a loaded machine), never the bulk.
  assert.equal(got.length + drops, COUNT, what);
  assert.ok(drops <= COUNT / 10, `${what}: ${drops} datagrams dropped`);
  const seen = new Set<number>();
  for (const record of got) {
    const match = record.message.match(/^message (\d+) é (x*)$/);
    assert.ok(match, `${what}: unexpected message ${JSON.stringify(record)}`);
    const n = Number(match[1]);
    assert.equal(match[2]!.length, n % 50, `${what}: message ${n} was cut`);
    assert.ok(!seen.has(n), `${what}: message ${n} arrived twice`);
    seen.add(n);
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(
        record[key as keyof SyslogRecord],
        value,
        `${what}: ${key} of message ${n}`,
      );
    }
    assert.ok(isRfc3339(record.timestamp), record.timestamp);
  }
}

/**
 * syslog-ng's configuration: a file source (standing for the machine's logs)
 * and a log path with flow control to each of `destinations`, as the README
 * says.
 */
function syslogNgConfig(input: string, destinations: string[]): string {
  return `@version: 3.38
options { stats-freq(0); };
source s_file {
  file("${input}" flags(no-parse) follow-freq(0.05)
       program-override("loadgen") host-override("sender1")
       default-facility(local3) default-priority(info));
};
${
    destinations.map((destination, i) =>
      `destination d${i} { ${destination}; };\nlog { source(s_file); destination(d${i}); flags(flow-control); };`
    ).join("\n")
  }
`;
}

/** The fields syslog-ng's messages have, from its file source options. */
const FROM_SYSLOG_NG = {
  facility_name: "local3",
  severity_name: "info",
  hostname: "sender1",
  app_name: "loadgen",
};

testWith(
  "syslog-ng forwards 10,000 messages over TCP with octet counting and 10,000 with newlines at once: every one arrives parsed",
  [SYSLOG_NG],
  async ([syslogNg]) => {
    const forwarded = await forward(
      syslogNg!,
      "tcp",
      2 * COUNT,
      (input, port) =>
        syslogNgConfig(input, [
          `syslog("127.0.0.1" port(${port}) transport("tcp") persist-name("octets"))`,
          `network("127.0.0.1" port(${port}) transport("tcp") persist-name("lines"))`,
        ]),
    );
    const octets = forwarded.records.filter((one) => one.format === "rfc5424");
    const lines = forwarded.records.filter((one) => one.format === "rfc3164");
    checkForwarded(
      { records: octets, drops: 0 },
      { ...FROM_SYSLOG_NG, procid: null, msgid: null },
      "syslog() over TCP",
    );
    checkForwarded(
      { records: lines, drops: 0 },
      FROM_SYSLOG_NG,
      "network() over TCP",
    );
    // syslog() adds its sequence number as structured data: in order.
    assert.deepEqual(
      octets.map((one) => Number(one.structured_data.meta?.sequenceId)),
      Array.from({ length: COUNT }, (_, i) => i + 1),
    );
  },
);

testWith(
  "syslog-ng forwards 10,000 messages over UDP, 2,000 a second: every one that the kernel hands over arrives parsed",
  [SYSLOG_NG],
  async ([syslogNg]) => {
    const forwarded = await forward(
      syslogNg!,
      "udp",
      COUNT,
      (input, port) =>
        syslogNgConfig(input, [
          `network("127.0.0.1" port(${port}) transport("udp"))`,
        ]),
    );
    checkForwarded(
      forwarded,
      { ...FROM_SYSLOG_NG, format: "rfc3164" },
      "network() over UDP",
    );
  },
);

/**
 * rsyslog's configuration: `imfile` reads the messages (standing for the
 * machine's logs) into a ruleset holding `action`, the forwarding action of
 * the README.
 */
function rsyslogConfig(input: string, dir: string, action: string): string {
  Deno.mkdirSync(join(dir, "work"));
  return `global(workDirectory="${join(dir, "work")}")
module(load="imfile")
module(load="impstats" interval="1" log.syslog="off" log.file="${
    join(dir, "stats.log")
  }")
input(type="imfile" File="${input}" Tag="loadgen" Facility="local3" Severity="info"
      freshStartTail="off" ruleset="forward")
ruleset(name="forward") {
  ${action}
}
`;
}

/** The fields rsyslog's messages have, from its imfile input options. */
const FROM_RSYSLOG = {
  format: "rfc5424" as const,
  facility_name: "local3",
  severity_name: "info",
  hostname: Deno.hostname(),
  app_name: "loadgen",
};

testWith(
  "rsyslog forwards 10,000 messages over TCP with octet counting, configured as the README says: every one arrives parsed",
  [RSYSLOGD],
  async ([rsyslogd]) => {
    const forwarded = await forward(
      rsyslogd!,
      "tcp",
      COUNT,
      (input, port, dir) =>
        rsyslogConfig(
          input,
          dir,
          `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
         queue.type="LinkedList" queue.size="100000" queue.filename="fwd_compysition"
         queue.maxDiskSpace="1g" queue.saveOnShutdown="on"
         action.resumeRetryCount="-1")`,
        ),
    );
    checkForwarded(forwarded, FROM_RSYSLOG, "omfwd over TCP");
  },
);

testWith(
  "rsyslog forwards 10,000 messages over UDP, 2,000 a second: every one that the kernel hands over arrives parsed",
  [RSYSLOGD],
  async ([rsyslogd]) => {
    const forwarded = await forward(
      rsyslogd!,
      "udp",
      COUNT,
      (input, port, dir) =>
        rsyslogConfig(
          input,
          dir,
          `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="udp"
         template="RSYSLOG_SyslogProtocol23Format")`,
        ),
    );
    checkForwarded(forwarded, FROM_RSYSLOG, "omfwd over UDP");
  },
);
