/**
 * Testbed configuration and its address plan, validated once (like raft's Config.validate()).
 * Each /24 is laid out so later issues fit without renumbering: nodes from .10, CM replicas from
 * .100, clients from .120; .1 is the host's bridge address (the controller reaches NIC3 from it).
 */
import { createHash } from "node:crypto";
import { FAULTS_MAX } from "../bft/limits.js";
import type { NicName } from "../switch-emulator/index.js";
import { testbedErrors } from "./errors.js";

export const NODE_HOST_BASE = 10;
export const CM_HOST_BASE = 100;
export const CLIENT_HOST_BASE = 120;
export const STANDBY_MAX = 16;
/** CM replicas: 3 for f=1, 5 for f=2 (the CM issue); addresses are reserved for up to 7. */
export const CM_REPLICAS_MAX = 7;

export interface NodeResources {
  readonly memoryBytes: number;
  readonly nanoCpus: number;
  readonly pidsLimit: number;
  readonly memTmpfsBytes: number;
}

export interface TestbedConfig {
  /** Names every resource; lowercase, at most 16 characters. */
  readonly name: string;
  readonly f: number;
  readonly standby: number;
  /** One /24 per NIC, written a.b.c.0/24. */
  readonly subnets: Readonly<Record<NicName, string>>;
  readonly resources: NodeResources;
  readonly sshPort: number;
  /** Milliseconds a node may take to answer its console after (re)start. */
  readonly readyTimeoutMs: number;
}

export const DEFAULT_RESOURCES: NodeResources = {
  memoryBytes: 512 * 1024 * 1024,
  nanoCpus: 1_000_000_000,
  pidsLimit: 512,
  memTmpfsBytes: 64 * 1024 * 1024,
};

export function defaultConfig(overrides: Partial<TestbedConfig> = {}): TestbedConfig {
  return {
    name: "mbft",
    f: 1,
    standby: 2,
    subnets: { nic1: "10.77.1.0/24", nic2: "10.77.2.0/24", nic3: "10.77.3.0/24" },
    resources: DEFAULT_RESOURCES,
    sshPort: 22,
    readyTimeoutMs: 15_000,
    ...overrides,
  };
}

const SUBNET = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/;

function checkSubnet(nic: string, subnet: string): void {
  const match = SUBNET.exec(subnet);
  if (match === null || match.slice(1).some((part) => Number(part) > 255)) {
    throw testbedErrors.badConfig(`subnets.${nic}`, `"${subnet}" is not an a.b.c.0/24 subnet`);
  }
}

/** Returns the config unchanged, or throws a TestbedError naming the first bad value. */
export function validateConfig(config: TestbedConfig): TestbedConfig {
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(config.name))
    throw testbedErrors.badConfig("name", `"${config.name}" must match [a-z][a-z0-9-]{0,15}`);
  if (!Number.isInteger(config.f) || config.f < 1 || config.f > FAULTS_MAX)
    throw testbedErrors.badConfig("f", `must be 1..${FAULTS_MAX}`);
  if (!Number.isInteger(config.standby) || config.standby < 0 || config.standby > STANDBY_MAX) {
    throw testbedErrors.badConfig("standby", `must be 0..${STANDBY_MAX}`);
  }
  for (const [nic, subnet] of Object.entries(config.subnets)) checkSubnet(nic, subnet);
  if (new Set(Object.values(config.subnets)).size !== 3)
    throw testbedErrors.badConfig("subnets", "must be three distinct subnets");
  if (config.resources.memoryBytes < 64 * 1024 * 1024)
    throw testbedErrors.badConfig("resources.memoryBytes", "must be at least 64 MiB");
  if (config.resources.nanoCpus < 100_000_000)
    throw testbedErrors.badConfig("resources.nanoCpus", "must be at least 0.1 CPU");
  if (!Number.isInteger(config.sshPort) || config.sshPort < 1 || config.sshPort > 65535)
    throw testbedErrors.badConfig("sshPort", "is not a port");
  if (config.readyTimeoutMs < 1000) throw testbedErrors.badConfig("readyTimeoutMs", "must be at least 1000");
  return config;
}

export type NodeRole = "active" | "standby";

export interface NodePlan {
  /** n0, n1, ...: node identifiers, not replica identifiers (DESIGN.md section 5). */
  readonly node: string;
  readonly index: number;
  readonly initialRole: NodeRole;
  readonly addresses: Readonly<Record<NicName, string>>;
}

export function hostAddress(subnet: string, host: number): string {
  return subnet.replace(/\.0\/24$/, `.${host}`);
}

export function gatewayAddress(subnet: string): string {
  return hostAddress(subnet, 1);
}

/** 3f+1 active nodes, then the standby pool. */
export function planNodes(config: TestbedConfig): NodePlan[] {
  const active = 3 * config.f + 1;
  const plans: NodePlan[] = [];
  for (let index = 0; index < active + config.standby; index += 1) {
    const host = NODE_HOST_BASE + index;
    plans.push({
      node: `n${index}`,
      index,
      initialRole: index < active ? "active" : "standby",
      addresses: {
        nic1: hostAddress(config.subnets.nic1, host),
        nic2: hostAddress(config.subnets.nic2, host),
        nic3: hostAddress(config.subnets.nic3, host),
      },
    });
  }
  return plans;
}

/** Digest of everything that shapes the Docker resources; a changed config means recreate. */
export function configDigest(config: TestbedConfig, imageTag: string): string {
  return createHash("sha256").update(JSON.stringify({ config, imageTag })).digest("hex").slice(0, 16);
}

export function switchChain(name: string): string {
  return `MBFT-${name.toUpperCase()}`;
}
