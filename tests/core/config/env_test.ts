import assert from "node:assert/strict";
import { substituteText } from "../../../core/config/env.ts";

const ENV: Record<string, string> = { HOST: "example.com", EMPTY: "" };
const lookup = (name: string) => ENV[name];

Deno.test("substituteText replaces ${VAR}, uses the default when VAR is unset or empty, and keeps $${ literal", () => {
  assert.deepEqual(substituteText("${HOST}:${PORT:-80}", lookup), {
    text: "example.com:80",
    changed: true,
    problems: [],
  });
  assert.equal(
    substituteText("${EMPTY:-none}|${EMPTY}|", lookup).text,
    "none||",
  );
  assert.equal(
    substituteText("$${HOST} ${HOST}", lookup).text,
    "${HOST} example.com",
  );
  assert.deepEqual(substituteText("no references $ {} here", lookup), {
    text: "no references $ {} here",
    changed: false,
    problems: [],
  });
  assert.equal(substituteText("${X:-a:-b}", lookup).text, "a:-b");
});

Deno.test("substituteText names each reference it cannot substitute", () => {
  const { problems } = substituteText(
    "${MISSING} ${1BAD} ${HOST} ${OPEN",
    lookup,
  );
  assert.deepEqual(problems.map((problem) => problem.reference), [
    "${MISSING}",
    "${1BAD}",
    "${OPEN",
  ]);
  assert.equal(
    problems[0]!.message,
    'Environment variable "MISSING" is not set; set it or give a default: "${MISSING:-value}"',
  );
  assert.equal(
    problems[1]!.message,
    'Invalid variable reference "${1BAD}": write "${NAME}" or "${NAME:-default}" (and "$${" for a literal "${")',
  );
});
