/**
 * Contract-test fixtures of `nats_in` and `nats_out`: each starts its own
 * `nats-server -js` on 127.0.0.1 (see `tests/nats_server.ts`). Listed in
 * `FIXTURES` of `tests/actors/contract_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Fixture } from "./contract_test.ts";
import { startNatsServer } from "../nats_server.ts";

/** A stream with two messages, read through a durable consumer. */
export async function natsInFixture(): Promise<Fixture> {
  const server = await startNatsServer();
  return {
    options: {
      servers: server.url,
      stream: "CONTRACT",
      subjects: ["contract.>"],
      durable: "contract",
      create: true,
    },
    drive: async () => {
      const connection = await connect({ servers: server.url });
      try {
        const js = jetstream(connection);
        await js.publish("contract.one", JSON.stringify({ n: 1 }));
        await js.publish("contract.two", JSON.stringify({ n: 2 }));
      } finally {
        await connection.close();
      }
    },
    cleanup: () => server.stop(),
  };
}

/** A stream to publish to; afterwards it holds every event consumed. */
export async function natsOutFixture(): Promise<Fixture> {
  const server = await startNatsServer();
  return {
    options: {
      servers: server.url,
      subject: "contract.{header.contract.seq}",
      stream: "CONTRACT",
      subjects: ["contract.>"],
      create: true,
    },
    badEvent: { header: {}, data: { big: 1n } },
    verify: async (consumed) => {
      const connection = await connect({ servers: server.url });
      try {
        const manager = await jetstreamManager(connection);
        const info = await manager.streams.info("CONTRACT");
        assert.equal(info.state.messages, consumed.length);
      } finally {
        await connection.close();
      }
    },
    cleanup: () => server.stop(),
  };
}
