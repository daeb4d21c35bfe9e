/**
 * Real syslog programs for the tests (and the syslog benchmark): `logger`
 * from util-linux, `syslog-ng` and `rsyslogd`, as {@link Program}s for
 * `testWith`, and {@link startDaemon}, which runs syslog-ng or rsyslog
 * unprivileged with a configuration of its own in a temporary directory.
 *
 * Debian's `syslog-ng-core` and `rsyslog` packages conflict, so `.ci/run`
 * installs syslog-ng and unpacks the rsyslog package (`apt-get download`,
 * `dpkg -x`) into `.ci/.cache/rsyslog` without installing it; a machine with
 * rsyslog installed uses `/usr/sbin/rsyslogd`.
 *
 * @module
 */

import { join } from "node:path";
import type { Program } from "./requires.ts";

/** `logger`, from util-linux (Debian package `bsdutils`). */
export const LOGGER: Program = {
  name: "logger",
  paths: ["/usr/bin/logger"],
  install: "apt-get install -y bsdutils",
};

/** `syslog-ng` (Debian package `syslog-ng-core`). */
export const SYSLOG_NG: Program = {
  name: "syslog-ng",
  paths: ["/usr/sbin/syslog-ng"],
  install: "apt-get install -y syslog-ng-core",
};

/** Where `.ci/run` unpacks the rsyslog package. */
const UNPACKED_RSYSLOG = new URL("../.ci/.cache/rsyslog/", import.meta.url)
  .pathname;

/** `rsyslogd`: installed, or unpacked by `.ci/run`. */
export const RSYSLOGD: Program = {
  name: "rsyslogd",
  paths: [join(UNPACKED_RSYSLOG, "usr/sbin/rsyslogd"), "/usr/sbin/rsyslogd"],
  install:
    'apt-get install -y rsyslog, or beside syslog-ng: apt-get install -y libestr0 libfastjson4 && apt-get download rsyslog && dpkg -x rsyslog_*.deb .ci/.cache/rsyslog (as ".ci/run" does)',
};

/** A syslog daemon started by {@link startDaemon}. */
export interface Daemon {
  /** Its process id. */
  readonly pid: number;
  /** What it wrote on stderr so far. */
  log(): string;
  /** Resolves once its stderr holds `text`; rejects if it exits first. */
  said(text: string): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits for its end. */
  stop(): Promise<void>;
  /** Same as `stop`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Runs `binary` (the path of `syslog-ng` or `rsyslogd`) in the foreground,
 * unprivileged, with `config` written to `<dir>/<name>.conf` and its state
 * (persist file, pid file, control socket, work directory) in `dir`.
 *
 * @example
 * ```ts ignore
 * await using daemon = await startDaemon(syslogNg, dir, "@version: 3.38\n...");
 * await daemon.said("syslog-ng starting up");
 * ```
 */
export function startDaemon(
  binary: string,
  dir: string,
  config: string,
): Daemon {
  const rsyslog = binary.endsWith("rsyslogd");
  const conf = join(dir, rsyslog ? "rsyslog.conf" : "syslog-ng.conf");
  Deno.writeTextFileSync(conf, config);
  const args = rsyslog
    ? ["-n", "-f", conf, "-i", join(dir, "rsyslogd.pid"), ...moduleDir(binary)]
    : [
      "--foreground",
      "--no-caps",
      "--stderr",
      "-f",
      conf,
      "-R",
      join(dir, "syslog-ng.persist"),
      "-p",
      join(dir, "syslog-ng.pid"),
      "-c",
      join(dir, "syslog-ng.ctl"),
    ];
  const child = new Deno.Command(binary, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters = new Set<() => void>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      for (const waiter of waiters) waiter();
    }
  })();
  const exited = child.status;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
      await reading;
    })();
  return {
    pid: child.pid,
    log: () => text,
    said: (wanted) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!text.includes(wanted)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        exited.then((status) => {
          waiters.delete(check);
          reject(
            new Error(
              `${binary} exited (code ${status.code}) before saying "${wanted}":\n${text}`,
            ),
          );
        });
      }),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** `-M <dir>` for an rsyslogd unpacked beside its modules, else nothing. */
function moduleDir(binary: string): string[] {
  const lib = join(binary, "../../lib");
  try {
    for (const entry of Deno.readDirSync(lib)) {
      const modules = join(lib, entry.name, "rsyslog");
      try {
        if (Deno.statSync(join(modules, "imfile.so")).isFile) {
          return ["-M", modules];
        }
      } catch {
        // Not this one.
      }
    }
  } catch {
    // No lib directory beside it.
  }
  return [];
}

/**
 * The kernel's count of datagrams dropped at the UDP socket bound to
 * 127.0.0.1:`port` (its receive buffer was full), from `/proc/net/udp`; 0
 * where there is no such file.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * assert.equal(udpDrops(5514), 0);
 * ```
 */
export function udpDrops(port: number): number {
  let table: string;
  try {
    table = Deno.readTextFileSync("/proc/net/udp");
  } catch {
    return 0;
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of table.split("\n").slice(1)) {
    const columns = line.trim().split(/\s+/);
    if (columns[1] === local) return Number(columns.at(-1));
  }
  return 0;
}
