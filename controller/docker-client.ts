/**
 * The few Docker operations the controller uses, behind an interface (as testcontainers puts
 * dockerode behind its container-runtime clients) so provisioning runs against a fake in unit tests.
 * Engine API 1.41 (Docker 20.10) attaches one network at create time; the other NICs are
 * connected before the container starts.
 */
import type Docker from "dockerode";
import { testbedErrors } from "./errors.js";
import type { ContainerSpec } from "./node-spec.js";

export interface ResourceSummary {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerSummary extends ResourceSummary {
  readonly running: boolean;
}

export interface NetworkSpec {
  readonly name: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface DockerClient {
  ping(): Promise<void>;
  listContainers(labelFilter: string): Promise<ContainerSummary[]>;
  listNetworks(labelFilter: string): Promise<ResourceSummary[]>;
  listVolumes(labelFilter: string): Promise<ResourceSummary[]>;
  createNetwork(spec: NetworkSpec): Promise<void>;
  removeNetwork(name: string): Promise<void>;
  createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void>;
  removeVolume(name: string): Promise<void>;
  /** Creates the container with all its NICs attached, not started. */
  createContainer(spec: ContainerSpec): Promise<void>;
  startContainer(name: string): Promise<void>;
  stopContainer(name: string, graceSeconds: number): Promise<void>;
  restartContainer(name: string, graceSeconds: number): Promise<void>;
  removeContainer(name: string): Promise<void>;
}

const NETWORK_REMOVE_ATTEMPTS_MAX = 50;
const NETWORK_REMOVE_RETRY_MS = 100;

function isStatus(error: unknown, status: number): boolean {
  return (error as { statusCode?: number }).statusCode === status;
}

async function guard<T>(
  what: string,
  work: () => Promise<T>,
  tolerate: readonly number[] = [],
): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    if (tolerate.some((status) => isStatus(error, status))) return undefined;
    throw testbedErrors.dockerFailed(what, (error as Error).message, error);
  }
}

function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  const first = spec.nics[0]!;
  return {
    name: spec.name,
    Image: spec.image,
    Hostname: spec.hostname,
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    Labels: { ...spec.labels },
    HostConfig: {
      Binds: spec.binds.map((bind) => `${bind.source}:${bind.target}:${bind.readOnly ? "ro" : "rw"}`),
      Mounts: spec.volumes.map((volume) => ({
        Type: "volume" as const,
        Source: volume.name,
        Target: volume.target,
      })),
      Tmpfs: { ...spec.tmpfs },
      Memory: spec.resources.memoryBytes,
      MemorySwap: spec.resources.memoryBytes,
      NanoCpus: spec.resources.nanoCpus,
      PidsLimit: spec.resources.pidsLimit,
      NetworkMode: first.network,
      RestartPolicy: { Name: "no" },
      ShmSize: spec.resources.memTmpfsBytes,
    },
    NetworkingConfig: {
      EndpointsConfig: { [first.network]: { IPAMConfig: { IPv4Address: first.ipv4 } } },
    },
  };
}

export class DockerodeClient implements DockerClient {
  readonly docker: Docker;

  constructor(docker: Docker) {
    this.docker = docker;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw testbedErrors.dockerUnreachable((error as Error).message, error);
    }
  }

  async listContainers(labelFilter: string): Promise<ContainerSummary[]> {
    const list = await guard("list containers", () =>
      this.docker.listContainers({ all: true, filters: { label: [labelFilter] } }),
    );
    return (list ?? []).map((container) => ({
      id: container.Id,
      name: (container.Names[0] ?? "").replace(/^\//, ""),
      labels: container.Labels,
      running: container.State === "running",
    }));
  }

  async listNetworks(labelFilter: string): Promise<ResourceSummary[]> {
    const list = await guard("list networks", () =>
      this.docker.listNetworks({ filters: { label: [labelFilter] } }),
    );
    return (list ?? []).map((network) => ({
      id: network.Id,
      name: network.Name,
      labels: network.Labels ?? {},
    }));
  }

  async listVolumes(labelFilter: string): Promise<ResourceSummary[]> {
    const list = await guard("list volumes", () =>
      this.docker.listVolumes({ filters: { label: [labelFilter] } }),
    );
    return (list?.Volumes ?? []).map((volume) => ({
      id: volume.Name,
      name: volume.Name,
      labels: volume.Labels ?? {},
    }));
  }

  async createNetwork(spec: NetworkSpec): Promise<void> {
    await guard(`create network ${spec.name}`, () =>
      this.docker.createNetwork({
        Name: spec.name,
        Driver: "bridge",
        Internal: true,
        CheckDuplicate: true,
        IPAM: { Driver: "default", Config: [{ Subnet: spec.subnet, Gateway: spec.gateway }] },
        Labels: { ...spec.labels },
      }),
    );
  }

  async removeNetwork(name: string): Promise<void> {
    // Engine 20.10 releases a removed container's endpoints asynchronously: retry briefly on 403.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.docker.getNetwork(name).remove();
        return;
      } catch (error) {
        if (isStatus(error, 404)) return;
        if (!isStatus(error, 403)) {
          throw testbedErrors.dockerFailed(`remove network ${name}`, (error as Error).message, error);
        }
        if (attempt >= NETWORK_REMOVE_ATTEMPTS_MAX) throw testbedErrors.networkStuck(name, error);
        await new Promise((resolve) => setTimeout(resolve, NETWORK_REMOVE_RETRY_MS));
      }
    }
  }

  async createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    await guard(`create volume ${name}`, () =>
      this.docker.createVolume({ Name: name, Labels: { ...labels } }),
    );
  }

  async removeVolume(name: string): Promise<void> {
    await guard(`remove volume ${name}`, () => this.docker.getVolume(name).remove({ force: true }), [404]);
  }

  async createContainer(spec: ContainerSpec): Promise<void> {
    await guard(`create container ${spec.name}`, () => this.docker.createContainer(createOptions(spec)));
    for (const nic of spec.nics.slice(1)) {
      await guard(`connect ${spec.name} to ${nic.network}`, () =>
        this.docker
          .getNetwork(nic.network)
          .connect({ Container: spec.name, EndpointConfig: { IPAMConfig: { IPv4Address: nic.ipv4 } } }),
      );
    }
  }

  async startContainer(name: string): Promise<void> {
    await guard(`start ${name}`, () => this.docker.getContainer(name).start(), [304]);
  }

  async stopContainer(name: string, graceSeconds: number): Promise<void> {
    await guard(`stop ${name}`, () => this.docker.getContainer(name).stop({ t: graceSeconds }), [304, 404]);
  }

  async restartContainer(name: string, graceSeconds: number): Promise<void> {
    await guard(`restart ${name}`, () => this.docker.getContainer(name).restart({ t: graceSeconds }));
  }

  async removeContainer(name: string): Promise<void> {
    await guard(
      `remove container ${name}`,
      () => this.docker.getContainer(name).remove({ force: true, v: false }),
      [404],
    );
  }
}
