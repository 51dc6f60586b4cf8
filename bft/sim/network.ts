/**
 * The simulated network. Every principal (replica or client) gets a Transport (bft/transport) whose
 * frames travel through this model; authentication and decoding happen above it in bft/wire, exactly
 * as on real nodes, so the simulator moves the same bytes as real processes.
 *
 * Faults: a frame may be dropped (lossy link), delayed by a random latency within bounds, delayed much
 * longer (reordered behind later frames), duplicated, or cut by a partition. A partition is an
 * island: a set of principals that can talk among themselves but not with anyone outside it.
 * Principals in no island form the mainland. Partitions are checked when a frame is sent and again when
 * it arrives (a cut also severs frames in flight). Frames to a crashed principal are lost on arrival.
 *
 * The network never calls back synchronously: `send` hands deliveries to the scheduler, and the
 * simulator calls `deliver` when their time comes.
 */
import { assert } from "../assert.js";
import type { Principal } from "../messages.js";
import type { Transport } from "../transport/transport.js";
import type { Prng } from "./prng.js";

export interface LinkFaults {
  /** Probability that a frame is lost. */
  readonly dropRate: number;
  /** Probability that a frame arrives twice (each copy with its own latency). */
  readonly duplicateRate: number;
  /** Probability that a frame gets an extra delay of up to reorderDelayMsMax, overtaken by later ones. */
  readonly reorderRate: number;
  readonly reorderDelayMsMax: number;
  readonly latencyMsMin: number;
  readonly latencyMsMax: number;
}

export const LINK_FAULTS_NONE: LinkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderDelayMsMax: 0,
  latencyMsMin: 1,
  latencyMsMax: 1,
};

export type DropReason =
  | "lossy"
  | "partition"
  | "senderDown"
  | "receiverDown"
  | "unknownPrincipal"
  | "nicDisabled";
export const DROP_REASONS: readonly DropReason[] = [
  "lossy",
  "partition",
  "senderDown",
  "receiverDown",
  "unknownPrincipal",
  "nicDisabled",
];

/** A frame in flight. `from` is the true sender, known to the network only (receivers see bytes). */
export interface Delivery {
  readonly from: Principal;
  readonly to: Principal;
  readonly frame: Uint8Array;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  duplicated: number;
  reordered: number;
  dropped: Record<DropReason, number>;
}

export interface NetworkOptions {
  readonly prng: Prng;
  readonly faults: LinkFaults;
  /** Queues a delivery for simulated time `atMs`; the simulator later calls `deliver(delivery)`. */
  schedule(atMs: number, delivery: Delivery): void;
  nowMs(): number;
  /**
   * Switch ports (migration runs): whether a frame may pass between two principals now, checked
   * at send and again at arrival like a partition. Absent: every pair is connected.
   */
  readonly admits?: (from: Principal, to: Principal) => boolean;
  /** Called for every frame handed to its receiver, before the receiver's handler. */
  readonly observe?: (delivery: Delivery) => void;
  /**
   * Link bandwidth in bits per simulated ms (100 Mbit/s = 100_000). Each directed link sends one
   * frame at a time: a frame waits for the link, then takes size/bandwidth before its latency
   * starts, so big state transfers take time in proportion to their size. Absent: infinite.
   */
  readonly bandwidthBitsPerMs?: number;
}

type FrameHandler = (frame: Uint8Array) => void;

interface Endpoint {
  handler: FrameHandler | undefined;
  down: boolean;
  /** Island id, or undefined for the mainland. */
  island: number | undefined;
}

export function principalKey(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}

export class SimNetwork {
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    duplicated: 0,
    reordered: 0,
    dropped: { lossy: 0, partition: 0, senderDown: 0, receiverDown: 0, unknownPrincipal: 0, nicDisabled: 0 },
  };
  private faults: LinkFaults;
  /** Per directed link: when it finishes sending its last queued frame (bandwidth model only). */
  private readonly linkBusyUntilMs = new Map<string, number>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly islands = new Map<number, readonly Principal[]>();
  private islandNext = 1;

  constructor(private readonly options: NetworkOptions) {
    this.faults = validateLinkFaults(options.faults);
  }

  /** Registers a principal and returns its transport. A principal attaches once for the whole run. */
  attach(principal: Principal): Transport {
    const key = principalKey(principal);
    assert(!this.endpoints.has(key), `principal ${key} attaches once`);
    const endpoint: Endpoint = { handler: undefined, down: false, island: undefined };
    this.endpoints.set(key, endpoint);
    return {
      send: (to, frame) => this.send(principal, to, frame),
      onFrame: (handler) => {
        endpoint.handler = handler;
      },
      close: async () => {
        endpoint.handler = undefined;
      },
    };
  }

  setFaults(faults: LinkFaults): void {
    this.faults = validateLinkFaults(faults);
  }

  get currentFaults(): LinkFaults {
    return this.faults;
  }

  /** A crashed principal sends nothing and receives nothing until it is brought back up. */
  setDown(principal: Principal, down: boolean): void {
    this.endpoint(principal).down = down;
  }

  isDown(principal: Principal): boolean {
    return this.endpoint(principal).down;
  }

  inIsland(principal: Principal): boolean {
    return this.endpoint(principal).island !== undefined;
  }

  /** Cuts `members` off from everyone else; returns the island id for `removeIsland`. */
  addIsland(members: readonly Principal[]): number {
    assert(members.length > 0, "an island has members");
    const id = this.islandNext;
    this.islandNext += 1;
    for (const member of members) {
      const endpoint = this.endpoint(member);
      assert(endpoint.island === undefined, `${principalKey(member)} is in one island at a time`);
      endpoint.island = id;
    }
    this.islands.set(id, members);
    return id;
  }

  removeIsland(id: number): void {
    const members = this.islands.get(id);
    assert(members !== undefined, `island ${id} exists`);
    for (const member of members) this.endpoint(member).island = undefined;
    this.islands.delete(id);
  }

  /** Ends every partition. */
  removeAllIslands(): void {
    for (const id of [...this.islands.keys()]) this.removeIsland(id);
  }

  get islandCount(): number {
    return this.islands.size;
  }

  connected(a: Principal, b: Principal): boolean {
    return this.endpoint(a).island === this.endpoint(b).island;
  }

  send(from: Principal, to: Principal, frame: Uint8Array): void {
    this.stats.sent += 1;
    const source = this.endpoints.get(principalKey(from));
    const target = this.endpoints.get(principalKey(to));
    if (source === undefined || target === undefined) {
      this.drop("unknownPrincipal");
      return;
    }
    if (source.down) {
      this.drop("senderDown");
      return;
    }
    if (source.island !== target.island) {
      this.drop("partition");
      return;
    }
    if (this.options.admits !== undefined && !this.options.admits(from, to)) {
      this.drop("nicDisabled");
      return;
    }
    const prng = this.options.prng;
    const faults = this.faults;
    if (prng.chance(faults.dropRate)) {
      this.drop("lossy");
      return;
    }
    const delivery: Delivery = { from, to, frame };
    const sentMs = this.transmittedAtMs(from, to, frame.length);
    this.options.schedule(sentMs + this.latencyMs(), delivery);
    if (prng.chance(faults.duplicateRate)) {
      this.stats.duplicated += 1;
      this.options.schedule(sentMs + this.latencyMs(), delivery);
    }
  }

  /** When the last bit of the frame has left the sender (now, without a bandwidth model). */
  private transmittedAtMs(from: Principal, to: Principal, frameBytes: number): number {
    const nowMs = this.options.nowMs();
    const bandwidth = this.options.bandwidthBitsPerMs;
    if (bandwidth === undefined) return nowMs;
    assert(bandwidth > 0, "bandwidth is positive");
    const link = `${principalKey(from)}>${principalKey(to)}`;
    const startMs = Math.max(nowMs, this.linkBusyUntilMs.get(link) ?? 0);
    const doneMs = startMs + (frameBytes * 8) / bandwidth;
    this.linkBusyUntilMs.set(link, doneMs);
    return doneMs;
  }

  /** Called by the simulator when a delivery's time has come. */
  deliver(delivery: Delivery): void {
    const source = this.endpoint(delivery.from);
    const target = this.endpoint(delivery.to);
    if (source.island !== target.island) {
      this.drop("partition");
      return;
    }
    if (this.options.admits !== undefined && !this.options.admits(delivery.from, delivery.to)) {
      this.drop("nicDisabled");
      return;
    }
    if (target.down || target.handler === undefined) {
      this.drop("receiverDown");
      return;
    }
    this.stats.delivered += 1;
    this.options.observe?.(delivery);
    target.handler(delivery.frame);
  }

  private latencyMs(): number {
    const prng = this.options.prng;
    const faults = this.faults;
    let latencyMs = prng.int(faults.latencyMsMin, faults.latencyMsMax);
    if (faults.reorderRate > 0 && prng.chance(faults.reorderRate)) {
      this.stats.reordered += 1;
      latencyMs += prng.int(0, faults.reorderDelayMsMax);
    }
    return latencyMs;
  }

  private drop(reason: DropReason): void {
    this.stats.dropped[reason] += 1;
  }

  private endpoint(principal: Principal): Endpoint {
    const endpoint = this.endpoints.get(principalKey(principal));
    assert(endpoint !== undefined, `principal ${principalKey(principal)} is attached`);
    return endpoint;
  }
}

export function validateLinkFaults(faults: LinkFaults): LinkFaults {
  const rates: (keyof LinkFaults)[] = ["dropRate", "duplicateRate", "reorderRate"];
  for (const name of rates) {
    const value = faults[name];
    assert(value >= 0 && value <= 1, `${name} in [0, 1], got ${value}`);
  }
  assert(Number.isSafeInteger(faults.latencyMsMin) && faults.latencyMsMin >= 0, "latencyMsMin >= 0");
  assert(Number.isSafeInteger(faults.latencyMsMax), "latencyMsMax is an integer");
  assert(faults.latencyMsMin <= faults.latencyMsMax, "latencyMsMin <= latencyMsMax");
  assert(
    Number.isSafeInteger(faults.reorderDelayMsMax) && faults.reorderDelayMsMax >= 0,
    "reorderDelayMsMax >= 0",
  );
  return faults;
}
