/**
 * Byzantine replicas. A Byzantine replica runs a real, unmodified replica core; its misbehaviour
 * lives entirely between the core's send effects and the network: each behaviour decides what
 * actually leaves the node for every message the core wanted to send, and may act on its own
 * between messages (replay, flood). Frames are sealed by the real Wire with the replica's real keys,
 * so receivers see correctly authenticated lies unless the behaviour breaks the MACs on purpose.
 */
import { assert } from "../assert.js";
import { MAC_BYTES } from "../limits.js";
import type { Message, NewView, PrePrepare, Principal, Request } from "../messages.js";
import type { Destination, Wire } from "../wire/index.js";
import type { ByzantineKind } from "./byzantine-kinds.js";
import type { Prng } from "./prng.js";

export interface ByzantineContext {
  readonly replicaId: number;
  /** Active replicas, 3f+1. */
  readonly n: number;
  readonly clientCount: number;
  readonly prng: Prng;
  readonly wire: Wire;
  /** Puts one frame on the network. */
  sendFrame(to: Principal, frame: Uint8Array): void;
  /** The batch digest a PRE-PREPARE names, computed as the replica core does. */
  batchDigest(requests: readonly Request[]): Uint8Array;
  /**
   * Signs a NEW-VIEW as this node does (newViewSignedBytes under its coprocessor key). Only in
   * migration runs, where NEW-VIEWs are signed; elsewhere a lying NEW-VIEW keeps the old signature.
   */
  signNewView?(newView: Omit<NewView, "signature">): Uint8Array;
}

export interface ByzantineBehaviour {
  readonly kind: ByzantineKind;
  /** Replaces the honest handling of one send or broadcast effect of the core. */
  send(message: Message, to: Destination, context: ByzantineContext): void;
  /** Period of `tick`, or undefined when the behaviour only reacts to sends. */
  readonly tickIntervalMs: number | undefined;
  tick(context: ByzantineContext): void;
}

/** Frames kept for replay and mutation: enough variety, bounded memory. */
const REMEMBERED_FRAMES_MAX = 256;
/** Garbage frames stay small: the point is parsing robustness, not bandwidth. */
const GARBAGE_BYTES_MAX = 600;
/** Probability that a lying behaviour lies on a given message (sometimes telling the truth is nastier). */
const LIE_PROBABILITY = 0.8;

export function createByzantineBehaviour(kind: ByzantineKind): ByzantineBehaviour {
  switch (kind) {
    case "silent":
      return { kind, tickIntervalMs: undefined, send: () => {}, tick: () => {} };
    case "equivocate":
      return reactive(kind, sendEquivocating);
    case "wrongDigest":
      return reactive(kind, sendWrongDigest);
    case "badMac":
      return reactive(kind, sendBadMac);
    case "wrongState":
      return reactive(kind, sendWrongState);
    case "wrongReply":
      return reactive(kind, sendWrongReply);
    case "replay":
      return new ReplayBehaviour();
    case "flood":
      return new FloodBehaviour();
    case "lyingNewPrimary":
      return reactive(kind, sendLyingNewView);
  }
}

function reactive(
  kind: ByzantineKind,
  send: (message: Message, to: Destination, context: ByzantineContext) => void,
): ByzantineBehaviour {
  return { kind, tickIntervalMs: undefined, send, tick: () => {} };
}

/** What a correct replica does with a send effect. */
export function sendHonest(message: Message, to: Destination, context: ByzantineContext): Uint8Array {
  const frame = context.wire.seal(message, to);
  sendFrameTo(frame, to, context);
  return frame;
}

function sendFrameTo(frame: Uint8Array, to: Destination, context: ByzantineContext): void {
  if (to !== "replicas") {
    context.sendFrame(to, frame);
    return;
  }
  for (let id = 0; id < context.n; id += 1) {
    if (id !== context.replicaId) context.sendFrame({ kind: "replica", id }, frame);
  }
}

/**
 * As primary, one half of the backups gets the real PRE-PREPARE and the other half a different batch
 * for the same (view, seq): the requests reversed, or the batch emptied. Both carry a correct digest
 * for their own requests and valid client authenticators, so only agreement can save the day.
 */
function sendEquivocating(message: Message, to: Destination, context: ByzantineContext): void {
  if (message.type !== "PrePrepare" || to !== "replicas" || message.requests.length === 0) {
    sendHonest(message, to, context);
    return;
  }
  const requests = message.requests.length >= 2 ? [...message.requests].reverse() : [];
  const variant = { ...message, requests, digest: context.batchDigest(requests) };
  const honestFrame = context.wire.seal(message, "replicas");
  const variantFrame = context.wire.seal(variant, "replicas");
  const backups = context.prng.shuffle(
    Array.from({ length: context.n }, (_, id) => id).filter((id) => id !== context.replicaId),
  );
  backups.forEach((id, index) => {
    context.sendFrame({ kind: "replica", id }, index % 2 === 0 ? honestFrame : variantFrame);
  });
}

/**
 * A NEW-VIEW whose PRE-PREPAREs contradict its own VIEW-CHANGEs, signed like an honest one: the
 * first batch with requests (or a special entry) becomes the null batch, as if the primary dropped
 * a prepared batch; with none, one digest is changed; with no PRE-PREPAREs at all, one is added.
 * Every correct backup rejects it (the decision re-run differs) and holds proof of the lie.
 */
function sendLyingNewView(message: Message, to: Destination, context: ByzantineContext): void {
  if (message.type !== "NewView") {
    sendHonest(message, to, context);
    return;
  }
  const { signature, ...body } = message;
  const lie = { ...body, prePrepares: lyingPrePrepares(message, context) };
  const signed: NewView = { ...lie, signature: context.signNewView?.(lie) ?? signature };
  sendFrameTo(context.wire.seal(signed, to), to, context);
}

function lyingPrePrepares(message: NewView, context: ByzantineContext): PrePrepare[] {
  const prePrepares = [...message.prePrepares];
  const full = prePrepares.findIndex((p) => p.requests.length > 0 || p.special !== undefined);
  if (full >= 0) {
    const dropped = prePrepares[full]!;
    prePrepares[full] = {
      type: "PrePrepare",
      view: dropped.view,
      seq: dropped.seq,
      digest: context.batchDigest([]),
      requests: [],
    };
    return prePrepares;
  }
  if (prePrepares.length > 0) {
    const first = prePrepares[0]!;
    prePrepares[0] = { ...first, digest: corruptBytes(first.digest, context.prng) };
    return prePrepares;
  }
  const stableSeqMax = Math.max(0, ...message.viewChanges.map((viewChange) => viewChange.stableSeq));
  prePrepares.push({
    type: "PrePrepare",
    view: message.view,
    seq: stableSeqMax + 1,
    digest: context.prng.bytes(context.batchDigest([]).length),
    requests: [],
  });
  return prePrepares;
}

function sendWrongDigest(message: Message, to: Destination, context: ByzantineContext): void {
  if (!context.prng.chance(LIE_PROBABILITY)) {
    sendHonest(message, to, context);
    return;
  }
  let lie: Message = message;
  if (message.type === "Prepare" || message.type === "Commit") {
    lie = { ...message, digest: corruptBytes(message.digest, context.prng) };
  } else if (message.type === "Checkpoint") {
    lie = { ...message, stateDigest: corruptBytes(message.stateDigest, context.prng) };
  }
  sendFrameTo(context.wire.sealUnchecked(lie, to), to, context);
}

/** Seals correctly, then flips bits in some of the MACs (for a broadcast, a random subset of slots). */
function sendBadMac(message: Message, to: Destination, context: ByzantineContext): void {
  const frame = context.wire.seal(message, to);
  if (!context.prng.chance(LIE_PROBABILITY)) {
    sendFrameTo(frame, to, context);
    return;
  }
  const macCount = to === "replicas" ? context.n : 1;
  const trailerStart = frame.length - macCount * MAC_BYTES;
  assert(trailerStart > 0, "a frame has a body before its MACs");
  const corrupted = frame.slice();
  for (let slot = 0; slot < macCount; slot += 1) {
    if (macCount > 1 && context.prng.chance(0.4)) continue;
    const offset = trailerStart + slot * MAC_BYTES + context.prng.int(0, MAC_BYTES - 1);
    corrupted[offset] = (corrupted[offset] as number) ^ context.prng.int(1, 255);
  }
  sendFrameTo(corrupted, to, context);
}

/** Serves state chunks whose bytes are corrupt while the digest and sizes claim the real checkpoint. */
function sendWrongState(message: Message, to: Destination, context: ByzantineContext): void {
  if (message.type !== "StateChunk" || !context.prng.chance(LIE_PROBABILITY)) {
    sendHonest(message, to, context);
    return;
  }
  const bytes =
    message.bytes.length > 0 && context.prng.chance(0.5)
      ? corruptBytes(message.bytes, context.prng)
      : context.prng.bytes(message.bytes.length);
  sendFrameTo(context.wire.sealUnchecked({ ...message, bytes }, to), to, context);
}

function sendWrongReply(message: Message, to: Destination, context: ByzantineContext): void {
  if (message.type !== "Reply" || !context.prng.chance(LIE_PROBABILITY)) {
    sendHonest(message, to, context);
    return;
  }
  const result =
    message.result.length > 0
      ? corruptBytes(message.result, context.prng)
      : context.prng.bytes(context.prng.int(1, 8));
  sendFrameTo(context.wire.sealUnchecked({ ...message, result }, to), to, context);
}

/** Keeps a bounded ring of frames it sent. */
class FrameMemory {
  private readonly frames: { frame: Uint8Array; to: Destination }[] = [];
  private next = 0;

  remember(frame: Uint8Array, to: Destination): void {
    const entry = { frame, to };
    if (this.frames.length < REMEMBERED_FRAMES_MAX) this.frames.push(entry);
    else this.frames[this.next] = entry;
    this.next = (this.next + 1) % REMEMBERED_FRAMES_MAX;
  }

  pick(prng: Prng): { frame: Uint8Array; to: Destination } | undefined {
    return this.frames.length === 0 ? undefined : prng.pick(this.frames);
  }
}

/** Behaves correctly, and every tick re-sends a few old frames, mostly to their original receivers. */
class ReplayBehaviour implements ByzantineBehaviour {
  readonly kind = "replay";
  readonly tickIntervalMs = 100;
  private readonly memory = new FrameMemory();

  send(message: Message, to: Destination, context: ByzantineContext): void {
    this.memory.remember(sendHonest(message, to, context), to);
  }

  tick(context: ByzantineContext): void {
    const count = context.prng.int(1, 4);
    for (let index = 0; index < count; index += 1) {
      const old = this.memory.pick(context.prng);
      if (old === undefined) return;
      if (old.to !== "replicas" && context.prng.chance(0.7)) context.sendFrame(old.to, old.frame);
      else context.sendFrame(randomPrincipal(context), old.frame);
    }
  }
}

/** Behaves correctly, and every tick sends garbage and mutated frames to everyone. */
class FloodBehaviour implements ByzantineBehaviour {
  readonly kind = "flood";
  readonly tickIntervalMs = 50;
  private readonly memory = new FrameMemory();

  send(message: Message, to: Destination, context: ByzantineContext): void {
    this.memory.remember(sendHonest(message, to, context), to);
  }

  tick(context: ByzantineContext): void {
    const prng = context.prng;
    for (let id = 0; id < context.n; id += 1) {
      if (id === context.replicaId) continue;
      context.sendFrame({ kind: "replica", id }, this.garbage(prng));
    }
    if (context.clientCount > 0) {
      context.sendFrame({ kind: "client", id: prng.int(0, context.clientCount - 1) }, this.garbage(prng));
    }
  }

  private garbage(prng: Prng): Uint8Array {
    const old = this.memory.pick(prng);
    if (old === undefined || prng.chance(0.3)) return prng.bytes(prng.int(0, GARBAGE_BYTES_MAX));
    return mutateFrame(old.frame, prng);
  }
}

function randomPrincipal(context: ByzantineContext): Principal {
  if (context.clientCount > 0 && context.prng.chance(0.2)) {
    return { kind: "client", id: context.prng.int(0, context.clientCount - 1) };
  }
  let id = context.prng.int(0, context.n - 2);
  if (id >= context.replicaId) id += 1;
  return { kind: "replica", id };
}

/** Flips, truncates or extends a frame: mostly-valid bytes probe the decoder's edges. */
export function mutateFrame(frame: Uint8Array, prng: Prng): Uint8Array {
  const choice = prng.int(0, 3);
  if (choice === 0 && frame.length > 1) return frame.slice(0, prng.int(0, frame.length - 1));
  if (choice === 1) {
    const extended = new Uint8Array(frame.length + prng.int(1, 32));
    extended.set(frame, 0);
    extended.set(prng.bytes(extended.length - frame.length), frame.length);
    return extended;
  }
  const mutated = frame.slice();
  const flips = prng.int(1, 3);
  for (let index = 0; index < flips && mutated.length > 0; index += 1) {
    const offset = prng.int(0, mutated.length - 1);
    mutated[offset] = (mutated[offset] as number) ^ prng.int(1, 255);
  }
  return mutated;
}

/** A copy with one byte changed; never equal to the input. */
export function corruptBytes(bytes: Uint8Array, prng: Prng): Uint8Array {
  assert(bytes.length > 0, "corrupting needs at least one byte");
  const copy = bytes.slice();
  const offset = prng.int(0, copy.length - 1);
  copy[offset] = (copy[offset] as number) ^ prng.int(1, 255);
  return copy;
}
