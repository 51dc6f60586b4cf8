/**
 * Pure translation of the switch state into kernel configuration: the full content of our iptables
 * chain (loaded in one iptables-restore transaction, so no half-applied rule set is ever visible)
 * and the tc commands that shape rate-limited ports.
 *
 * A port's host-side veth is where the node's frames enter the bridge (`--physdev-in`) and where
 * frames to the node leave it (`--physdev-out`). Rate limits shape both directions: a tbf qdisc on
 * the veth's egress (traffic to the node) and, through an ifb device fed by a u32 + mirred filter
 * on the veth's ingress, on traffic from the node. (tc netem and the matchall classifier are absent
 * from this kernel; u32, mirred, ifb and tbf are present.)
 */
import { createHash } from "node:crypto";
import { portKey, type SwitchState } from "./state.js";

/** Port key -> host-side veth, or null when the node's container is not running. */
export type Bindings = Readonly<Record<string, string | null>>;

export interface Counter {
  readonly packets: number;
  readonly bytes: number;
}

export type Direction = "in" | "out";

/** Comments identify accounting rules, so counters survive a re-apply with a new veth. */
export function accountingComment(direction: Direction, key: string): string {
  return `mbft:${direction}:${key}`;
}

/** tbf latency bound (queue length in time): the paper's LAN had shallow switch buffers. */
export const TBF_LATENCY_MS = 50;
/** tbf burst: at least 64 KiB (one GSO super-packet) or 5 ms worth of the rate. */
export function tbfBurstBytes(rateMbit: number): number {
  return Math.max(64 * 1024, Math.ceil((rateMbit * 1_000_000 * 0.005) / 8));
}

export function ifbName(chain: string, key: string): string {
  return `mb${createHash("sha256").update(`${chain}\0${key}`).digest("hex").slice(0, 12)}`;
}

function physdev(direction: Direction, veth: string): string {
  return `-m physdev --physdev-${direction} ${veth} --physdev-is-bridged`;
}

function counterPrefix(counters: ReadonlyMap<string, Counter>, comment: string): string {
  const counter = counters.get(comment);
  return `[${counter?.packets ?? 0}:${counter?.bytes ?? 0}] `;
}

/**
 * The chain jumped from INPUT. Bridged rules in the main chain see node-to-node frames only; traffic
 * between a node and the host itself (clients run there in tests, and so does the controller) is
 * delivered locally and passes INPUT instead, where a frame is not "bridged". A shut port drops the
 * node's frames to the host here, which also stops any TCP connection from the host to that port.
 */
export function hostChainOf(chain: string): string {
  return `${chain}-H`;
}

/** The iptables-restore input that replaces our chains' content (and only it) atomically. */
export function renderChain(
  state: SwitchState,
  bindings: Bindings,
  counters: ReadonlyMap<string, Counter>,
): string {
  const chain = state.chain;
  const lines = ["*filter", `:${chain} - [0:0]`];
  const keys = Object.keys(state.ports).sort();
  for (const key of keys) {
    const veth = bindings[key];
    if (veth == null) continue;
    for (const direction of ["in", "out"] as const) {
      const comment = accountingComment(direction, key);
      lines.push(
        `${counterPrefix(counters, comment)}-A ${chain} ${physdev(direction, veth)} -m comment --comment ${comment}`,
      );
    }
  }
  for (const key of keys) {
    const veth = bindings[key];
    if (veth == null || !state.ports[key]!.shutdown) continue;
    lines.push(`-A ${chain} ${physdev("in", veth)} -m comment --comment mbft:shutdown:${key} -j DROP`);
    lines.push(`-A ${chain} ${physdev("out", veth)} -m comment --comment mbft:shutdown:${key} -j DROP`);
  }
  for (const name of Object.keys(state.partitions).sort()) {
    const [groupA, groupB] = state.partitions[name]!.groups;
    for (const a of groupA) {
      for (const b of groupB) {
        const vethA = bindings[a];
        const vethB = bindings[b];
        if (vethA == null || vethB == null) continue;
        const comment = `mbft:partition:${name}`;
        lines.push(
          `-A ${chain} -m physdev --physdev-in ${vethA} --physdev-out ${vethB} -m comment --comment ${comment} -j DROP`,
        );
        lines.push(
          `-A ${chain} -m physdev --physdev-in ${vethB} --physdev-out ${vethA} -m comment --comment ${comment} -j DROP`,
        );
      }
    }
  }
  lines.push(`-A ${chain} -j RETURN`);
  const hostChain = hostChainOf(chain);
  lines.push(`:${hostChain} - [0:0]`);
  for (const key of keys) {
    const veth = bindings[key];
    if (veth == null || !state.ports[key]!.shutdown) continue;
    lines.push(
      `-A ${hostChain} -m physdev --physdev-in ${veth} -m comment --comment mbft:shutdown:${key} -j DROP`,
    );
  }
  lines.push(`-A ${hostChain} -j RETURN`, "COMMIT", "");
  return lines.join("\n");
}

/** Reads per-comment counters of our chain from `iptables-save -c -t filter`. */
export function parseCounters(save: string, chain: string): Map<string, Counter> {
  const counters = new Map<string, Counter>();
  const pattern = new RegExp(`^\\[(\\d+):(\\d+)\\] -A ${chain} .*--comment "?(mbft:(?:in|out):[^" ]+)"?`);
  for (const line of save.split("\n")) {
    const match = pattern.exec(line);
    if (match === null) continue;
    counters.set(match[3]!, { packets: Number(match[1]), bytes: Number(match[2]) });
  }
  return counters;
}

export interface TcStep {
  readonly argv: readonly string[];
  /** Deleting what may not exist is allowed to fail. */
  readonly mayFail: boolean;
}

/** What tc state the kernel has now, parsed from `tc qdisc show` (one call for all devices). */
export interface QdiscSnapshot {
  readonly tbfRoot: ReadonlySet<string>;
  readonly ingress: ReadonlySet<string>;
}

export function parseQdiscs(output: string): QdiscSnapshot {
  const tbfRoot = new Set<string>();
  const ingress = new Set<string>();
  for (const line of output.split("\n")) {
    const match = /^qdisc (\S+) \S+ dev (\S+) (.*)$/.exec(line.trim());
    if (match === null) continue;
    if (match[1] === "tbf" && match[3]!.startsWith("root")) tbfRoot.add(match[2]!);
    if (match[1] === "ingress") ingress.add(match[2]!);
  }
  return { tbfRoot, ingress };
}

function tbf(device: string, rateMbit: number): string[] {
  const rateKbit = Math.round(rateMbit * 1000);
  const burst = tbfBurstBytes(rateMbit);
  return [
    "tc",
    "qdisc",
    "replace",
    "dev",
    device,
    "root",
    "tbf",
    "rate",
    `${rateKbit}kbit`,
    "burst",
    `${burst}`,
    "latency",
    `${TBF_LATENCY_MS}ms`,
  ];
}

/** tc and ip commands that bring every bound port's shaping to the state's rate. */
export function planShaping(state: SwitchState, bindings: Bindings, current: QdiscSnapshot): TcStep[] {
  const steps: TcStep[] = [];
  const must = (argv: string[]) => steps.push({ argv, mayFail: false });
  const may = (argv: string[]) => steps.push({ argv, mayFail: true });
  for (const key of Object.keys(state.ports).sort()) {
    const veth = bindings[key];
    const port = state.ports[key]!;
    const ifb = ifbName(state.chain, portKey(port));
    if (veth == null) continue;
    if (port.rateMbit === null) {
      if (current.tbfRoot.has(veth)) may(["tc", "qdisc", "del", "dev", veth, "root"]);
      if (current.ingress.has(veth)) may(["tc", "qdisc", "del", "dev", veth, "ingress"]);
      if (current.tbfRoot.has(ifb)) may(["ip", "link", "del", ifb]);
      continue;
    }
    must(tbf(veth, port.rateMbit));
    if (!current.tbfRoot.has(ifb)) {
      may(["ip", "link", "add", ifb, "type", "ifb"]);
      must(["ip", "link", "set", ifb, "up"]);
    }
    must(tbf(ifb, port.rateMbit));
    if (current.ingress.has(veth)) may(["tc", "qdisc", "del", "dev", veth, "ingress"]);
    must(["tc", "qdisc", "add", "dev", veth, "handle", "ffff:", "ingress"]);
    must([
      "tc",
      "filter",
      "add",
      "dev",
      veth,
      "parent",
      "ffff:",
      "protocol",
      "all",
      "prio",
      "1",
      "u32",
      "match",
      "u32",
      "0",
      "0",
      "action",
      "mirred",
      "egress",
      "redirect",
      "dev",
      ifb,
    ]);
  }
  return steps;
}

/** Commands that remove everything the switch created in the kernel besides the chain. */
export function planTeardownShaping(state: SwitchState, bindings: Bindings): TcStep[] {
  const steps: TcStep[] = [];
  for (const key of Object.keys(state.ports).sort()) {
    const veth = bindings[key];
    if (state.ports[key]!.rateMbit === null) continue;
    if (veth != null) {
      steps.push({ argv: ["tc", "qdisc", "del", "dev", veth, "root"], mayFail: true });
      steps.push({ argv: ["tc", "qdisc", "del", "dev", veth, "ingress"], mayFail: true });
    }
    steps.push({ argv: ["ip", "link", "del", ifbName(state.chain, key)], mayFail: true });
  }
  return steps;
}
