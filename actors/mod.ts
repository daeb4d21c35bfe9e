/**
 * The built-in actors, statically imported so that a compiled binary carries
 * them all.
 *
 * @module
 */

import type { ActorSpec } from "../core/registry.ts";
import { fanout } from "./flow/fanout.ts";
import { funnel } from "./flow/funnel.ts";
import { roundrobin } from "./flow/roundrobin.ts";
import { switchFlow } from "./flow/switch.ts";
import { fileIn } from "./input/file_in.ts";
import { generator } from "./input/generator.ts";
import { httpServer } from "./input/http_server.ts";
import { natsIn } from "./input/nats_in.ts";
import { stdin } from "./input/stdin.ts";
import { tcpServer } from "./input/tcp_server.ts";
import { udpIn } from "./input/udp_in.ts";
import { logFile } from "./log/log_file.ts";
import { logHuman } from "./log/log_human.ts";
import { logJson } from "./log/log_json.ts";
import { logLevelFilter } from "./log/log_level_filter.ts";
import { graphite } from "./metric/graphite.ts";
import { prometheus } from "./metric/prometheus.ts";
import { fileOut } from "./output/file_out.ts";
import { httpClient } from "./output/http_client.ts";
import { natsOut } from "./output/nats_out.ts";
import { nullOutput } from "./output/null.ts";
import { stdout } from "./output/stdout.ts";
import { tcpClient } from "./output/tcp_client.ts";
import { udpOut } from "./output/udp_out.ts";
import { filter } from "./transform/filter.ts";
import { header } from "./transform/header.ts";
import { jsonDecode } from "./transform/json_decode.ts";
import { jsonEncode } from "./transform/json_encode.ts";
import { jsonata } from "./transform/jsonata.ts";
import { syslogEncode } from "./transform/syslog_encode.ts";
import { tippingBucket } from "./transform/tippingbucket.ts";

/**
 * Every built-in actor spec. Pass them to a `Registry`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS } from "./mod.ts";
 * assert.equal(BUILTIN_ACTORS.some((spec) => spec.type === "generator"), true);
 * ```
 */
export const BUILTIN_ACTORS: readonly ActorSpec[] = [
  fanout,
  funnel,
  roundrobin,
  switchFlow,
  fileIn,
  generator,
  httpServer,
  natsIn,
  stdin,
  tcpServer,
  udpIn,
  logFile,
  logHuman,
  logJson,
  logLevelFilter,
  graphite,
  prometheus,
  fileOut,
  httpClient,
  natsOut,
  nullOutput,
  stdout,
  tcpClient,
  udpOut,
  filter,
  header,
  jsonDecode,
  jsonEncode,
  jsonata,
  syslogEncode,
  tippingBucket,
] as ActorSpec[];
