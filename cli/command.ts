/**
 * What every command of the command line is: its help and what it does, and
 * the exit codes they share.
 *
 * @module
 */

/** The name of the command. */
export const NAME = "compysition";

/** The exit codes of the command. */
export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /** Invalid input: a bad bootstrap file, an unknown type, a failed start. */
  invalid: 1,
  /** Usage error: unknown command or option, missing argument. */
  usage: 2,
  /**
   * `run` stopped, but the drain timed out and queued events were lost, or
   * an actor did not finish its teardown in time (an output may not have
   * flushed and closed what it wrote).
   */
  timedOut: 3,
  /** `plan --detailed-exitcode`: the plan has changes. */
  changes: 4,
  /**
   * `run` stopped because an actor crashed more often than its restart
   * policy allows.
   */
  crashed: 5,
  /** `run` exited at once on a second SIGINT. */
  sigint: 130,
  /** `run` exited at once on a second SIGTERM. */
  sigterm: 143,
} as const;

/**
 * Ends the process at once with `code`: what a command calls when it cannot
 * return first (a second signal while draining). Only cli.ts exits.
 */
export type Exit = (code: number) => never;

/**
 * One subcommand: its help and what it does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Command, EXIT_CODES } from "./command.ts";
 * const hello: Command = {
 *   summary: "Say hello",
 *   help: "Usage: compysition hello\n",
 *   main: () => EXIT_CODES.ok,
 * };
 * const exit = (code: number): never => {
 *   throw new Error(`exit ${code}`);
 * };
 * assert.equal(hello.main([], exit), 0);
 * ```
 */
export interface Command {
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /**
   * Runs the command with the arguments after its name; returns the exit
   * code. `exit` ends the process at once.
   */
  main(args: string[], exit: Exit): Promise<number> | number;
}
