/**
 * Contract-test fixtures of the inputs that read files, standard input and
 * sockets: each gives the input something real to read on 127.0.0.1 or in a
 * temporary directory. Listed in `FIXTURES` of `tests/actors/contract_test.ts`.
 *
 * @module
 */

import type { Fixture } from "../contract_test.ts";
import { FileIn, type FileInOptions } from "../../../actors/input/file_in.ts";
import {
  HttpServer,
  type HttpServerOptions,
} from "../../../actors/input/http_server.ts";
import { Stdin, type StdinOptions } from "../../../actors/input/stdin.ts";
import {
  TcpServer,
  type TcpServerOptions,
} from "../../../actors/input/tcp_server.ts";
import { UdpIn, type UdpInOptions } from "../../../actors/input/udp_in.ts";
import { encode, sendDatagrams } from "./support.ts";

const nothing = (): Promise<void> => Promise.resolve();

/** A file of two NDJSON lines, followed until the stop. */
export async function fileInFixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "contract_file_in_" });
  const path = `${dir}/in.ndjson`;
  await Deno.writeTextFile(path, '{"n":1}\n{"n":2}\n');
  return {
    options: { path, follow: true, poll_interval: 0.01, codec: "ndjson" },
    create: (name, options, settings) =>
      new FileIn(name, options as FileInOptions, settings),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A stream in place of standard input that never ends: the stop ends it. */
export function stdinFixture(): Promise<Fixture> {
  const source = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(encode("one\ntwo\n")),
  });
  return Promise.resolve({
    options: { codec: "lines" },
    create: (name, options, settings) =>
      new Stdin(name, options as StdinOptions, settings, source),
    cleanup: nothing,
  });
}

/** An ephemeral port and one JSON POST to the queue `one`. */
export function httpServerFixture(): Promise<Fixture> {
  let server: HttpServer | undefined;
  return Promise.resolve({
    options: { port: 0 },
    create: (name, options, settings) =>
      server = new HttpServer(name, options as HttpServerOptions, settings),
    drive: async () => {
      const response = await fetch(`http://127.0.0.1:${server!.port}/one`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"n":1}',
      });
      await response.body?.cancel();
      if (response.status !== 202) {
        throw new Error(`POST /one was answered ${response.status}`);
      }
    },
    cleanup: nothing,
  });
}

/** An ephemeral port and one client that sends two lines and closes. */
export function tcpServerFixture(): Promise<Fixture> {
  let server: TcpServer | undefined;
  return Promise.resolve({
    options: { port: 0, codec: "lines" },
    create: (name, options, settings) =>
      server = new TcpServer(name, options as TcpServerOptions, settings),
    drive: async () => {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server!.port,
      });
      try {
        await conn.write(encode("one\ntwo\n"));
      } finally {
        conn.close();
      }
    },
    cleanup: nothing,
  });
}

/** An ephemeral port and one JSON datagram. */
export function udpInFixture(): Promise<Fixture> {
  let input: UdpIn | undefined;
  return Promise.resolve({
    options: { port: 0, codec: "json" },
    create: (name, options, settings) =>
      input = new UdpIn(name, options as UdpInOptions, settings),
    drive: async () => {
      await sendDatagrams(input!.port, ['{"n":1}']);
    },
    cleanup: nothing,
  });
}
