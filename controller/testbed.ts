/**
 * The testbed operator: provisions the emulated hardware (three internal bridge networks, node
 * containers with three NICs, coprocessor volumes, the switch) and carries out power actions.
 *
 * Everything created carries `mbft.testbed=<name>`; `down` removes exactly that, and `up` first
 * sweeps whatever a crashed run left behind. `up` is idempotent: when every resource exists with the
 * same configuration digest, it only starts stopped nodes and re-applies the switch.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { buildImage, buildRom, projectRoot, romDirectory } from "../images/index.js";
import {
  DockerPortResolver,
  NIC_NAMES,
  type PortDefinition,
  SwitchEmulator,
} from "../switch-emulator/index.js";
import { AgentConnectionPool, type AgentEndpoint, type AgentReply } from "./agent-client.js";
import {
  configDigest,
  gatewayAddress,
  type NodePlan,
  planNodes,
  switchChain,
  type TestbedConfig,
  validateConfig,
} from "./config.js";
import { type DockerClient, DockerodeClient } from "./docker-client.js";
import { testbedErrors } from "./errors.js";
import { ensureControllerKey, ensureNodeKeys, nodeHostKeyBlob } from "./keys.js";
import { LABEL_CONFIG, LABEL_NIC, LABEL_NODE, labels, testbedFilter } from "./labels.js";
import { type ContainerSpec, NodeSpecBuilder } from "./node-spec.js";
import { waitForAll, waitForProbe } from "./wait.js";

/** Seconds Docker waits after SIGTERM before SIGKILL on stop/restart; the agent exits at once. */
const STOP_GRACE_SECONDS = 5;

export interface ProgressEvent {
  readonly step: string;
  readonly detail?: string;
  readonly elapsedMs: number;
}

export interface TestbedOptions {
  readonly config: TestbedConfig;
  readonly dockerode?: Docker;
  /** Defaults to a DockerodeClient over `dockerode`. */
  readonly docker?: DockerClient;
  readonly stateDirectory?: string;
  readonly romDirectory?: string;
  readonly onProgress?: (event: ProgressEvent) => void;
}

interface SavedRun {
  readonly config?: TestbedConfig;
  readonly runId: string;
  readonly imageTag: string;
  readonly configDigest: string;
}

export interface UpReport {
  readonly reused: boolean;
  readonly elapsedMs: number;
  readonly runId: string;
  readonly imageTag: string;
  readonly nodes: readonly NodePlan[];
}

export interface DownReport {
  readonly elapsedMs: number;
  readonly containers: number;
  readonly networks: number;
  readonly volumes: number;
}

export interface NodeStatus {
  readonly node: string;
  readonly role: string;
  readonly container: "running" | "stopped" | "missing";
  readonly damaged: boolean;
  readonly addresses: NodePlan["addresses"];
  readonly agent: unknown;
}

export class Testbed {
  readonly config: TestbedConfig;
  readonly dockerode: Docker;
  readonly docker: DockerClient;
  readonly stateDirectory: string;
  readonly romDirectory: string;
  readonly switch: SwitchEmulator;
  readonly #plans: readonly NodePlan[];
  readonly #onProgress: (event: ProgressEvent) => void;
  #run: SavedRun | null = null;
  #privateKey: Promise<string> | null = null;
  #stopFollowing: (() => void) | null = null;
  readonly #agents = new AgentConnectionPool();

  private constructor(options: TestbedOptions, switchEmulator: SwitchEmulator, stateDirectory: string) {
    this.config = options.config;
    this.dockerode = options.dockerode ?? new Docker();
    this.docker = options.docker ?? new DockerodeClient(this.dockerode);
    this.stateDirectory = stateDirectory;
    this.romDirectory = options.romDirectory ?? romDirectory();
    this.switch = switchEmulator;
    this.#plans = planNodes(options.config);
    this.#onProgress = options.onProgress ?? (() => undefined);
  }

  static async open(options: TestbedOptions): Promise<Testbed> {
    const config = validateConfig(options.config);
    const stateDirectory = options.stateDirectory ?? join(projectRoot(), ".testbed", "testbeds", config.name);
    const dockerode = options.dockerode ?? new Docker();
    const switchEmulator = await SwitchEmulator.open({
      stateFile: join(stateDirectory, "switch.json"),
      chain: switchChain(config.name),
      resolver: new DockerPortResolver(dockerode),
    });
    const testbed = new Testbed({ ...options, config, dockerode }, switchEmulator, stateDirectory);
    testbed.#run = await readRun(stateDirectory);
    return testbed;
  }

  nodes(): readonly NodePlan[] {
    return this.#plans;
  }

  plan(node: string): NodePlan {
    const plan = this.#plans.find((candidate) => candidate.node === node);
    if (plan === undefined)
      throw testbedErrors.unknownNode(
        node,
        this.#plans.map((known) => known.node),
      );
    return plan;
  }

  containerName(node: string): string {
    return `${this.config.name}-${node}`;
  }

  networkName(nic: string): string {
    return `${this.config.name}-${nic}`;
  }

  /** Brings the testbed up (or confirms it is up). */
  async up(): Promise<UpReport> {
    const startMs = performance.now();
    await this.docker.ping();
    const rom = await buildRom({ projectRoot: projectRoot(), directory: this.romDirectory });
    this.#progress("rom", `digest ${rom.codeDigest.slice(0, 16)}`, startMs);
    const image = await buildImage({ docker: this.dockerode, kind: "node" });
    this.#progress("image", `${image.tag} ${image.built ? "built" : "cached"}`, startMs);
    const digest = configDigest(this.config, image.tag);
    if (await this.#isComplete(digest)) {
      const nodes = await this.docker.listContainers(testbedFilter(this.config.name));
      await Promise.all(
        nodes.filter((node) => !node.running).map((node) => this.docker.startContainer(node.name)),
      );
      await this.#finishUp(startMs);
      return {
        reused: true,
        elapsedMs: Math.round(performance.now() - startMs),
        runId: this.#run!.runId,
        imageTag: image.tag,
        nodes: this.#plans,
      };
    }
    await this.#sweep(startMs);
    this.#run = {
      runId: `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
      imageTag: image.tag,
      configDigest: digest,
      config: this.config,
    };
    try {
      await this.#createResources(startMs);
      await writeRun(this.stateDirectory, this.#run);
      await this.switch.definePorts(this.#portDefinitions());
      for (const plan of this.#plans.filter((candidate) => candidate.initialRole === "standby")) {
        // A standby node has NIC1 disabled (paper section 3): its client port is shut down.
        await this.switch.shutdown(`${plan.node}/nic1`);
      }
      await this.#finishUp(startMs);
    } catch (error) {
      // Like testcontainers' wait-for-container: remove what was just created, then rethrow.
      await this.down().catch(() => undefined);
      throw error;
    }
    return {
      reused: false,
      elapsedMs: Math.round(performance.now() - startMs),
      runId: this.#run.runId,
      imageTag: image.tag,
      nodes: this.#plans,
    };
  }

  /** Removes everything labelled with this testbed's name, and nothing else. */
  async down(): Promise<DownReport> {
    const startMs = performance.now();
    this.stopFollowing();
    this.#agents.close();
    await this.switch.remove();
    const filter = testbedFilter(this.config.name);
    const containers = await this.docker.listContainers(filter);
    // One container at a time, stopped before it is removed: Docker 20.10 can leave a network with
    // phantom endpoints when containers on it are force-removed concurrently (moby issues 42119,
    // 43286), and then only a daemon restart frees the network and its subnet.
    for (const container of containers) {
      await this.docker.stopContainer(container.name, 0);
      await this.docker.removeContainer(container.name);
    }
    const volumes = await this.docker.listVolumes(filter);
    await Promise.all(volumes.map((volume) => this.docker.removeVolume(volume.name)));
    const networks = await this.docker.listNetworks(filter);
    await Promise.all(networks.map((network) => this.docker.removeNetwork(network.name)));
    await rm(this.stateDirectory, { recursive: true, force: true });
    this.#run = null;
    this.#privateKey = null;
    this.#progress(
      "down",
      `${containers.length} containers, ${networks.length} networks, ${volumes.length} volumes`,
      startMs,
    );
    return {
      elapsedMs: Math.round(performance.now() - startMs),
      containers: containers.length,
      networks: networks.length,
      volumes: volumes.length,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }

  /** Re-applies the switch whenever one of this testbed's containers starts (veths change). */
  async followSwitch(onError?: (error: unknown) => void): Promise<void> {
    if (this.#stopFollowing !== null) return;
    this.#stopFollowing = await this.switch.follow(this.dockerode, {
      label: testbedFilter(this.config.name),
      onError,
    });
  }

  stopFollowing(): void {
    this.#stopFollowing?.();
    this.#stopFollowing = null;
  }

  async status(): Promise<NodeStatus[]> {
    const containers = await this.docker.listContainers(testbedFilter(this.config.name));
    return Promise.all(
      this.#plans.map(async (plan) => {
        const container = containers.find((candidate) => candidate.name === this.containerName(plan.node));
        const state = container === undefined ? "missing" : container.running ? "running" : "stopped";
        const agent =
          state === "running"
            ? await this.exec(plan.node, "status").then(
                (reply) => reply.value,
                (error: Error) => ({ error: error.message }),
              )
            : null;
        return {
          node: plan.node,
          role: plan.initialRole,
          container: state,
          damaged: this.#isDamaged(plan.node),
          addresses: plan.addresses,
          agent,
        };
      }),
    );
  }

  /** Runs one node-agent command over the management network. */
  async exec<T = unknown>(node: string, command: string, timeoutMs?: number): Promise<AgentReply<T>> {
    return this.#agents.exec<T>(await this.endpoint(node), command, timeoutMs);
  }

  async endpoint(node: string): Promise<AgentEndpoint> {
    const plan = this.plan(node);
    // One read for all concurrent probes: the promise is shared, never a half-read file.
    this.#privateKey ??= ensureControllerKey(join(this.stateDirectory, "keys"));
    const privateKey = await this.#privateKey;
    return {
      node,
      address: plan.addresses.nic3,
      port: this.config.sshPort,
      privateKey,
      hostKey: await nodeHostKeyBlob(join(this.stateDirectory, "keys"), node),
    };
  }

  /** `docker restart`: memory (tmpfs, /dev/shm, processes) is gone, the disk stays. */
  async reboot(node: string): Promise<{ elapsedMs: number }> {
    return this.#powerAction(node, () =>
      this.docker.restartContainer(this.containerName(node), STOP_GRACE_SECONDS),
    );
  }

  async powerOff(node: string): Promise<{ elapsedMs: number }> {
    const startMs = performance.now();
    this.plan(node);
    this.#agents.forget(node);
    await this.docker.stopContainer(this.containerName(node), STOP_GRACE_SECONDS);
    return { elapsedMs: Math.round(performance.now() - startMs) };
  }

  async powerOn(node: string): Promise<{ elapsedMs: number }> {
    return this.#powerAction(node, () => this.docker.startContainer(this.containerName(node)));
  }

  /** A clean hard drive: recreate from the pristine image; coprocessor, addresses, ports stay. */
  async diskSwap(node: string): Promise<{ elapsedMs: number }> {
    return this.#powerAction(node, async () => {
      const spec = await this.#nodeSpec(this.plan(node));
      await this.docker.removeContainer(spec.name);
      await this.docker.createContainer(spec);
      await this.docker.startContainer(spec.name);
    });
  }

  /** Physical damage: the node fails its probes and refuses work until `repair`. */
  async damage(node: string): Promise<void> {
    this.plan(node);
    await writeFile(join(this.#hardwareDirectory(node), "damaged"), `${new Date().toISOString()}\n`);
  }

  async repair(node: string): Promise<void> {
    this.plan(node);
    await rm(join(this.#hardwareDirectory(node), "damaged"), { force: true });
  }

  #isDamaged(node: string): boolean {
    return existsSync(join(this.#hardwareDirectory(node), "damaged"));
  }

  #hardwareDirectory(node: string): string {
    return join(this.stateDirectory, "hardware", node);
  }

  async #powerAction(node: string, action: () => Promise<void>): Promise<{ elapsedMs: number }> {
    const startMs = performance.now();
    this.plan(node);
    if (this.#run === null) throw testbedErrors.notUp(this.config.name);
    this.#agents.forget(node);
    await action();
    this.#agents.forget(node);
    await this.switch.reapply();
    await this.#waitReady([node]);
    return { elapsedMs: Math.round(performance.now() - startMs) };
  }

  async #finishUp(startMs: number): Promise<void> {
    await this.switch.reapply();
    this.#progress("switch", `${Object.keys(this.switch.state.ports).length} ports`, startMs);
    await this.#waitReady(this.#plans.map((plan) => plan.node));
    this.#progress("ready", `${this.#plans.length} nodes answer on NIC3`, startMs);
  }

  async #waitReady(nodes: readonly string[]): Promise<void> {
    const strategies = nodes.map((node) =>
      waitForProbe({
        node,
        timeoutMs: this.config.readyTimeoutMs,
        probe: async () => {
          const reply = await this.exec(node, "status", 2000);
          if (reply.exitCode !== 0) throw new Error(`status exit code ${reply.exitCode}`);
        },
      }),
    );
    await waitForAll(strategies);
  }

  async #isComplete(digest: string): Promise<boolean> {
    if (this.#run === null || this.#run.configDigest !== digest) return false;
    const filter = testbedFilter(this.config.name);
    const [containers, networks, volumes] = await Promise.all([
      this.docker.listContainers(filter),
      this.docker.listNetworks(filter),
      this.docker.listVolumes(filter),
    ]);
    const names = new Set([...containers, ...networks, ...volumes].map((resource) => resource.name));
    const expected = [
      ...NIC_NAMES.map((nic) => this.networkName(nic)),
      ...this.#plans.flatMap((plan) => [
        this.containerName(plan.node),
        `${this.containerName(plan.node)}-coproc`,
      ]),
    ];
    const sameConfig = containers.every((container) => container.labels[LABEL_CONFIG] === digest);
    return sameConfig && expected.every((name) => names.has(name)) && names.size === expected.length;
  }

  async #sweep(startMs: number): Promise<void> {
    const filter = testbedFilter(this.config.name);
    const leftovers =
      (await this.docker.listContainers(filter)).length + (await this.docker.listNetworks(filter)).length;
    if (leftovers === 0 && this.#run === null) return;
    const report = await this.down();
    this.#progress(
      "sweep",
      `removed ${report.containers} containers, ${report.networks} networks of an earlier run`,
      startMs,
    );
  }

  async #createResources(startMs: number): Promise<void> {
    const run = this.#run!;
    await ensureControllerKey(join(this.stateDirectory, "keys"));
    await Promise.all(
      NIC_NAMES.map((nic) =>
        this.docker.createNetwork({
          name: this.networkName(nic),
          subnet: this.config.subnets[nic],
          gateway: gatewayAddress(this.config.subnets[nic]),
          labels: labels({
            testbed: this.config.name,
            run: run.runId,
            role: "network",
            extra: { [LABEL_NIC]: nic },
          }),
        }),
      ),
    );
    this.#progress(
      "networks",
      NIC_NAMES.map((nic) => `${nic} ${this.config.subnets[nic]}`).join(", "),
      startMs,
    );
    await Promise.all(
      this.#plans.map(async (plan) => {
        const volumeLabels = labels({
          testbed: this.config.name,
          run: run.runId,
          role: "coprocessor",
          extra: { [LABEL_NODE]: plan.node },
        });
        await this.docker.createVolume(`${this.containerName(plan.node)}-coproc`, volumeLabels);
        const spec = await this.#nodeSpec(plan);
        await this.docker.createContainer(spec);
        await this.docker.startContainer(spec.name);
      }),
    );
    this.#progress("nodes", `${this.#plans.length} containers started`, startMs);
  }

  async #nodeSpec(plan: NodePlan): Promise<ContainerSpec> {
    const run = this.#run;
    if (run === null) throw testbedErrors.notUp(this.config.name);
    const keys = await ensureNodeKeys(join(this.stateDirectory, "keys"), plan.node);
    const hardware = this.#hardwareDirectory(plan.node);
    await mkdir(hardware, { recursive: true });
    const name = this.containerName(plan.node);
    return new NodeSpecBuilder(name)
      .withImage(run.imageTag)
      .withNics(NIC_NAMES.map((nic) => ({ network: this.networkName(nic), ipv4: plan.addresses[nic] })))
      .withCodeMount(this.romDirectory)
      .withCoprocessorVolume(`${name}-coproc`)
      .withKeysMount(keys)
      .withHardwareMount(hardware)
      .withMemoryTmpfs("/run/mem", this.config.resources.memTmpfsBytes)
      .withResources(this.config.resources)
      .withEnv({
        MBFT_NODE_ID: plan.node,
        MBFT_NIC1_ADDR: plan.addresses.nic1,
        MBFT_NIC2_ADDR: plan.addresses.nic2,
        MBFT_NIC3_ADDR: plan.addresses.nic3,
        MBFT_SSH_PORT: String(this.config.sshPort),
      })
      .withLabels(
        labels({
          testbed: this.config.name,
          run: run.runId,
          role: "node",
          extra: { [LABEL_NODE]: plan.node, [LABEL_CONFIG]: run.configDigest },
        }),
      )
      .build();
  }

  #portDefinitions(): PortDefinition[] {
    return this.#plans.flatMap((plan) =>
      NIC_NAMES.map((nic) => ({
        node: plan.node,
        nic,
        container: this.containerName(plan.node),
        network: this.networkName(nic),
      })),
    );
  }

  #progress(step: string, detail: string, startMs: number): void {
    this.#onProgress({ step, detail, elapsedMs: Math.round(performance.now() - startMs) });
  }
}

/** The configuration a testbed was brought up with (for commands other than `up`). */
export async function savedConfig(name: string, stateDirectory?: string): Promise<TestbedConfig | null> {
  const run = await readRun(stateDirectory ?? join(projectRoot(), ".testbed", "testbeds", name));
  return run?.config ?? null;
}

async function readRun(stateDirectory: string): Promise<SavedRun | null> {
  const text = await readFile(join(stateDirectory, "testbed.json"), "utf8").catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as SavedRun;
  } catch {
    return null;
  }
}

async function writeRun(stateDirectory: string, run: SavedRun): Promise<void> {
  await mkdir(stateDirectory, { recursive: true });
  await writeFile(join(stateDirectory, "testbed.json"), `${JSON.stringify(run, null, 2)}\n`);
}
