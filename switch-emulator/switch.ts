/**
 * The managed switch as a service. Its configuration is state: saved to a JSON file after every
 * successful change and re-applied whenever a node's container starts (Docker events), because
 * veth names change on every restart. Every change is all-or-nothing: the new chain content goes
 * in with one iptables-restore transaction, and if shaping then fails, the previous configuration
 * is applied again before the error is reported.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type Docker from "dockerode";
import { switchErrors } from "./errors.js";
import type { PortResolver } from "./port-map.js";
import {
  accountingComment,
  type Bindings,
  type Counter,
  hostChainOf,
  parseCounters,
  parseQdiscs,
  planShaping,
  planTeardownShaping,
  renderChain,
  type TcStep,
} from "./rules.js";
import { type CommandRunner, hostRunner } from "./runner.js";
import {
  addPartition,
  definePorts,
  emptyState,
  healPartition,
  noShutdownPort,
  type PortDefinition,
  parseRate,
  type SwitchState,
  setRate,
  shutdownPort,
  validateState,
} from "./state.js";

/** The chain every switch chain is jumped from: Docker leaves DOCKER-USER to its users. */
export const HOOK_CHAIN = "DOCKER-USER";
/** Traffic from a node to the host itself passes INPUT, not FORWARD (see hostChainOf). */
export const HOST_HOOK_CHAIN = "INPUT";
const BRIDGE_FILTER_SYSCTL = "/proc/sys/net/bridge/bridge-nf-call-iptables";
/** Restarts often come in bursts (a whole testbed); one re-apply covers them. */
const REAPPLY_DEBOUNCE_MS = 30;

export interface PortStatus {
  readonly port: string;
  readonly node: string;
  readonly nic: string;
  /** Catalyst words: connected, disabled (shutdown), notconnect (node down). */
  readonly status: "connected" | "disabled" | "notconnect";
  readonly veth: string | null;
  readonly rateMbit: number | null;
  readonly partitions: readonly string[];
  readonly input: Counter;
  readonly output: Counter;
}

export interface SwitchOptions {
  readonly stateFile: string;
  readonly chain: string;
  readonly resolver: PortResolver;
  readonly runner?: CommandRunner;
}

export class SwitchEmulator {
  readonly #stateFile: string;
  readonly #resolver: PortResolver;
  readonly #runner: CommandRunner;
  #state: SwitchState;
  #bindings: Bindings = {};
  #queue: Promise<unknown> = Promise.resolve();
  #bridgeFilterChecked = false;

  private constructor(options: SwitchOptions, state: SwitchState) {
    this.#stateFile = options.stateFile;
    this.#resolver = options.resolver;
    this.#runner = options.runner ?? hostRunner;
    this.#state = state;
  }

  /** Loads the saved configuration, or starts empty. Applies nothing yet. */
  static async open(options: SwitchOptions): Promise<SwitchEmulator> {
    let state = emptyState(options.chain);
    const text = await readFile(options.stateFile, "utf8").catch(() => null);
    if (text !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw switchErrors.stateCorrupt(options.stateFile, (error as Error).message);
      }
      const problem = validateState(parsed);
      if (problem !== null) throw switchErrors.stateCorrupt(options.stateFile, problem);
      state = parsed as SwitchState;
      if (state.chain !== options.chain)
        throw switchErrors.stateCorrupt(options.stateFile, `chain ${state.chain} != ${options.chain}`);
    }
    return new SwitchEmulator(options, state);
  }

  get state(): SwitchState {
    return this.#state;
  }

  definePorts(definitions: readonly PortDefinition[]): Promise<void> {
    return this.#change((state) => definePorts(state, definitions));
  }

  shutdown(port: string): Promise<void> {
    return this.#change((state) => shutdownPort(state, port));
  }

  noShutdown(port: string): Promise<void> {
    return this.#change((state) => noShutdownPort(state, port));
  }

  /** `rate` is text ("100", "100mbit", "none") or Mbit/s. */
  rateLimit(port: string, rate: string | number | null): Promise<void> {
    return this.#change((state) => setRate(state, port, typeof rate === "string" ? parseRate(rate) : rate));
  }

  partition(options: { name: string; groupA: readonly string[]; groupB: readonly string[] }): Promise<void> {
    return this.#change((state) => addPartition(state, options));
  }

  heal(name?: string): Promise<void> {
    return this.#change((state) => healPartition(state, name));
  }

  /** Re-maps every port to its current veth and applies the saved configuration again. */
  reapply(): Promise<void> {
    return this.#serialize(() => this.#apply(this.#state, this.#state));
  }

  async show(): Promise<PortStatus[]> {
    return this.#serialize(async () => {
      const bindings = await this.#resolver.resolve(Object.values(this.#state.ports));
      const counters = await this.#counters();
      return Object.entries(this.#state.ports)
        .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
        .map(([key, port]) => {
          const veth = bindings[key] ?? null;
          const status = port.shutdown ? "disabled" : veth === null ? "notconnect" : "connected";
          const partitions = Object.entries(this.#state.partitions)
            .filter(([, partition]) => partition.groups.some((group) => group.includes(key)))
            .map(([name]) => name);
          const zero = { packets: 0, bytes: 0 };
          return {
            port: key,
            node: port.node,
            nic: port.nic,
            status,
            veth,
            rateMbit: port.rateMbit,
            partitions,
            input: counters.get(accountingComment("in", key)) ?? zero,
            output: counters.get(accountingComment("out", key)) ?? zero,
          } satisfies PortStatus;
        });
    });
  }

  /**
   * Follows Docker events and re-applies when one of our containers starts. Returns a function
   * that stops following. Re-applies are debounced so a burst of restarts costs one apply.
   */
  async follow(
    docker: Docker,
    options: { label: string; onError?: (error: unknown) => void },
  ): Promise<() => void> {
    const stream = (await docker.getEvents({
      filters: { type: ["container"], event: ["start"], label: [options.label] },
    })) as NodeJS.ReadableStream & { destroy?: () => void };
    let timer: NodeJS.Timeout | null = null;
    stream.on("data", () => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        this.reapply().catch((error: unknown) => options.onError?.(error));
      }, REAPPLY_DEBOUNCE_MS);
    });
    stream.on("error", (error) => options.onError?.(error));
    return () => {
      if (timer !== null) clearTimeout(timer);
      stream.removeAllListeners("data");
      stream.destroy?.();
    };
  }

  /** Removes the chain, its jump, shaping and the state file: everything this switch created. */
  async remove(): Promise<void> {
    return this.#serialize(async () => {
      const bindings = await this.#resolver
        .resolve(Object.values(this.#state.ports))
        .catch(() => this.#bindings);
      await this.#runSteps(planTeardownShaping(this.#state, bindings));
      await removeChain(this.#runner, this.#state.chain);
      await rm(this.#stateFile, { force: true });
      this.#state = emptyState(this.#state.chain);
      this.#bindings = {};
    });
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #change(transition: (state: SwitchState) => SwitchState): Promise<void> {
    return this.#serialize(async () => {
      const next = transition(this.#state);
      await this.#apply(next, this.#state);
      this.#state = next;
      await this.#save();
    });
  }

  async #save(): Promise<void> {
    await mkdir(dirname(this.#stateFile), { recursive: true });
    const temporary = `${this.#stateFile}.tmp`;
    await writeFile(temporary, `${JSON.stringify(this.#state, null, 2)}\n`);
    await rename(temporary, this.#stateFile);
  }

  async #apply(next: SwitchState, previous: SwitchState): Promise<void> {
    await this.#checkBridgeFilter();
    const bindings = await this.#resolver.resolve(Object.values(next.ports));
    await this.#loadChain(next, bindings);
    try {
      const qdiscs = parseQdiscs((await this.#runner.run(["tc", "qdisc", "show"])).stdout);
      await this.#runSteps(planShaping(next, bindings, qdiscs));
    } catch (error) {
      if (next !== previous) await this.#apply(previous, previous).catch(() => undefined);
      throw error;
    }
    this.#bindings = bindings;
  }

  async #counters(): Promise<Map<string, Counter>> {
    const save = await this.#runner.run(["iptables-save", "-c", "-t", "filter"]);
    return save.code === 0 ? parseCounters(save.stdout, this.#state.chain) : new Map();
  }

  async #loadChain(state: SwitchState, bindings: Bindings): Promise<void> {
    const text = renderChain(state, bindings, await this.#counters());
    const restore = await this.#runner.run(["iptables-restore", "--noflush", "--counters"], text);
    if (restore.code !== 0) throw switchErrors.applyFailed("iptables-restore", restore.stderr.trim());
    // The jumps are added after the chains are complete, so they never point at a partial chain.
    await this.#ensureJump(HOOK_CHAIN, state.chain);
    await this.#ensureJump(HOST_HOOK_CHAIN, hostChainOf(state.chain));
  }

  async #ensureJump(from: string, to: string): Promise<void> {
    const check = await this.#runner.run(["iptables", "-C", from, "-j", to]);
    if (check.code === 0) return;
    const insert = await this.#runner.run(["iptables", "-I", from, "1", "-j", to]);
    if (insert.code !== 0) throw switchErrors.applyFailed(`jump from ${from}`, insert.stderr.trim());
  }

  async #runSteps(steps: readonly TcStep[]): Promise<void> {
    for (const step of steps) {
      const result = await this.#runner.run(step.argv);
      if (result.code !== 0 && !step.mayFail)
        throw switchErrors.applyFailed(step.argv.join(" "), result.stderr.trim());
    }
  }

  async #checkBridgeFilter(): Promise<void> {
    if (this.#bridgeFilterChecked) return;
    const value = await readFile(BRIDGE_FILTER_SYSCTL, "utf8").catch(() => null);
    if (value === null)
      throw switchErrors.bridgeFilterMissing(`${BRIDGE_FILTER_SYSCTL} is absent (br_netfilter not loaded)`);
    if (value.trim() !== "1") {
      // Docker sets it when it creates a bridge; set it ourselves if not.
      await writeFile(BRIDGE_FILTER_SYSCTL, "1\n").catch((error: unknown) => {
        throw switchErrors.bridgeFilterMissing(
          `cannot set ${BRIDGE_FILTER_SYSCTL}: ${(error as Error).message}`,
        );
      });
    }
    this.#bridgeFilterChecked = true;
  }
}

/** Removes a switch's chains and every jump to them; a chain that does not exist is fine. */
export async function removeChain(runner: CommandRunner, chain: string): Promise<void> {
  for (const [hook, target] of [
    [HOOK_CHAIN, chain],
    [HOST_HOOK_CHAIN, hostChainOf(chain)],
  ] as const) {
    for (let attempt = 0; attempt < 16; attempt += 1) {
      const result = await runner.run(["iptables", "-D", hook, "-j", target]);
      if (result.code !== 0) break;
    }
    await runner.run(["iptables", "-F", target]);
    const deleted = await runner.run(["iptables", "-X", target]);
    const gone = deleted.code === 0 || /No chain|does not exist|not found/i.test(deleted.stderr);
    if (!gone) throw switchErrors.applyFailed(`iptables -X ${target}`, deleted.stderr.trim());
  }
}
