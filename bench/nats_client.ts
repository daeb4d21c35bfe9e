/**
 * The NATS bench's baseline: the official client alone, taking the messages
 * of a durable JetStream consumer with `consume({ max_messages: 1000 })` and
 * acknowledging each one with `ack()`, until SIGTERM. Run by `bench/nats.ts`
 * as a process of its own, as a worker would be.
 *
 *   deno run --allow-all bench/nats_client.ts URL STREAM DURABLE
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

const [url, stream, durable] = Deno.args;
if (url === undefined || stream === undefined || durable === undefined) {
  throw new TypeError("Usage: nats_client.ts URL STREAM DURABLE");
}
const connection = await connect({ servers: url, name: "bench-worker" });
const consumer = await jetstream(connection).consumers.get(stream, durable);
const messages = await consumer.consume({ max_messages: 1000 });
Deno.addSignalListener("SIGTERM", () => messages.stop());
for await (const message of messages) message.ack();
await connection.drain();
