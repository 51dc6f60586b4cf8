/**
 * The switch's configuration as plain data, and the pure transitions operators apply to it. A port
 * is a (node, NIC) pair; its configuration survives restarts of the node because it is keyed by
 * name, not by the veth that happens to carry it. Every transition validates fully and returns a
 * new state, or throws a SwitchError and changes nothing.
 */
import { switchErrors } from "./errors.js";

export const NIC_NAMES = ["nic1", "nic2", "nic3"] as const;
export type NicName = (typeof NIC_NAMES)[number];

/** Rates a port accepts, in Mbit/s. */
export const RATE_MBIT_MIN = 0.1;
export const RATE_MBIT_MAX = 10_000;
/** Ports one switch holds (a Catalyst 6500 chassis holds a few hundred). */
export const PORTS_MAX = 512;
export const PARTITIONS_MAX = 64;

export interface PortDefinition {
  readonly node: string;
  readonly nic: NicName;
  /** Container that carries the node (its name, stable across restart and recreation). */
  readonly container: string;
  /** Docker network of this NIC. */
  readonly network: string;
}

export interface PortConfig extends PortDefinition {
  readonly shutdown: boolean;
  readonly rateMbit: number | null;
}

export interface Partition {
  readonly groups: readonly [readonly string[], readonly string[]];
}

export interface SwitchState {
  readonly version: 1;
  /** The iptables chain this switch owns. */
  readonly chain: string;
  readonly ports: Readonly<Record<string, PortConfig>>;
  readonly partitions: Readonly<Record<string, Partition>>;
}

export function portKey(port: { node: string; nic: string }): string {
  return `${port.node}/${port.nic}`;
}

const NODE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export function parsePortName(text: string): { node: string; nic: NicName } {
  const [node, nic, extra] = text.trim().split("/");
  if (node === undefined || nic === undefined || extra !== undefined || !NODE_NAME.test(node)) {
    throw switchErrors.badPortName(text);
  }
  if (!(NIC_NAMES as readonly string[]).includes(nic)) throw switchErrors.badPortName(text);
  return { node, nic: nic as NicName };
}

/** "100", "100mbit", "1gbit", "500kbit" -> Mbit/s; "none" -> null. */
export function parseRate(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "none" || trimmed === "off") return null;
  const match = /^(\d+(?:\.\d+)?)\s*(kbit|mbit|gbit|k|m|g)?(?:\/s|ps)?$/.exec(trimmed);
  if (match === null) throw switchErrors.badRate(text);
  const unit = match[2] ?? "mbit";
  const factor = unit.startsWith("k") ? 0.001 : unit.startsWith("g") ? 1000 : 1;
  const rateMbit = Number(match[1]) * factor;
  if (!Number.isFinite(rateMbit) || rateMbit < RATE_MBIT_MIN || rateMbit > RATE_MBIT_MAX)
    throw switchErrors.badRate(text);
  return rateMbit;
}

export function emptyState(chain: string): SwitchState {
  return { version: 1, chain, ports: {}, partitions: {} };
}

function requirePort(state: SwitchState, name: string): string {
  const key = portKey(parsePortName(name));
  if (state.ports[key] === undefined) throw switchErrors.unknownPort(name);
  return key;
}

/** Replaces the port list; ports that stay keep their configuration, partitions lose vanished ports. */
export function definePorts(state: SwitchState, definitions: readonly PortDefinition[]): SwitchState {
  if (definitions.length > PORTS_MAX) throw switchErrors.badPartition(`more than ${PORTS_MAX} ports`);
  const ports: Record<string, PortConfig> = {};
  for (const definition of definitions) {
    const key = portKey(parsePortName(portKey(definition)));
    const previous = state.ports[key];
    ports[key] = {
      ...definition,
      shutdown: previous?.shutdown ?? false,
      rateMbit: previous?.rateMbit ?? null,
    };
  }
  const partitions: Record<string, Partition> = {};
  for (const [name, partition] of Object.entries(state.partitions)) {
    const a = partition.groups[0].filter((key) => ports[key] !== undefined);
    const b = partition.groups[1].filter((key) => ports[key] !== undefined);
    if (a.length > 0 && b.length > 0) partitions[name] = { groups: [a, b] };
  }
  return { ...state, ports, partitions };
}

function withPort(state: SwitchState, name: string, change: Partial<PortConfig>): SwitchState {
  const key = requirePort(state, name);
  const port = state.ports[key]!;
  return { ...state, ports: { ...state.ports, [key]: { ...port, ...change } } };
}

export function shutdownPort(state: SwitchState, name: string): SwitchState {
  return withPort(state, name, { shutdown: true });
}

export function noShutdownPort(state: SwitchState, name: string): SwitchState {
  return withPort(state, name, { shutdown: false });
}

export function setRate(state: SwitchState, name: string, rateMbit: number | null): SwitchState {
  if (rateMbit !== null && !(rateMbit >= RATE_MBIT_MIN && rateMbit <= RATE_MBIT_MAX)) {
    throw switchErrors.badRate(String(rateMbit));
  }
  return withPort(state, name, { rateMbit });
}

export function addPartition(
  state: SwitchState,
  options: { name: string; groupA: readonly string[]; groupB: readonly string[] },
): SwitchState {
  if (!/^[a-zA-Z0-9_-]{1,32}$/.test(options.name))
    throw switchErrors.badPartition(`bad name "${options.name}"`);
  if (options.groupA.length === 0 || options.groupB.length === 0)
    throw switchErrors.badPartition("a group is empty");
  const a = [...new Set(options.groupA.map((name) => requirePort(state, name)))].sort();
  const b = [...new Set(options.groupB.map((name) => requirePort(state, name)))].sort();
  const overlap = a.filter((key) => b.includes(key));
  if (overlap.length > 0) throw switchErrors.badPartition(`ports ${overlap.join(", ")} are in both groups`);
  const partitions = { ...state.partitions, [options.name]: { groups: [a, b] as const } };
  if (Object.keys(partitions).length > PARTITIONS_MAX)
    throw switchErrors.badPartition(`more than ${PARTITIONS_MAX} partitions`);
  return { ...state, partitions };
}

/** Removes one partition, or all of them when no name is given. */
export function healPartition(state: SwitchState, name?: string): SwitchState {
  if (name === undefined) return { ...state, partitions: {} };
  if (state.partitions[name] === undefined) throw switchErrors.unknownPartition(name);
  const partitions = { ...state.partitions };
  delete partitions[name];
  return { ...state, partitions };
}

/** Checks a state read back from disk; the file may be stale or hand-edited. */
export function validateState(value: unknown): string | null {
  const state = value as SwitchState;
  if (typeof state !== "object" || state === null || state.version !== 1) return "unknown version";
  if (typeof state.chain !== "string" || !/^[A-Z0-9-]{1,26}$/.test(state.chain)) return "bad chain name";
  if (typeof state.ports !== "object" || typeof state.partitions !== "object")
    return "missing ports or partitions";
  for (const [key, port] of Object.entries(state.ports)) {
    if (portKey(port) !== key) return `port ${key} is filed under the wrong name`;
    if (port.rateMbit !== null && !(port.rateMbit >= RATE_MBIT_MIN && port.rateMbit <= RATE_MBIT_MAX))
      return `port ${key} rate`;
  }
  return null;
}
