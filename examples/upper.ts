// A user actor type for bootstrap files: a module whose default export (or
// export "spec") is an actor spec. examples/upper.yaml loads it with
// "module: ./upper.ts". It imports Compysition by its package name, so that
// it also works with the standalone executable.
import {
  Actor,
  type ActorSettings,
  type ActorSpec,
  type Context,
  type Event,
} from "@compysition/compysition";
import { z } from "zod";

const UpperOptions = z.strictObject({
  suffix: z.string().default("").describe("Appended to the upper-cased data."),
});
type UpperOptions = z.infer<typeof UpperOptions>;

class Upper extends Actor {
  readonly kind = "transform";
  #suffix: string;

  constructor(name: string, options: UpperOptions, settings: ActorSettings) {
    super(name, settings);
    this.#suffix = options.suffix;
  }

  override consume(event: Event, context: Context): Promise<void> | undefined {
    event.data = String(event.data).toUpperCase() + this.#suffix;
    return context.send(event);
  }
}

const spec: ActorSpec<UpperOptions> = {
  type: "upper",
  kind: "transform",
  summary: "Upper-cases the data of each event.",
  options: UpperOptions,
  create: (name, options, settings) => new Upper(name, options, settings),
};
export default spec;
