/**
 * The PID file of `compysition run --pid-file PATH`: it names the process
 * running a pipeline, refuses a second start while that process lives, and is
 * removed when the process exits.
 *
 * @module
 */

import { resolve } from "node:path";
import process from "node:process";
import { errorMessage } from "../core/actor.ts";

/** Why a PID file could not be taken; the message says what to do. */
export class PidFileError extends Error {
  override name = "PidFileError";
}

/**
 * Whether process `pid` is running: `true`, `false`, or `undefined` when this
 * cannot be told. On Linux it reads `/proc/PID/stat` (a zombie counts as not
 * running); elsewhere it sends signal 0 (which needs `--allow-run`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isProcessRunning } from "./pid_file.ts";
 * assert.equal(isProcessRunning(Deno.pid), true);
 * ```
 */
export function isProcessRunning(pid: number): boolean | undefined {
  if (Deno.build.os === "linux") {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      // "PID (COMMAND) STATE ...": the command may hold spaces and ")".
      const state = stat.charAt(stat.lastIndexOf(")") + 2);
      return state !== "Z" && state !== "X";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      // No /proc mounted, or no permission to read it: try a signal below.
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true; // Running, as another user.
    return undefined;
  }
}

/**
 * A PID file held by this process: made by {@link PidFile.acquire}, removed
 * by {@link PidFile.release} — also when the process ends by `Deno.exit`, and,
 * with `using`, when the scope ends by a return or a throw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PidFile } from "./pid_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   using pidFile = PidFile.acquire(`${dir}/run.pid`);
 *   assert.equal(Deno.readTextFileSync(pidFile.path), `${Deno.pid}\n`);
 * }
 * // Removed at the end of the block.
 * assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
 * await Deno.remove(dir);
 * ```
 */
export class PidFile implements Disposable {
  /** The absolute path of the file. */
  readonly path: string;
  /** The process id a stale file named before it was replaced, if any. */
  readonly replaced: number | undefined;
  #released = false;
  #onUnload = () => this.release();

  private constructor(path: string, replaced: number | undefined) {
    this.path = path;
    this.replaced = replaced;
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /**
   * Writes this process's id to `path`. Throws a {@link PidFileError} when
   * the file names a process that is running (or whose state cannot be
   * told), or cannot be written; replaces a file naming a process that is no
   * longer running.
   */
  static acquire(path: string): PidFile {
    const absolute = resolve(path);
    const content = `${Deno.pid}\n`;
    let replaced: number | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        Deno.writeTextFileSync(absolute, content, { createNew: true });
        return new PidFile(absolute, replaced);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          throw new PidFileError(
            `Cannot write the PID file "${path}": ${errorMessage(error)}`,
          );
        }
      }
      let text: string;
      try {
        text = Deno.readTextFileSync(absolute);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue; // Just removed.
        throw new PidFileError(
          `Cannot read the PID file "${path}": ${errorMessage(error)}`,
        );
      }
      const pid = /^\s*(\d+)\s*$/.test(text) ? Number(text) : undefined;
      if (pid !== undefined && pid !== Deno.pid && pid > 0) {
        const running = isProcessRunning(pid);
        if (running === true) {
          throw new PidFileError(
            `Cannot start: the PID file "${path}" names process ${pid}, which is running; stop it first, or give another --pid-file (remove the file only if that process is not a Compysition pipeline)`,
          );
        }
        if (running === undefined) {
          throw new PidFileError(
            `Cannot start: the PID file "${path}" names process ${pid}, and whether it is running cannot be told here; remove the file if that process has ended`,
          );
        }
        replaced = pid;
      }
      // Stale (or not a process id): remove it and take it over. Should
      // another process take it in between, the next attempt sees its id.
      try {
        Deno.removeSync(absolute);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw new PidFileError(
            `Cannot replace the stale PID file "${path}": ${
              errorMessage(error)
            }`,
          );
        }
      }
    }
    throw new PidFileError(
      `Cannot take the PID file "${path}": other processes keep replacing it`,
    );
  }

  /**
   * Removes the file if it still holds this process's id (another process
   * may have replaced it). Idempotent.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      if (Deno.readTextFileSync(this.path).trim() === String(Deno.pid)) {
        Deno.removeSync(this.path);
      }
    } catch {
      // Already gone, or unreadable: nothing of ours to remove.
    }
  }

  /** Same as {@link PidFile.release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
