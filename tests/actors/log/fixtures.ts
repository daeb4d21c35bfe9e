/**
 * Contract-test fixtures of the log actors that need something outside the
 * pipeline. Listed in `FIXTURES` of `tests/actors/contract_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { humanLine } from "../../../actors/log/log_human.ts";
import { readRotated } from "../../helpers.ts";
import type { Fixture } from "../contract_test.ts";

/**
 * A log file in a temporary directory, small enough to rotate; the lines of
 * every file, oldest first, must be the events consumed.
 */
export async function logFileFixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "contract_log_file_" });
  const path = `${dir}/pipeline.log`;
  return {
    options: { path, max_bytes: 8192, max_files: 1000 },
    verify: async (consumed) => {
      const { names, text } = await readRotated(dir);
      assert.ok(names.length > 1, "the file was rotated");
      assert.deepEqual(text.split("\n").slice(0, -1), consumed.map(humanLine));
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}
