/**
 * The branches of the flow actors that send to whatever outbound queues are
 * connected (`fanout`, `roundrobin`). Not an actor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueuePool } from "../../core/queue.ts";
 * import { connectedBranches } from "./branches.ts";
 *
 * const pool = new QueuePool("copy", {
 *   inbound: ["inbox"],
 *   outbound: ["error"],
 *   anyInbound: false,
 *   anyOutbound: true,
 * });
 * const quiet = { warn() {} };
 * const branches = connectedBranches(pool, quiet, "copy");
 * assert.deepEqual(branches.map((queue) => queue.name), ["copy.outbox"]); // nothing connected
 * ```
 *
 * @module
 */

import type { ActorLog } from "../../core/actor.ts";
import type { OutboundQueue, QueuePool } from "../../core/queue.ts";

/**
 * The connected outbound queues of `pool` but `error`, in the order they were
 * connected, for setup (once the router has wired them). With none, warns
 * that events `actor` receives are dropped and counted, and returns the
 * queue `outbox`, made unconnected, so that sends there are counted as
 * dropped.
 */
export function connectedBranches(
  pool: QueuePool,
  log: Pick<ActorLog, "warn">,
  actor: string,
): OutboundQueue[] {
  const branches = pool.branches();
  if (branches.length > 0) {
    return branches.map((name) => pool.addOutbound(name));
  }
  log.warn(
    "Actor {actor} has no connected outbound queue: events it receives are dropped and counted",
    { actor },
  );
  return [pool.addOutbound("outbox")];
}
