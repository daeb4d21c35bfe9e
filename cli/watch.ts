/**
 * `run --watch`: notices when the bootstrap file changes.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";

/**
 * Calls `onChange` once `path` has changed and then stayed unchanged for
 * `quietMs` (editors write a file in several steps, or replace it by
 * renaming another over it: its directory is watched, for the file's
 * name). Stops watching when disposed.
 *
 * @example
 * ```ts
 * import { watchFile } from "./watch.ts";
 * const dir = await Deno.makeTempDir();
 * const changed = Promise.withResolvers<void>();
 * const watching = watchFile(`${dir}/a.yaml`, () => changed.resolve(), 10);
 * await new Promise((resolve) => setTimeout(resolve, 50));
 * await Deno.writeTextFile(`${dir}/a.yaml`, "actors: {}\n");
 * await changed.promise;
 * watching[Symbol.dispose]();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function watchFile(
  path: string,
  onChange: () => void,
  quietMs = 300,
): Disposable {
  const file = resolve(path);
  const name = basename(file);
  const watcher = Deno.watchFs(dirname(file), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  void (async () => {
    for await (const event of watcher) {
      if (event.kind === "access") continue;
      if (!event.paths.some((changed) => basename(changed) === name)) continue;
      clearTimeout(timer);
      timer = setTimeout(onChange, quietMs);
    }
  })().catch(() => {});
  return {
    [Symbol.dispose]() {
      clearTimeout(timer);
      try {
        watcher.close();
      } catch {
        // Closed already.
      }
    },
  };
}
