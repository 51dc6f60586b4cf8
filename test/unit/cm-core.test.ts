/**
 * Proves the configuration manager core (paper sections 2, 3.1, 3.2, 3.4): pool nodes are
 * sanitized, probed, admitted and registered before they count as standbys; the CM acts only on
 * f+1 MIGRATE-NOW with the same v, n, C and P from distinct replicas (mismatched and malformed
 * ones are ignored); a migration disables every source's NIC1 before enabling any target's; a
 * source that does not comply is cut off (NIC1, then NIC2) and sanitized after the timeout; a
 * compliant retired source is sanitized back into the pool; failures escalate reboot -> disk
 * swap -> damaged, and a damaged node stays out (no probes, no promotion) until repaired; a node
 * the CM gives up on is deregistered with the l of its latest JOIN-REQUEST (the replicas may have
 * executed that join unbeknown to the CM); a
 * failed probe or an IDS report on an active node requests an on-demand migration, and so does
 * a round's target that has not started its replica by the promotion deadline (or that was
 * unavailable when the round was applied); a MIGRATE-NOW relayed by a peer counts as its
 * signer's vote, under the signature of the node the CM's membership has running the signer's
 * id, and an older round's copy is held beside that signer's newer vote (migration CI seeds 79
 * and 198).
 * How: drive `step` with inputs as a host would and compare the effect lists.
 */
import { describe, expect, it } from "vitest";
import {
  type CmConfig,
  type CmEffect,
  type CmState,
  createCmState,
  migrateNowInput,
  step,
} from "../../bft/cm/index.js";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import { type MigrateNow, type MigrationPair, migrateNowSignedBytes } from "../../bft/migration/index.js";

const config: CmConfig = {
  f: 1,
  probeIntervalMs: 1_000,
  probeTimeoutMs: 200,
  complianceTimeoutMs: 5_000,
  registerTimeoutMs: 3_000,
  standbyResanitizeIntervalMs: 0,
  onDemandRetryMs: 10_000,
  promotionTimeoutMs: 20_000,
  retiredSanitizeMethod: "swapDisk",
};

function makeState(f = 1, poolIds = [10, 11, 12]): CmState {
  const replicaCount = 3 * f + 1;
  const nodes = [
    ...Array.from({ length: replicaCount }, (_, replicaId) => ({ nodeId: replicaId, replicaId })),
    ...poolIds.map((nodeId) => ({ nodeId })),
  ];
  const state = createCmState({ ...config, f }, nodes);
  step(state, { kind: "start" }, 0);
  return state;
}

/** Effects that concern one node (records without a node, like migrationApplied, never do). */
const about = (nodeId: number) => (effect: CmEffect) => "nodeId" in effect && effect.nodeId === nodeId;

function probeIdOf(effects: CmEffect[], nodeId: number): number {
  const probe = effects.find((e) => e.kind === "probe" && e.nodeId === nodeId);
  if (probe?.kind !== "probe") throw new Error(`no probe of node ${nodeId}`);
  return probe.probeId;
}

/** sanitizing -> probing -> registering -> standby. */
function admitToPool(state: CmState, nodeId: number, nowMs: number, counter = 1): CmEffect[] {
  const all: CmEffect[] = [];
  const sanitized = step(state, { kind: "sanitizeResult", nodeId, ok: true }, nowMs);
  const probed = step(
    state,
    { kind: "probeResult", nodeId, probeId: probeIdOf(sanitized, nodeId), healthy: true },
    nowMs,
  );
  const registered = step(state, { kind: "nodeRegistered", nodeId, counter }, nowMs);
  all.push(...sanitized, ...probed, ...registered);
  return all;
}

function migrateNow(from: number, overrides: Partial<MigrateNow> = {}): MigrateNow {
  const pairs: MigrationPair[] = [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 10 }];
  return {
    type: "MigrateNow",
    view: 0,
    seq: 64,
    checkpointDigest: new Uint8Array(32).fill(1),
    pairs,
    replicaId: from,
    signature: new Uint8Array(64),
    ...overrides,
  };
}

function readyState(): CmState {
  const state = makeState();
  for (const nodeId of [10, 11, 12]) admitToPool(state, nodeId, 0);
  return state;
}

/** Node 12 is up for re-sanitization after an IDS report and its disk swap fails: damaged. */
function damaged(): CmState {
  const state = readyState();
  step(state, { kind: "intrusionReport", nodeId: 12, source: "ids" }, 0);
  step(state, { kind: "sanitizeResult", nodeId: 12, ok: false }, 10);
  return state;
}

describe("CM start and pool admission", () => {
  it("sets every port and sanitizes the pool at start", () => {
    const state = createCmState(
      config,
      [0, 1, 2, 3, 10].map((nodeId) => (nodeId < 4 ? { nodeId, replicaId: nodeId } : { nodeId })),
    );
    const effects = step(state, { kind: "start" }, 0);
    expect(effects.filter(about(0))).toEqual([
      { kind: "setNic", nodeId: 0, nic: "nic1", enabled: true },
      { kind: "setNic", nodeId: 0, nic: "nic2", enabled: true },
    ]);
    expect(effects.filter(about(10))).toEqual([
      { kind: "setNic", nodeId: 10, nic: "nic1", enabled: false },
      { kind: "setNic", nodeId: 10, nic: "nic2", enabled: true },
      { kind: "sanitize", nodeId: 10, method: "reboot" },
    ]);
  });

  it("admits a sanitized node only after a healthy probe, and counts it a standby once registered", () => {
    const state = makeState();
    const effects = admitToPool(state, 10, 5);
    expect(effects).toEqual([
      { kind: "roleChanged", nodeId: 10, from: "sanitizing", to: "probing" },
      { kind: "probe", nodeId: 10, probeId: 1 },
      { kind: "roleChanged", nodeId: 10, from: "probing", to: "registering" },
      { kind: "admit", nodeId: 10, members: expect.any(Array) },
      { kind: "roleChanged", nodeId: 10, from: "registering", to: "standby" },
    ]);
    expect(state.nodes.get(10)).toMatchObject({ role: "standby", registeredCounter: 1, sanitizeAttempt: 0 });
  });

  it("re-sanitizes a node that does not register in time", () => {
    const state = makeState();
    const sanitized = step(state, { kind: "sanitizeResult", nodeId: 10, ok: true }, 0);
    step(state, { kind: "probeResult", nodeId: 10, probeId: probeIdOf(sanitized, 10), healthy: true }, 0);
    const effects = step(state, { kind: "tick" }, 3_000);
    expect(effects).toContainEqual({ kind: "sanitize", nodeId: 10, method: "swapDisk" });
  });
});

describe("CM revokes joins of nodes it gives up on (LEAVE-REQUEST)", () => {
  /** sanitizing -> probing -> registering, with the node's JOIN-REQUEST l reported by the host. */
  function joining(state: CmState, nodeId: number, counter: number, nowMs: number): void {
    const sanitized = step(state, { kind: "sanitizeResult", nodeId, ok: true }, nowMs);
    step(state, { kind: "probeResult", nodeId, probeId: probeIdOf(sanitized, nodeId), healthy: true }, nowMs);
    step(state, { kind: "joinRequested", nodeId, counter }, nowMs);
  }

  // Long run seed 2 (f=1, 10m): the replicas executed a JOIN whose approvals never reached the
  // node in time; the CM sanitized it twice and marked it damaged, and the replicas, never told,
  // picked it as their freshest standby for the next round: a target the CM would not promote.
  it("deregisters a node whose registration timed out before sanitizing it again", () => {
    const state = makeState();
    joining(state, 10, 4, 0);
    const effects = step(state, { kind: "tick" }, 3_000);
    expect(effects.filter(about(10))).toEqual([
      { kind: "leaveRequest", nodeId: 10, counter: 4 },
      { kind: "sanitize", nodeId: 10, method: "swapDisk" },
      { kind: "roleChanged", nodeId: 10, from: "registering", to: "sanitizing" },
    ]);
  });

  it("deregisters the latest join when a node is marked damaged, once per join", () => {
    const state = makeState();
    joining(state, 10, 4, 0);
    step(state, { kind: "registrationFailed", nodeId: 10 }, 100);
    joining(state, 10, 5, 200);
    const effects = step(state, { kind: "tick" }, 3_200);
    expect(effects.filter(about(10))).toEqual([
      { kind: "leaveRequest", nodeId: 10, counter: 5 },
      { kind: "setNic", nodeId: 10, nic: "nic2", enabled: false },
      { kind: "roleChanged", nodeId: 10, from: "registering", to: "damaged" },
      { kind: "adminNotification", nodeId: 10, reason: "needsRepair" },
    ]);
    // The join is revoked already: the repair's new sanitization does not revoke it again.
    const repaired = step(state, { kind: "repaired", nodeId: 10 }, 4_000);
    expect(repaired.filter((effect) => effect.kind === "leaveRequest")).toEqual([]);
  });

  it("sends no LEAVE for a pool node that never asked to join", () => {
    const state = makeState();
    const effects = [
      ...step(state, { kind: "sanitizeResult", nodeId: 10, ok: false }, 0),
      ...step(state, { kind: "sanitizeResult", nodeId: 10, ok: false }, 0),
    ];
    expect(effects.filter((effect) => effect.kind === "leaveRequest")).toEqual([]);
  });
});

describe("CM on MIGRATE-NOW", () => {
  it("does nothing on f MIGRATE-NOW and migrates on the f+1-th matching one", () => {
    const state = readyState();
    expect(step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100)).toEqual([]);
    const effects = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1) }, 100);
    expect(effects).toEqual([
      { kind: "setNic", nodeId: 3, nic: "nic1", enabled: false },
      { kind: "setNic", nodeId: 10, nic: "nic1", enabled: true },
      { kind: "roleChanged", nodeId: 3, from: "active", to: "retiring" },
      { kind: "roleChanged", nodeId: 10, from: "standby", to: "active" },
      { kind: "migrationApplied", view: 0, seq: 64, pairs: migrateNow(0).pairs },
      {
        kind: "membershipCertified",
        seq: 64,
        checkpointDigest: migrateNow(0).checkpointDigest,
        members: [0, 1, 2, 10].map((nodeId, replicaId) => ({ replicaId, nodeId })),
      },
    ]);
    expect(state.nodes.get(10)).toMatchObject({ role: "active", replicaId: 3 });
    // The remaining replicas' copies are now stale and change nothing.
    expect(step(state, { kind: "migrateNow", from: 2, message: migrateNow(2) }, 100)).toEqual([]);
    expect(state.drops.staleMigrateNow).toBe(1);
  });

  it("counts MIGRATE-NOWs that differ only in the view their senders were in", () => {
    // Replicas name the view they executed or resent the round in; n, C and P are the decision.
    const state = readyState();
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100);
    const effects = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, { view: 1 }) }, 100);
    expect(effects).toContainEqual({ kind: "roleChanged", nodeId: 3, from: "active", to: "retiring" });
  });

  it.each([
    ["another sequence number", { seq: 65 }],
    ["another checkpoint digest", { checkpointDigest: new Uint8Array(32).fill(2) }],
    ["another target", { pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 11 }] }],
    ["another source", { pairs: [{ replicaId: 2, sourceNodeId: 2, targetNodeId: 10 }] }],
  ])("ignores a MIGRATE-NOW that differs in %s", (_name, overrides) => {
    const state = readyState();
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100);
    expect(step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, overrides) }, 100)).toEqual([]);
    expect(state.nodes.get(3)?.role).toBe("active");
  });

  it.each([
    ["the same replica twice", 0, migrateNow(0)],
    ["a sender that is not the message's replica", 2, migrateNow(0)],
    [
      "more than f pairs",
      1,
      migrateNow(1, {
        pairs: [migrateNow(1).pairs[0]!, { replicaId: 2, sourceNodeId: 2, targetNodeId: 11 }],
      }),
    ],
    ["a short digest", 1, migrateNow(1, { checkpointDigest: new Uint8Array(4) })],
    ["an unknown node", 1, migrateNow(1, { pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 77 }] })],
    [
      "a node as its own target",
      1,
      migrateNow(1, { pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 3 }] }),
    ],
  ])("does not count %s towards f+1", (_name, from, message) => {
    const state = readyState();
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100);
    expect(step(state, { kind: "migrateNow", from, message }, 100)).toEqual([]);
  });

  it("keeps a replica's votes for two rounds, so one round's relayed copy does not displace the other", () => {
    // Replicas resend their last two rounds to the CM, oldest first, and relay their peers'
    // signed copies (the host checks each one's signature and names its author). Two rounds that
    // executed while the CM was cut off: replica 0's copy of round 70 arrives, then its copy of
    // round 64; both count (seed 79: with one vote per replica the CM applied round 70 alone and
    // round 64 was stale there for good, its members wrong).
    const state = readyState();
    const later = { seq: 70, pairs: [{ replicaId: 2, sourceNodeId: 2, targetNodeId: 11 }] };
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, later) }, 100);
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100);
    const first = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1) }, 100);
    expect(first).toContainEqual({ kind: "roleChanged", nodeId: 3, from: "active", to: "retiring" });
    const second = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, later) }, 100);
    expect(second).toContainEqual({ kind: "roleChanged", nodeId: 2, from: "active", to: "retiring" });
    expect(state.members).toEqual([0, 1, 11, 10]);
  });

  it("keeps at most two rounds per replica, the newest", () => {
    const state = readyState();
    for (const seq of [70, 64, 80])
      step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, { seq }) }, 100);
    expect(state.votes.get(0)?.map((vote) => vote.message.seq)).toEqual([70, 80]);
    expect(step(state, { kind: "migrateNow", from: 1, message: migrateNow(1) }, 100)).toEqual([]);
  });

  it("f=2: disables every source's NIC1 before enabling any target's", () => {
    const state = makeState(2, [20, 21, 22]);
    for (const nodeId of [20, 21, 22]) admitToPool(state, nodeId, 0);
    const pairs = [
      { replicaId: 6, sourceNodeId: 6, targetNodeId: 21 },
      { replicaId: 5, sourceNodeId: 5, targetNodeId: 22 },
    ];
    const effects = [0, 1, 2].flatMap((from) =>
      step(state, { kind: "migrateNow", from, message: migrateNow(from, { pairs }) }, 100),
    );
    expect(effects.filter((e) => e.kind === "setNic")).toEqual([
      { kind: "setNic", nodeId: 6, nic: "nic1", enabled: false },
      { kind: "setNic", nodeId: 5, nic: "nic1", enabled: false },
      { kind: "setNic", nodeId: 21, nic: "nic1", enabled: true },
      { kind: "setNic", nodeId: 22, nic: "nic1", enabled: true },
    ]);
  });
});

describe("CM on relayed MIGRATE-NOWs (migration CI seed 198)", () => {
  const coprocessors = new Map(
    [0, 1, 2, 3, 10].map((nodeId) => [
      nodeId,
      new FakeCoprocessor(
        createFakeCoprocessorStore({ seed: fakeSeed(3, nodeId), codeDigest: new Uint8Array(32) }),
      ),
    ]),
  );
  const publicKeyOf = (nodeId: number) => coprocessors.get(nodeId)?.publicKey();
  const signed = (replicaId: number, signerNode: number, overrides: Partial<MigrateNow> = {}): MigrateNow => {
    const { type: _type, signature: _signature, ...fields } = migrateNow(replicaId, overrides);
    const signature = coprocessors.get(signerNode)!.sign(migrateNowSignedBytes(fields));
    return { type: "MigrateNow", ...fields, signature };
  };

  it("counts a copy as the vote of the replica it names, under that replica's node's signature", () => {
    const state = readyState();
    // r0's copy reached the CM only relayed by r1 (r0 sent its own into a partition and then
    // lost its memory): with r1's own, f+1 distinct replicas.
    const relayed = migrateNowInput(state, signed(0, 0), publicKeyOf, verifySignature);
    expect(relayed).toEqual({ kind: "migrateNow", from: 0, message: signed(0, 0) });
    expect(step(state, relayed!, 100)).toEqual([]);
    const own = migrateNowInput(state, signed(1, 1), publicKeyOf, verifySignature)!;
    expect(step(state, own, 100).filter((effect) => effect.kind === "migrationApplied")).toHaveLength(1);
  });

  it("verifies a source's copy under the source node until the CM applied the round", () => {
    const state = readyState();
    expect(migrateNowInput(state, signed(3, 3), publicKeyOf, verifySignature)?.from).toBe(3);
    expect(migrateNowInput(state, signed(3, 10), publicKeyOf, verifySignature)).toBeNull();
  });

  it("refuses a copy signed by another replica's node or naming no replica", () => {
    const state = readyState();
    expect(migrateNowInput(state, signed(2, 1), publicKeyOf, verifySignature)).toBeNull();
    expect(migrateNowInput(state, signed(7, 1), publicKeyOf, verifySignature)).toBeNull();
  });

  it("keeps a signer's newer vote when an older round's copy is relayed after it", () => {
    const state = readyState();
    const later = { seq: 72, checkpointDigest: new Uint8Array(32).fill(2) };
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, later) }, 100);
    // The older round's copy is held as a vote of its own (two rounds per replica), beside the newer.
    expect(step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100)).toEqual([]);
    expect(state.votes.get(0)?.map((vote) => vote.message.seq)).toEqual([migrateNow(0).seq, 72]);
    const effects = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, later) }, 100);
    expect(effects.filter((effect) => effect.kind === "migrationApplied")).toHaveLength(1);
  });
});

describe("CM votes across a replica id's nodes", () => {
  it("drops a vote a moved id's old node planted for a far-future round (f+1 never from f faulty at a time)", () => {
    const state = readyState();
    // Node 0, compromised while it runs id 0, plants a vote for seq 1e9 with invented pairs.
    const forged = { seq: 1e9, checkpointDigest: new Uint8Array(32).fill(9) };
    const fakePairs: MigrationPair[] = [{ replicaId: 1, sourceNodeId: 1, targetNodeId: 12 }];
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, { ...forged, pairs: fakePairs }) }, 1);
    // A genuine round moves id 0 to node 11 (correct from then on), which votes on later rounds.
    const moveZero: MigrationPair[] = [{ replicaId: 0, sourceNodeId: 0, targetNodeId: 11 }];
    step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, { seq: 5, pairs: moveZero }) }, 1);
    step(state, { kind: "migrateNow", from: 2, message: migrateNow(2, { seq: 5, pairs: moveZero }) }, 1);
    expect(state.members[0]).toBe(11);
    expect(state.votes.has(0)).toBe(false);
    const later = (seq: number) => migrateNow(0, { seq, checkpointDigest: new Uint8Array(32).fill(seq) });
    for (const seq of [10, 20]) step(state, { kind: "migrateNow", from: 0, message: later(seq) }, 1);
    // Later a single compromised replica (node 3, id 3) signs the same invented round: one vote.
    const effects = step(
      state,
      { kind: "migrateNow", from: 3, message: migrateNow(3, { ...forged, pairs: fakePairs }) },
      1,
    );
    expect(effects.filter((effect) => effect.kind === "migrationApplied")).toEqual([]);
    expect(state.members[1]).toBe(1);
    expect(state.lastMigrationSeq).toBe(5);
  });
});

describe("CM retiring sources", () => {
  function migrated(): CmState {
    const state = readyState();
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0) }, 100);
    step(state, { kind: "migrateNow", from: 1, message: migrateNow(1) }, 100);
    return state;
  }

  const forcedCutOff: CmEffect[] = [
    { kind: "setNic", nodeId: 3, nic: "nic1", enabled: false },
    { kind: "setNic", nodeId: 3, nic: "nic2", enabled: false },
    { kind: "adminNotification", nodeId: 3, reason: "sourceNotComplying" },
    { kind: "sanitize", nodeId: 3, method: "swapDisk" },
    { kind: "roleChanged", nodeId: 3, from: "retiring", to: "sanitizing" },
  ];

  it("cuts off a source with no compliance by the timeout, NIC1 then NIC2, then sanitizes", () => {
    const state = migrated();
    expect(step(state, { kind: "tick" }, 5_099).filter(about(3))).toEqual([]);
    expect(step(state, { kind: "tick" }, 5_100).filter(about(3))).toEqual(forcedCutOff);
  });

  it("cuts off at once a source reported as still sending", () => {
    const state = migrated();
    expect(step(state, { kind: "complianceCheck", nodeId: 3, complied: false }, 200)).toEqual(forcedCutOff);
  });

  it("sanitizes a compliant retired source back into the pool with NIC1 off", () => {
    const state = migrated();
    expect(step(state, { kind: "complianceCheck", nodeId: 3, complied: true }, 200)).toEqual([
      { kind: "sanitize", nodeId: 3, method: "swapDisk" },
      { kind: "roleChanged", nodeId: 3, from: "retiring", to: "sanitizing" },
    ]);
    admitToPool(state, 3, 300);
    expect(state.nodes.get(3)).toMatchObject({
      role: "standby",
      replicaId: null,
      nic1Enabled: false,
      nic2Enabled: true,
    });
    // No later timeout fires for it.
    expect(step(state, { kind: "tick" }, 5_100).filter((e) => e.kind === "adminNotification")).toEqual([]);
  });

  it("re-enables NIC2 of a cut-off source after its sanitization, before probing it", () => {
    const state = migrated();
    step(state, { kind: "complianceCheck", nodeId: 3, complied: false }, 200);
    expect(step(state, { kind: "sanitizeResult", nodeId: 3, ok: true }, 300).slice(0, 2)).toEqual([
      { kind: "setNic", nodeId: 3, nic: "nic2", enabled: true },
      { kind: "roleChanged", nodeId: 3, from: "sanitizing", to: "probing" },
    ]);
  });
});

describe("CM failures and repair", () => {
  it("escalates reboot -> disk swap -> damaged and calls an administrator", () => {
    const state = makeState();
    expect(step(state, { kind: "sanitizeResult", nodeId: 10, ok: false }, 0)).toEqual([
      { kind: "sanitize", nodeId: 10, method: "swapDisk" },
    ]);
    expect(step(state, { kind: "sanitizeResult", nodeId: 10, ok: false }, 0)).toEqual([
      { kind: "setNic", nodeId: 10, nic: "nic2", enabled: false },
      { kind: "roleChanged", nodeId: 10, from: "sanitizing", to: "damaged" },
      { kind: "adminNotification", nodeId: 10, reason: "needsRepair" },
    ]);
  });

  it("deregisters a standby (LEAVE-REQUEST) before sanitizing it on an intrusion report", () => {
    const state = readyState();
    expect(step(state, { kind: "intrusionReport", nodeId: 12, source: "ids" }, 0)).toEqual([
      { kind: "leaveRequest", nodeId: 12, counter: 1 },
      { kind: "sanitize", nodeId: 12, method: "swapDisk" },
      { kind: "roleChanged", nodeId: 12, from: "standby", to: "sanitizing" },
    ]);
  });

  it("keeps a damaged node out until repair: no probes, no admission, no promotion", () => {
    const state = damaged();
    expect(state.nodes.get(12)?.role).toBe("damaged");
    const ticks = [1_000, 2_000, 3_000].flatMap((nowMs) => step(state, { kind: "tick" }, nowMs));
    expect(ticks.filter(about(12))).toEqual([]);
    expect(step(state, { kind: "sanitizeResult", nodeId: 12, ok: true }, 3_000)).toEqual([]);
    expect(step(state, { kind: "nodeRegistered", nodeId: 12, counter: 9 }, 3_000)).toEqual([]);
    const pairs = [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 12 }];
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, { pairs }) }, 3_000);
    const effects = step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, { pairs }) }, 3_000);
    expect(effects).not.toContainEqual({ kind: "setNic", nodeId: 12, nic: "nic1", enabled: true });
    expect(effects).toContainEqual({ kind: "adminNotification", nodeId: 12, reason: "targetUnavailable" });
    expect(state.nodes.get(12)?.role).toBe("damaged");
  });

  it("sanitizes a repaired node with a clean disk and lets it rejoin the pool", () => {
    const state = damaged();
    expect(step(state, { kind: "repaired", nodeId: 12 }, 5_000)).toEqual([
      { kind: "sanitize", nodeId: 12, method: "swapDisk" },
      { kind: "roleChanged", nodeId: 12, from: "damaged", to: "sanitizing" },
    ]);
    const effects = admitToPool(state, 12, 6_000, 2);
    expect(effects[0]).toEqual({ kind: "setNic", nodeId: 12, nic: "nic2", enabled: true });
    expect(state.nodes.get(12)?.role).toBe("standby");
  });
});

describe("CM on-demand migration", () => {
  it("requests an on-demand migration when an active node's probe fails or times out, not more often than the retry period", () => {
    const state = readyState();
    const probes = step(state, { kind: "tick" }, 1_000);
    const first = step(
      state,
      { kind: "probeResult", nodeId: 2, probeId: probeIdOf(probes, 2), healthy: false },
      1_000,
    );
    expect(first).toEqual([
      { kind: "requestOnDemandMigration", nodeId: 2, replicaId: 2, reason: "probeFailed" },
    ]);
    step(state, { kind: "tick" }, 2_000); // probes again
    const timedOut = step(state, { kind: "tick" }, 2_200); // no answer: failed, but within the retry period
    expect(timedOut.filter((e) => e.kind === "requestOnDemandMigration")).toEqual([]);
  });

  it.each(["operator", "ids"] as const)(
    "requests an on-demand migration when the %s names an active node",
    (source) => {
      const state = readyState();
      expect(step(state, { kind: "intrusionReport", nodeId: 1, source }, 0)).toEqual([
        { kind: "requestOnDemandMigration", nodeId: 1, replicaId: 1, reason: source },
      ]);
      expect(step(state, { kind: "intrusionReport", nodeId: 99, source }, 0)).toEqual([]);
    },
  );

  /** Applies the round moving id 3 from node 3 to `targetNodeId` at `nowMs` (f+1 MIGRATE-NOWs). */
  function applyRound(state: CmState, targetNodeId: number, nowMs: number): CmEffect[] {
    const pairs = [{ replicaId: 3, sourceNodeId: 3, targetNodeId }];
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, { pairs }) }, nowMs);
    return step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, { pairs }) }, nowMs);
  }
  // Ticks also probe the active nodes, and unanswered probes ask for their own on-demand rounds.
  const onDemandOf = (effects: CmEffect[]) =>
    effects.filter((e) => e.kind === "requestOnDemandMigration" && e.reason === "targetNotStarted");

  it("requests an on-demand migration of an id whose target has not started its replica by the promotion deadline", () => {
    // Long runs (Open 7): a target that never starts leaves its id without a replica for good.
    const state = readyState();
    applyRound(state, 10, 100);
    expect(onDemandOf(step(state, { kind: "tick" }, 100 + config.promotionTimeoutMs - 1))).toEqual([]);
    const late = step(state, { kind: "tick" }, 100 + config.promotionTimeoutMs);
    expect(onDemandOf(late)).toEqual([
      { kind: "requestOnDemandMigration", nodeId: 10, replicaId: 3, reason: "targetNotStarted" },
    ]);
    expect(late).toContainEqual({ kind: "adminNotification", nodeId: 10, reason: "targetNotStarted" });
    // Repeated every onDemandRetryMs, never in between, until the id moves or the node starts.
    const retryAtMs = 100 + config.promotionTimeoutMs + config.onDemandRetryMs;
    expect(onDemandOf(step(state, { kind: "tick" }, retryAtMs - 1))).toEqual([]);
    expect(onDemandOf(step(state, { kind: "tick" }, retryAtMs))).toHaveLength(1);
    step(state, { kind: "replicaStarted", nodeId: 10, replicaId: 3 }, retryAtMs);
    expect(onDemandOf(step(state, { kind: "tick" }, retryAtMs + config.onDemandRetryMs))).toEqual([]);
  });

  it("asks nothing of a target that started in time, nor on another node's report", () => {
    const state = readyState();
    applyRound(state, 10, 100);
    step(state, { kind: "replicaStarted", nodeId: 11, replicaId: 3 }, 200); // not the target
    step(state, { kind: "replicaStarted", nodeId: 10, replicaId: 3 }, 300);
    expect(onDemandOf(step(state, { kind: "tick" }, 100 + 2 * config.promotionTimeoutMs))).toEqual([]);
  });

  it("requests an on-demand migration at once when the round's target is unavailable", () => {
    const state = damaged();
    const applied = applyRound(state, 12, 3_000);
    expect(applied).toContainEqual({ kind: "adminNotification", nodeId: 12, reason: "targetUnavailable" });
    expect(onDemandOf(step(state, { kind: "tick" }, 3_000))).toEqual([
      { kind: "requestOnDemandMigration", nodeId: 12, replicaId: 3, reason: "targetNotStarted" },
    ]);
    // The on-demand round moves the id to another standby: nothing more is asked for node 12.
    const pairs = [{ replicaId: 3, sourceNodeId: 12, targetNodeId: 10 }];
    step(state, { kind: "migrateNow", from: 0, message: migrateNow(0, { seq: 80, pairs }) }, 4_000);
    step(state, { kind: "migrateNow", from: 1, message: migrateNow(1, { seq: 80, pairs }) }, 4_000);
    step(state, { kind: "replicaStarted", nodeId: 10, replicaId: 3 }, 5_000);
    expect(onDemandOf(step(state, { kind: "tick" }, 100_000))).toEqual([]);
  });

  it("ignores a probe answer for a probe it did not send", () => {
    const state = readyState();
    expect(step(state, { kind: "probeResult", nodeId: 2, probeId: 12345, healthy: false }, 0)).toEqual([]);
    expect(state.drops.staleProbeResult).toBe(1);
  });
});

describe("CM periodic re-sanitization of standbys", () => {
  it("reboots standbys whose registration is old but always keeps f registered", () => {
    const state = createCmState(
      { ...config, standbyResanitizeIntervalMs: 500, probeIntervalMs: 100_000 },
      [0, 1, 2, 3, 10, 11].map((nodeId) => (nodeId < 4 ? { nodeId, replicaId: nodeId } : { nodeId })),
    );
    step(state, { kind: "start" }, 0);
    admitToPool(state, 10, 0);
    admitToPool(state, 11, 0);
    const effects = step(state, { kind: "tick" }, 600);
    expect(effects.filter((e) => e.kind === "sanitize")).toEqual([
      { kind: "sanitize", nodeId: 10, method: "reboot" },
    ]);
    expect(state.nodes.get(11)?.role).toBe("standby");
  });
});

describe("CM configuration", () => {
  it.each([
    ["f out of range", { ...config, f: 4 }, /f must be/],
    ["a zero probe interval", { ...config, probeIntervalMs: 0 }, /probeIntervalMs/],
    [
      "a negative re-sanitization interval",
      { ...config, standbyResanitizeIntervalMs: -1 },
      /standbyResanitize/,
    ],
  ])("refuses %s", (_name, bad, message) => {
    expect(() => createCmState(bad, [])).toThrow(message);
  });

  it("refuses a pool smaller than f", () => {
    expect(() =>
      createCmState(
        config,
        [0, 1, 2, 3].map((nodeId) => ({ nodeId, replicaId: nodeId })),
      ),
    ).toThrow(/at least f/);
  });
});
