import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnCli } from "../cli_helpers.ts";
import { withTempDir } from "../helpers.ts";
import { testWith } from "../requires.ts";
import { LOGGER } from "../syslog_daemons.ts";
import {
  freePort,
  killIfRunning,
  stopWithSigterm,
  waitForPort,
} from "./helpers.ts";

testWith(
  "examples/syslog_relay.yaml writes what logger sends over TCP and UDP as records, and prints a message that is not syslog whole",
  [LOGGER],
  ([logger]) =>
    withTempDir(async (dir) => {
      const port = freePort();
      const cli = spawnCli(["run", "examples/syslog_relay.yaml"], {
        SYSLOG_PORT: String(port),
        LOG_DIR: dir,
      });
      try {
        await waitForPort(cli, port);
        const forms = [
          ["--tcp", "--octet-count"],
          ["--tcp"],
          ["--udp", "--rfc3164"],
        ];
        for (const form of forms) {
          const output = await new Deno.Command(logger!, {
            args: [
              ...form,
              "-n",
              "127.0.0.1",
              "-P",
              String(port),
              "-t",
              "relay",
              `sent with ${form.join(" ")}`,
            ],
          }).output();
          assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
        }
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(new TextEncoder().encode("not syslog\n"));
        conn.close();
        await cli.stdout.until((text) => text.includes("\n"));
        const path = join(dir, "syslog.ndjson");
        for (let attempt = 0; attempt < 200; attempt++) {
          const text = await Deno.readTextFile(path).catch(() => "");
          if (text.split("\n").length > forms.length) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }

        const { result, report } = await stopWithSigterm(cli);
        // The message that is not syslog went by the error queue.
        assert.deepEqual(report, {
          created: forms.length + 1,
          delivered: forms.length,
          errors: 1,
          filtered: 0,
          dropped: 0,
          failed: 0,
          abandoned: 0,
          discarded: 0,
        });
        const records = (await Deno.readTextFile(path)).trimEnd().split("\n")
          .map((line) => JSON.parse(line));
        assert.deepEqual(
          records.map((record) => [
            record.format,
            record.app_name,
            record.hostname,
            record.message,
          ]).sort(),
          [
            ["rfc3164", "relay", Deno.hostname(), "sent with --udp --rfc3164"],
            ["rfc5424", "relay", Deno.hostname(), "sent with --tcp"],
            [
              "rfc5424",
              "relay",
              Deno.hostname(),
              "sent with --tcp --octet-count",
            ],
          ],
        );
        const rejected = result.stdout.trimEnd().split("\n");
        assert.equal(rejected.length, 1, result.stdout);
        const event = JSON.parse(rejected[0]!.slice("rejected: ".length));
        assert.equal(event.data, "not syslog");
        assert.equal(
          event.header.error.message,
          'The message does not start with a priority such as "<13>" (line 1)',
        );
      } finally {
        await killIfRunning(cli);
      }
    }),
);
