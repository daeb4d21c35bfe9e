import assert from "node:assert/strict";
import {
  allowedHostProblem,
  HostCheck,
  isLoopback,
} from "../../admin/hosts.ts";

Deno.test("isLoopback knows localhost, 127.x.x.x and ::1, and nothing else", () => {
  for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (
    const host of ["0.0.0.0", "::", "", "10.0.0.1", "myhost", "127.0.0.1.evil"]
  ) {
    assert.equal(isLoopback(host), false, host);
  }
});

Deno.test("HostCheck answers to the address it listens on and the loopback names, with its port", () => {
  const hosts = new HostCheck("::1", 9630);
  for (const host of ["[::1]:9630", "localhost:9630", "127.0.0.1:9630"]) {
    assert.equal(hosts.allows(host), true, host);
  }
  for (
    const host of [
      null,
      "",
      "localhost",
      "[::1]",
      "localhost:9631",
      "evil.example:9630",
      "10.0.0.1:9630",
      "localhost:9630.evil.example",
    ]
  ) {
    assert.equal(hosts.allows(host), false, String(host));
  }
  // Port 80 may be left out, as clients do.
  const web = new HostCheck("192.168.1.5", 80);
  assert.equal(web.allows("192.168.1.5"), true);
  assert.equal(web.allows("192.168.1.5:80"), true);
  assert.equal(web.allows("192.168.1.6"), false);
});

Deno.test("HostCheck on every address answers to any IP address with its port, not to names", () => {
  for (const hostname of ["0.0.0.0", "::"]) {
    const hosts = new HostCheck(hostname, 9630);
    assert.equal(hosts.allows("10.0.0.1:9630"), true);
    assert.equal(hosts.allows("[fe80::1]:9630"), true);
    assert.equal(hosts.allows("10.0.0.1:9631"), false);
    assert.equal(hosts.allows("10.0.0.1"), false);
    assert.equal(hosts.allows("rebind.evil.example:9630"), false);
    assert.ok(hosts.names.includes("any IP address:9630"));
  }
});

Deno.test("HostCheck answers to allowed names: alone at any port, NAME:PORT at that port only", () => {
  const hosts = new HostCheck("127.0.0.1", 9630, [
    "Admin.Example.com",
    "proxy.example:8443",
    "[fd00::5]:9630",
  ]);
  for (
    const host of [
      "admin.example.com",
      "ADMIN.example.com:443",
      "proxy.example:8443",
      "[fd00::5]:9630",
    ]
  ) {
    assert.equal(hosts.allows(host), true, host);
  }
  for (
    const host of ["proxy.example", "proxy.example:80", "x.admin.example.com"]
  ) {
    assert.equal(hosts.allows(host), false, host);
  }
  assert.deepEqual(hosts.names, [
    "127.0.0.1:9630",
    "localhost:9630",
    "[::1]:9630",
    "proxy.example:8443",
    "[fd00::5]:9630",
    "admin.example.com (any port)",
  ]);
});

Deno.test("allowedHostProblem refuses what is not a host name or address", () => {
  for (const entry of ["a.example", "a.example:1", "10.0.0.1", "[::1]:80"]) {
    assert.equal(allowedHostProblem(entry), undefined, entry);
  }
  for (
    const entry of [
      "",
      "*",
      "http://a.example",
      "a.example/",
      "a example",
      "a.example:70000",
      "-a.example",
    ]
  ) {
    assert.equal(
      allowedHostProblem(entry),
      `"${entry}" is not a host name, "NAME:PORT" or "[IPV6]:PORT"`,
    );
  }
  assert.throws(() => new HostCheck("127.0.0.1", 1, ["*"]), {
    name: "RangeError",
    message:
      'allowedHosts: "*" is not a host name, "NAME:PORT" or "[IPV6]:PORT"',
  });
});
