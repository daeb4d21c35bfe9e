/**
 * Helpers for tests that run the `compysition` command as a real subprocess.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root (the subprocess runs there, so deno.json applies). */
export const ROOT: string = fileURLToPath(new URL("../", import.meta.url));

/** The command's entry point. */
export const CLI: string = join(ROOT, "cli.ts");

/** What a finished run of the command printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Where a program runs and what it gets besides its arguments. */
export interface ProgramOptions {
  /** The working directory (default: the repository root). */
  cwd?: string;
  /** Environment variables, added to `NO_COLOR=1`. */
  env?: Record<string, string>;
}

function command(
  program: string,
  args: readonly string[],
  options: ProgramOptions,
): Deno.Command {
  return new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** The arguments that run the command with `args` through `deno run`. */
function cliArgs(args: readonly string[]): string[] {
  return ["run", "--allow-all", CLI, ...args];
}

/** Runs `program` to its end, with stdin empty and the output captured. */
export async function runProgram(
  program: string,
  args: readonly string[],
  options: ProgramOptions = {},
): Promise<CliResult> {
  const output = await command(program, args, options).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs the command to its end. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runProgram(Deno.execPath(), cliArgs(args), { env });
}

/**
 * The text of a stream as it arrives, with a way to wait until it contains
 * something.
 */
export class StreamText {
  /** Everything read so far. */
  text = "";
  /** Resolves with the whole text once the stream has ended. */
  readonly done: Promise<string>;
  #waiters: { test: (text: string) => boolean; resolve: () => void }[] = [];
  #ended = false;

  /** Starts reading `stream`. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  /**
   * Resolves once the text passes `test`; rejects when the stream ends
   * first.
   */
  until(test: (text: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    if (this.#ended) {
      return Promise.reject(
        new Error(`The stream ended without the text expected:\n${this.text}`),
      );
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ test, resolve });
    return promise;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<string> {
    const textStream = stream.pipeThrough(new TextDecoderStream());
    for await (const chunk of textStream) {
      this.text += chunk;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!waiter.test(this.text)) return true;
        waiter.resolve();
        return false;
      });
    }
    this.#ended = true;
    for (const waiter of this.#waiters) {
      waiter.resolve();
    }
    this.#waiters = [];
    return this.text;
  }
}

/** A running program whose output can be awaited piece by piece. */
export interface RunningCli {
  child: Deno.ChildProcess;
  stdout: StreamText;
  stderr: StreamText;
  /** Waits for the end; returns the exit code and the whole output. */
  finish(): Promise<CliResult>;
}

/** Starts `program` without waiting for its end, with stdin empty. */
export function spawnProgram(
  program: string,
  args: readonly string[],
  options: ProgramOptions = {},
): RunningCli {
  const child = command(program, args, options).spawn();
  const stdout = new StreamText(child.stdout);
  const stderr = new StreamText(child.stderr);
  return {
    child,
    stdout,
    stderr,
    async finish() {
      const [status, out, err] = await Promise.all([
        child.status,
        stdout.done,
        stderr.done,
      ]);
      return { code: status.code, stdout: out, stderr: err };
    },
  };
}

/** Starts the command without waiting for its end. */
export function spawnCli(
  args: readonly string[],
  env: Record<string, string> = {},
): RunningCli {
  return spawnProgram(Deno.execPath(), cliArgs(args), { env });
}

/** What {@link writePipeline} writes: a generator feeding one actor. */
export interface Pipeline {
  /** The generator's options, a YAML flow mapping. */
  input: string;
  /** The name of the actor it feeds. */
  actor: string;
  /** That actor, a YAML flow mapping. */
  spec: string;
  /** The actor's queue the generator feeds (default "inbox"). */
  queue?: string;
}

/**
 * Writes the bootstrap file `name` in `dir`: a generator `input` feeding one
 * actor, one line each, then the connection on line 5. Returns its path.
 */
export async function writePipeline(
  dir: string,
  name: string,
  { input, actor, spec, queue = "inbox" }: Pipeline,
): Promise<string> {
  const file = join(dir, name);
  await Deno.writeTextFile(
    file,
    [
      "actors:",
      `  input: { type: generator, options: ${input} }`,
      `  ${actor}: ${spec}`,
      "connections:",
      `  - input.outbox -> ${actor}.${queue}`,
      "",
    ].join("\n"),
  );
  return file;
}

/** The `file:` URL of a file of the repository, for modules written by tests. */
export function repoUrl(path: string): string {
  return fileUrl(join(ROOT, path));
}

/** The `file:` URL of an absolute path. */
export function fileUrl(path: string): string {
  return pathToFileURL(path).href;
}

/**
 * The source of a module whose default export is the `ndjson_file` output
 * spec, for tests that load it with `module:`: it appends each event's data as
 * one JSON line to option `path` (opened in `setup`, each write checked
 * complete) and prints `written N` on stdout once it has written `announce`
 * lines.
 */
export function ndjsonFileModule(): string {
  return `
import { z } from "zod";
import { Actor } from "${repoUrl("core/actor.ts")}";

const encoder = new TextEncoder();

const NdjsonOptions = z.strictObject({
  path: z.string().describe("The file to append to."),
  announce: z.number().int().min(1).default(100).describe("Print after this many lines."),
});

class NdjsonFile extends Actor {
  readonly kind = "output";
  #path;
  #announce;
  #file;
  #written = 0;
  constructor(name, options, settings) {
    super(name, settings, { outbound: ["error"] });
    this.#path = options.path;
    this.#announce = options.announce;
  }
  async setup() {
    this.#file = await Deno.open(this.#path, { append: true, create: true });
  }
  consume(event) {
    const bytes = encoder.encode(JSON.stringify(event.data) + "\\n");
    let done = 0;
    while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
    if (++this.#written === this.#announce) {
      Deno.stdout.writeSync(encoder.encode("written " + this.#announce + "\\n"));
    }
  }
  teardown() {
    this.#file?.close();
  }
}

export default {
  type: "ndjson_file",
  kind: "output",
  summary: "Appends each event's data as a line of JSON to a file.",
  options: NdjsonOptions,
  create: (name, options, settings) => new NdjsonFile(name, options, settings),
};
`;
}

/**
 * The source of a module exporting, as `spec`, the `stuck` output: it prints
 * `stuck` on stdout at its first event, then never finishes handling it.
 */
export function stuckModule(): string {
  return `
import { z } from "zod";
import { Actor } from "${repoUrl("core/actor.ts")}";

class Stuck extends Actor {
  readonly kind = "output";
  #announced = false;
  constructor(name, settings) {
    super(name, settings, { outbound: ["error"] });
  }
  consume() {
    if (!this.#announced) {
      this.#announced = true;
      Deno.stdout.writeSync(new TextEncoder().encode("stuck\\n"));
    }
    return new Promise(() => {});
  }
}

export const spec = {
  type: "stuck",
  kind: "output",
  summary: "Never finishes handling its first event.",
  options: z.strictObject({}),
  create: (name, _options, settings) => new Stuck(name, settings),
};
`;
}
