/**
 * `udp_out`: an output that sends each event as one UDP datagram.
 *
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  errorMessage,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { payloadBytes } from "../payload.ts";

/** Options of the `udp_out` actor. */
export const UdpOutOptions = z.strictObject({
  hostname: z.string().min(1).default("127.0.0.1").describe(
    "The host to send to: a name (looked up once, at start) or an IP address.",
  ),
  port: z.number().int().min(1).max(65_535).describe(
    "The port to send to.",
  ),
});

/** Parsed options of the `udp_out` actor. */
export type UdpOutOptions = z.infer<typeof UdpOutOptions>;

/**
 * Sends each event as one datagram: string data as UTF-8 text, bytes as they
 * are, anything else as JSON. A batch counts as consumed once the operating
 * system took every datagram of it; UDP itself says nothing of whether they
 * arrived. An event too large for one datagram (about 64 KiB, less on most
 * networks), or whose data cannot be written as JSON, goes to the `error`
 * queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSocket } from "node:dgram";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { udpOut } from "./udp_out.ts";
 *
 * const receiver = createSocket("udp4");
 * const received: string[] = [];
 * const all = Promise.withResolvers<void>();
 * receiver.on("message", (message) => {
 *   if (received.push(message.toString()) === 2) all.resolve();
 * });
 * await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 2, data: "n={{seq}}" });
 * router.register(udpOut, "send", { port: receiver.address().port });
 * router.connect("input.outbox", "send.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * await all.promise;
 * assert.deepEqual(received, ["n=1", "n=2"]);
 * receiver.close();
 * ```
 */
export const udpOut: ActorSpec<UdpOutOptions> = {
  type: "udp_out",
  kind: "output",
  summary: "Sends each event as one UDP datagram.",
  options: UdpOutOptions,
  example: { hostname: "127.0.0.1", port: 5141 },
  create: (name, options, settings) => new UdpOut(name, options, settings),
};

/** The `udp_out` output actor. */
export class UdpOut extends Actor {
  readonly kind = "output";
  #hostname: string;
  #port: number;
  #address = "";
  #socket: Socket | undefined;

  /** Makes a UDP output; see {@link UdpOutOptions}. */
  constructor(
    name: string,
    options: Partial<UdpOutOptions> & Pick<UdpOutOptions, "port">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = UdpOutOptions.parse(options);
    this.#hostname = parsed.hostname;
    this.#port = parsed.port;
  }

  override async setup(): Promise<void> {
    let found: { address: string; family: number };
    try {
      found = await lookup(this.#hostname);
    } catch (error) {
      throw new Error(
        `Cannot find the address of "${this.#hostname}": ${
          errorMessage(error)
        }`,
        { cause: error },
      );
    }
    this.#address = found.address;
    const socket = createSocket(found.family === 6 ? "udp6" : "udp4");
    socket.on(
      "error",
      (error: Error) =>
        this.log.error("UDP socket error: {error}", { error: error.message }),
    );
    this.#socket = socket;
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) {
      throw new TypeError(`Actor "${this.name}" has no open socket`);
    }
    // One send at a time: Deno's node:dgram lets sends in flight together
    // leave in any order (a burst of 4 went out last first).
    for (const event of events) {
      let bytes: Uint8Array;
      try {
        bytes = payloadBytes(event.data);
      } catch (error) {
        context.fail(event, error);
        continue;
      }
      const error = await new Promise<unknown>((resolve) => {
        try {
          socket.send(bytes, this.#port, this.#address, resolve);
        } catch (error) {
          resolve(error);
        }
      });
      if (error) context.fail(event, error);
    }
  }

  override async teardown(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }
}
