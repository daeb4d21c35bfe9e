/**
 * Which `Host` headers the admin server answers to. A browser page from
 * another site can reach a loopback server through DNS rebinding (its name
 * made to resolve to 127.0.0.1), but it always sends its own name as `Host`:
 * answering only to the server's own address, the loopback names and the
 * names an operator allowed defeats that.
 *
 * @module
 */

/**
 * Whether `hostname` (as given to listen on, brackets or not) is a loopback
 * address: `localhost`, `127.x.x.x` or `::1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./hosts.ts";
 * assert.equal(isLoopback("127.0.0.1"), true);
 * assert.equal(isLoopback("[::1]"), true);
 * assert.equal(isLoopback("0.0.0.0"), false);
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return name === "localhost" || name === "::1" ||
    name === "0:0:0:0:0:0:0:1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** An IP address literal as a `Host` name: dotted IPv4 or `[IPv6]`. */
const IP_LITERAL = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/;

/** A name of an allow-list: a host name, IPv4 or `[IPv6]`, maybe `:port`. */
const ALLOWED =
  /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;

/**
 * Why `entry` cannot be in an allow-list of hosts, or `undefined` when it
 * can: a host name or address, with or without `:port` (IPv6 in brackets).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allowedHostProblem } from "./hosts.ts";
 * assert.equal(allowedHostProblem("admin.example.com"), undefined);
 * assert.equal(allowedHostProblem("admin.example.com:8443"), undefined);
 * assert.equal(allowedHostProblem("http://admin.example.com/")?.startsWith('"http:'), true);
 * ```
 */
export function allowedHostProblem(entry: string): string | undefined {
  const match = ALLOWED.exec(entry.toLowerCase());
  if (match !== null && Number(match[2] ?? 0) <= 65_535) return undefined;
  return `"${entry}" is not a host name, "NAME:PORT" or "[IPV6]:PORT"`;
}

/**
 * Decides whether the admin server answers a request by its `Host` header:
 * yes for the address it listens on and the loopback names (`localhost`,
 * `127.0.0.1`, `[::1]`), each with its port, for any IP address with its port
 * when it listens on every address (`0.0.0.0` or `::`: no rebinding goes by
 * an IP address), and for the names of `allowed` (a name alone allows any
 * port; `NAME:PORT` only that port). The port may be left out only when it
 * is 80.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostCheck } from "./hosts.ts";
 * const hosts = new HostCheck("127.0.0.1", 9630, ["admin.example.com"]);
 * assert.equal(hosts.allows("localhost:9630"), true);
 * assert.equal(hosts.allows("admin.example.com"), true);
 * assert.equal(hosts.allows("attacker.example:9630"), false);
 * assert.equal(hosts.allows(null), false);
 * ```
 */
export class HostCheck {
  #port: string;
  #exact = new Set<string>();
  #anyPort = new Set<string>();
  #anyAddress: boolean;

  /**
   * For a server listening on `hostname` (brackets or not for IPv6) and
   * `port`, answering to `allowed` too. Throws a `RangeError` naming an
   * entry of `allowed` that is not a host (see {@link allowedHostProblem}).
   */
  constructor(hostname: string, port: number, allowed: readonly string[] = []) {
    this.#port = String(port);
    const bare = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
    const own = bare.includes(":") ? `[${bare}]` : bare;
    this.#anyAddress = bare === "0.0.0.0" || bare === "::" || bare === "";
    for (const name of [own, "localhost", "127.0.0.1", "[::1]"]) {
      this.#exact.add(`${name}:${port}`);
      if (port === 80) this.#exact.add(name);
    }
    for (const entry of allowed) {
      const problem = allowedHostProblem(entry);
      if (problem !== undefined) {
        throw new RangeError(`allowedHosts: ${problem}`);
      }
      const name = entry.toLowerCase();
      if (/:\d+$/.test(name)) this.#exact.add(name);
      else this.#anyPort.add(name);
    }
  }

  /** The names it answers to, for messages: `["127.0.0.1:9630", ...]`. */
  get names(): string[] {
    return [
      ...this.#exact,
      ...[...this.#anyPort].map((name) => `${name} (any port)`),
      ...(this.#anyAddress ? [`any IP address:${this.#port}`] : []),
    ];
  }

  /** Whether a request with this `Host` header (`null`: none) is answered. */
  allows(host: string | null): boolean {
    if (host === null) return false;
    const value = host.toLowerCase();
    if (this.#exact.has(value)) return true;
    const match = /^(.*?)(?::(\d*))?$/.exec(value)!;
    const name = match[1]!;
    const port = match[2] ?? "80";
    if (this.#anyPort.has(name)) return true;
    return this.#anyAddress && port === this.#port && IP_LITERAL.test(name);
  }
}
