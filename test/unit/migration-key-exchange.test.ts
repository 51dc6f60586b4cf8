/**
 * Proves the signed key exchange (paper sections 2 and 3.1; bft/migration/key-exchange.ts): a
 * standby's initiation and a replica's answer give both nodes the same MAC key; a forged
 * signature, an unknown node, a key of the wrong length, a low-order key, a message for another
 * node, a stale counter, a conflicting key and replays (of an initiation: answered again with the
 * same key; of an answer: ignored) are dropped and counted; crossed initiations settle on the
 * lower node's; and on the wire, node-to-node traffic needs the exchanged key, the JOIN flow does
 * not, and a node's old key stops working once it re-joins with a higher counter; a target
 * certified by 2f+1 MIGRATE-NOWs whose registration never completed exchanges keys all the same
 * (migration CI seed 198).
 * How: KeyExchangeTables over FakeCoprocessors and a seeded X25519, driven like a host would;
 * Wires with SessionKeyStores fed from the tables' peerKey effects.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  createFakeCoprocessorStore,
  createX25519KeyAgreement,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import type {
  JoinRequest,
  MembershipCertificate,
  Message,
  MigrateNow,
  Principal,
} from "../../bft/messages.js";
import {
  CM_VOUCH_AFTER_MS,
  joinApprovedSignedBytes,
  joinRequestSignedBytes,
  type KeyExchange,
  type KeyExchangeEffect,
  KeyExchangeTable,
  keyExchangeSignedBytes,
  membershipCertificateSignedBytes,
  migrateNowSignedBytes,
  type RosterEntry,
} from "../../bft/migration/index.js";
import { defaultReplicaConfig, Replica, StandbyNode } from "../../bft/replica/index.js";
import {
  createDerivedKeyRing,
  decodeMessage,
  encodeMessageUnchecked,
  fitsInFrame,
  SessionKeyStore,
  Wire,
} from "../../bft/wire/index.js";
import { ChainApp, makeDeps } from "./replica-harness.js";

const STANDBY = 20;
const REPLICA_NODE = 1;
const OTHER_NODE = 2;
const OUTSIDER = 30;
const nodes = [0, REPLICA_NODE, OTHER_NODE, 3, STANDBY, OUTSIDER];
const coprocessors = new Map(
  nodes.map((nodeId) => [
    nodeId,
    new FakeCoprocessor(
      createFakeCoprocessorStore({ seed: fakeSeed(7, nodeId), codeDigest: new Uint8Array(32) }),
    ),
  ]),
);
// The outsider has a coprocessor but is not in the CM's roster.
const roster: RosterEntry[] = nodes
  .filter((nodeId) => nodeId !== OUTSIDER)
  .map((nodeId) => ({ nodeId, publicKey: coprocessors.get(nodeId)!.publicKey() }));

function seeded(label: string): (length: number) => Uint8Array {
  let drawn = 0;
  return (length) => {
    drawn += 1;
    return new Uint8Array(createHash("sha256").update(`${label}/${drawn}`).digest()).subarray(0, length);
  };
}

function table(nodeId: number, counter: number): KeyExchangeTable {
  const coprocessor = coprocessors.get(nodeId)!;
  return new KeyExchangeTable(
    { nodeId, counter, roster, replicaCount: 4 },
    {
      sign: (bytes) => coprocessor.sign(bytes),
      verify: verifySignature,
      keyAgreement: createX25519KeyAgreement(seeded(`node ${nodeId} counter ${counter}`)),
    },
  );
}

const sends = (effects: readonly KeyExchangeEffect[]) =>
  effects.flatMap((effect) => (effect.kind === "send" ? [effect] : []));
const keys = (effects: readonly KeyExchangeEffect[]) =>
  effects.flatMap((effect) => (effect.kind === "peerKey" ? [effect] : []));
const standbyFrom: Principal = { kind: "node", id: STANDBY };
const replicaFrom: Principal = { kind: "replica", id: 1 };

/** The standby initiates to replica 1 (on REPLICA_NODE), which answers. */
function exchange(standbyCounter = 3, replicaCounter = 5) {
  const standby = table(STANDBY, standbyCounter);
  const replica = table(REPLICA_NODE, replicaCounter);
  const initiation = sends(standby.maintain([{ nodeId: REPLICA_NODE, to: replicaFrom }], null))[0]!.message;
  const answerEffects = replica.onMessage(standbyFrom, initiation, 1);
  const answer = sends(answerEffects)[0]!.message;
  const completion = standby.onMessage(replicaFrom, answer, null);
  return { standby, replica, initiation, answer, answerEffects, completion };
}

/** A message re-signed by `nodeId`'s coprocessor after `change` (a well-formed, authentic message). */
function resigned(message: KeyExchange, change: Partial<KeyExchange>, nodeId = message.nodeId): KeyExchange {
  const { type: _type, signature: _signature, ...fields } = { ...message, ...change };
  return {
    type: "KeyExchange",
    ...fields,
    signature: coprocessors.get(nodeId)!.sign(keyExchangeSignedBytes(fields)),
  };
}

describe("KeyExchangeTable", () => {
  it("gives the standby and the replica the same key, bound to the exchange", () => {
    const { standby, replica, initiation, answer, answerEffects, completion } = exchange();
    expect(initiation).toMatchObject({
      nodeId: STANDBY,
      replicaId: null,
      counter: 3,
      peerNodeId: REPLICA_NODE,
    });
    expect(initiation.peerCounter).toBe(0);
    expect(answer).toMatchObject({ nodeId: REPLICA_NODE, replicaId: 1, counter: 5, peerNodeId: STANDBY });
    expect(answer.peerCounter).toBe(3);
    const atReplica = keys(answerEffects)[0]!;
    const atStandby = keys(completion)[0]!;
    expect(atReplica.nodeId).toBe(STANDBY);
    expect(atStandby.nodeId).toBe(REPLICA_NODE);
    expect(atReplica.key).toHaveLength(32);
    expect(atStandby.key).toEqual(atReplica.key);
    expect(standby.hasKey(REPLICA_NODE)).toBe(true);
    expect(replica.hasKey(STANDBY)).toBe(true);
    // A second exchange (the standby re-joined: higher counter) gives another key.
    const again = exchange(4, 5);
    expect(keys(again.completion)[0]!.key).not.toEqual(atStandby.key);
  });

  it("re-sends a pending initiation with the same key until answered, then stops", () => {
    const standby = table(STANDBY, 3);
    const peers = [{ nodeId: REPLICA_NODE, to: replicaFrom }];
    const first = sends(standby.maintain(peers, null))[0]!.message;
    const second = sends(standby.maintain(peers, null))[0]!.message;
    expect(second.keyAgreementPublicKey).toEqual(first.keyAgreementPublicKey);
    const answer = sends(table(REPLICA_NODE, 5).onMessage(standbyFrom, first, 1))[0]!.message;
    standby.onMessage(replicaFrom, answer, null);
    expect(standby.maintain(peers, null)).toEqual([]);
    // Promoted to replica 3 with the initiation still pending: it is re-signed with the replica id.
    const promoted = table(STANDBY, 3);
    promoted.maintain(peers, null);
    expect(sends(promoted.maintain(peers, 3))[0]!.message.replicaId).toBe(3);
  });

  it("rejects a bad signature, an unknown node and a message for another node", () => {
    const { initiation } = exchange();
    const replica = table(REPLICA_NODE, 5);
    const forged = {
      ...initiation,
      signature: Uint8Array.from(initiation.signature, (b, i) => (i === 0 ? b ^ 1 : b)),
    };
    expect(replica.onMessage(standbyFrom, forged, 1)).toEqual([]);
    expect(replica.drops.badSignature).toBe(1);
    // Signed by a key that is not the roster's for the node it names.
    const wrongSigner = resigned(initiation, {}, OTHER_NODE);
    expect(replica.onMessage(standbyFrom, wrongSigner, 1)).toEqual([]);
    expect(replica.drops.badSignature).toBe(2);
    const outsider = resigned(initiation, { nodeId: OUTSIDER }, OUTSIDER);
    expect(replica.onMessage({ kind: "node", id: OUTSIDER }, outsider, 1)).toEqual([]);
    expect(replica.drops.unknownNode).toBe(1);
    // The standby's initiation to REPLICA_NODE replayed to another node.
    expect(table(OTHER_NODE, 5).onMessage(standbyFrom, initiation, 2)).toEqual([]);
    expect(replica.hasKey(STANDBY)).toBe(false);
  });

  it("rejects fields out of range and a sender that does not match the message", () => {
    const { initiation } = exchange();
    const replica = table(REPLICA_NODE, 5);
    const short = resigned(initiation, { keyAgreementPublicKey: new Uint8Array(31).fill(9) });
    const long = resigned(initiation, { keyAgreementPublicKey: new Uint8Array(33).fill(9) });
    const zeroCounter = resigned(initiation, { counter: 0 });
    const claimsReplica = resigned(initiation, { replicaId: 2 });
    for (const message of [short, long, zeroCounter, claimsReplica])
      expect(replica.onMessage(standbyFrom, message, 1)).toEqual([]);
    // Sent by replica 2's frame but naming no replica id.
    expect(replica.onMessage({ kind: "replica", id: 2 }, initiation, 1)).toEqual([]);
    expect(replica.drops.malformed).toBe(5);
    // The wire's codec refuses a key of the wrong length before any core sees it.
    const decoded = decodeMessage(encodeMessageUnchecked(short));
    expect(decoded.ok ? "ok" : decoded.reason).toBe("keyLength");
    // A low-order point (here the identity, u = 0 is all zeros) gives no shared secret.
    const lowOrder = resigned(initiation, { keyAgreementPublicKey: new Uint8Array(32) });
    expect(replica.onMessage(standbyFrom, lowOrder, 1)).toEqual([]);
    expect(replica.drops.badKey).toBe(1);
    expect(replica.hasKey(STANDBY)).toBe(false);
  });

  it("answers a replayed initiation again with the same key and ignores a replayed answer", () => {
    const { standby, replica, initiation, answer } = exchange();
    const again = replica.onMessage(standbyFrom, initiation, 1);
    expect(keys(again)).toEqual([]);
    expect(sends(again)[0]!.message.keyAgreementPublicKey).toEqual(answer.keyAgreementPublicKey);
    expect(replica.drops.replay).toBe(1);
    expect(standby.onMessage(replicaFrom, answer, null)).toEqual([]);
    expect(standby.drops.replay).toBe(1);
  });

  it("rejects a stale counter, a conflicting key and an answer to nothing pending", () => {
    const { replica, initiation, answer } = exchange(3, 5);
    const older = resigned(initiation, { counter: 2 });
    expect(replica.onMessage(standbyFrom, older, 1)).toEqual([]);
    expect(replica.drops.stale).toBe(1);
    const conflicting = resigned(initiation, { keyAgreementPublicKey: answer.keyAgreementPublicKey });
    expect(replica.onMessage(standbyFrom, conflicting, 1)).toEqual([]);
    expect(replica.drops.conflicting).toBe(1);
    // A fresh standby table (counter 4) never initiated to REPLICA_NODE: the old answer is unexpected.
    const fresh = table(STANDBY, 4);
    expect(fresh.onMessage(replicaFrom, answer, null)).toEqual([]);
    expect(fresh.drops.unexpectedAnswer).toBe(1);
    // Its own initiation pending, an answer to the older counter does not complete it.
    fresh.maintain([{ nodeId: REPLICA_NODE, to: replicaFrom }], null);
    expect(fresh.onMessage(replicaFrom, answer, null)).toEqual([]);
    expect(fresh.drops.unexpectedAnswer).toBe(2);
    expect(fresh.hasKey(REPLICA_NODE)).toBe(false);
  });

  it("settles crossed initiations on the lower node's, even when the abandoned one arrives late", () => {
    const low = table(0, 2);
    const high = table(REPLICA_NODE, 4);
    const lowInit = sends(low.maintain([{ nodeId: REPLICA_NODE, to: { kind: "replica", id: 1 } }], 0))[0]!
      .message;
    const highInit = sends(high.maintain([{ nodeId: 0, to: { kind: "replica", id: 0 } }], 1))[0]!.message;
    // The higher node answers the lower one's and abandons its own.
    const answered = high.onMessage({ kind: "replica", id: 0 }, lowInit, 1);
    const answer = sends(answered)[0]!.message;
    expect(low.onMessage({ kind: "replica", id: 1 }, answer, 0).map((e) => e.kind)).toEqual(["peerKey"]);
    // The higher node's initiation, delayed past the answer, must not replace the key.
    expect(low.onMessage({ kind: "replica", id: 1 }, highInit, 0)).toEqual([]);
    expect(low.drops.stale).toBe(1);
    const low2 = table(0, 3);
    const high2 = table(REPLICA_NODE, 5);
    const low2Init = sends(low2.maintain([{ nodeId: REPLICA_NODE, to: { kind: "replica", id: 1 } }], 0))[0]!
      .message;
    const high2Init = sends(high2.maintain([{ nodeId: 0, to: { kind: "replica", id: 0 } }], 1))[0]!.message;
    // Delivered before the answer instead, it is a collision: the lower node sends its own again.
    expect(low2.onMessage({ kind: "replica", id: 1 }, high2Init, 0)).toEqual([
      { kind: "send", to: { kind: "replica", id: 1 }, message: low2Init },
    ]);
    expect(low2.drops.collision).toBe(1);
    const answered2 = high2.onMessage({ kind: "replica", id: 0 }, low2Init, 1);
    const atHigh = keys(answered2)[0]!;
    const atLow = keys(low2.onMessage({ kind: "replica", id: 1 }, sends(answered2)[0]!.message, 0))[0]!;
    expect(atLow.key).toEqual(atHigh.key);
    // Both hold the key: neither initiates again.
    expect(high2.maintain([{ nodeId: 0, to: { kind: "replica", id: 0 } }], 1)).toEqual([]);
    expect(low2.maintain([{ nodeId: REPLICA_NODE, to: { kind: "replica", id: 1 } }], 0)).toEqual([]);
  });
});

describe("Wire with session keys", () => {
  const clusterSecret = new Uint8Array(32).fill(3);
  const membership = [0, REPLICA_NODE, OTHER_NODE, 3];

  function replicaWire(store: SessionKeyStore): Wire {
    return new Wire({
      self: { kind: "replica", id: 1 },
      n: 4,
      keys: createDerivedKeyRing({ clusterSecret, self: { kind: "node", id: REPLICA_NODE } }),
      replicaPublicKeys: [],
      membership,
      sessionKeys: store,
    });
  }

  function standbyWire(store: SessionKeyStore): Wire {
    return new Wire({
      self: standbyFrom,
      n: 4,
      keys: createDerivedKeyRing({ clusterSecret, self: standbyFrom }),
      replicaPublicKeys: [],
      membership,
      sessionKeys: store,
    });
  }

  const fetch: Message = {
    type: "FetchState",
    seq: 10,
    stateDigest: new Uint8Array(32).fill(1),
    chunkIndex: 0,
    replicaId: 2,
  };
  const to: Principal = { kind: "replica", id: 1 };
  const reason = (wire: Wire, frame: Uint8Array) => {
    const opened = wire.open(frame);
    return opened.ok ? "ok" : opened.reason;
  };

  it("needs the exchanged key for state transfer but not for the signed JOIN and KEY-EXCHANGE flow", () => {
    const replicaStore = new SessionKeyStore(new Uint8Array(32).fill(11));
    const standbyStore = new SessionKeyStore(new Uint8Array(32).fill(12));
    const replica = replicaWire(replicaStore);
    const standby = standbyWire(standbyStore);
    expect(reason(replica, standby.seal(fetch, to))).toBe("sessionKeyMissing");
    const { initiation, answerEffects, completion } = exchange();
    expect(reason(replica, standby.seal(initiation, to))).toBe("ok");
    for (const effect of keys(answerEffects)) replicaStore.set(effect.nodeId, effect.key);
    // The replica holds the key but the standby does not yet: its frame carries no valid MAC.
    expect(reason(replica, standby.seal(fetch, to))).toBe("macInvalid");
    for (const effect of keys(completion)) standbyStore.set(effect.nodeId, effect.key);
    expect(reason(replica, standby.seal(fetch, to))).toBe("ok");
  });

  it("stops accepting a node's old key once it re-joins with a higher counter", () => {
    const replicaStore = new SessionKeyStore(new Uint8Array(32).fill(11));
    const oldStore = new SessionKeyStore(new Uint8Array(32).fill(12));
    const replica = table(REPLICA_NODE, 5);
    const replicaSide = replicaWire(replicaStore);
    const install = (store: SessionKeyStore, effects: readonly KeyExchangeEffect[]) => {
      for (const effect of keys(effects)) store.set(effect.nodeId, effect.key);
    };
    // First registration (counter 3).
    const before = table(STANDBY, 3);
    const init = sends(before.maintain([{ nodeId: REPLICA_NODE, to }], null))[0]!.message;
    const answerEffects = replica.onMessage(standbyFrom, init, 1);
    install(replicaStore, answerEffects);
    install(oldStore, before.onMessage(replicaFrom, sends(answerEffects)[0]!.message, null));
    const oldWire = standbyWire(oldStore);
    expect(reason(replicaSide, oldWire.seal(fetch, to))).toBe("ok");
    // Sanitized: the replica accepts its fresh JOIN-REQUEST and forgets the key at once.
    install(replicaStore, replica.forget(STANDBY));
    expect(reason(replicaSide, oldWire.seal(fetch, to))).toBe("sessionKeyMissing");
    // Registered again (counter 4): a new exchange, and the old key is worthless.
    const newStore = new SessionKeyStore(new Uint8Array(32).fill(13));
    const after = table(STANDBY, 4);
    const init2 = sends(after.maintain([{ nodeId: REPLICA_NODE, to }], null))[0]!.message;
    const answer2 = replica.onMessage(standbyFrom, init2, 1);
    install(replicaStore, answer2);
    install(newStore, after.onMessage(replicaFrom, sends(answer2)[0]!.message, null));
    expect(reason(replicaSide, oldWire.seal(fetch, to))).toBe("macInvalid");
    expect(reason(replicaSide, standbyWire(newStore).seal(fetch, to))).toBe("ok");
    // The old initiation replayed now is stale: it cannot bring the old key back.
    expect(replica.onMessage(standbyFrom, init, 1)).toEqual([]);
    expect(replica.drops.stale).toBe(1);
  });
});

describe("key exchange in the cores", () => {
  const members = [0, REPLICA_NODE, OTHER_NODE, 3].map((nodeId, replicaId) => ({
    replicaId,
    nodeId,
    address: `10.1.0.${nodeId}:7000`,
  }));

  function replica(): Replica {
    const coprocessor = coprocessors.get(REPLICA_NODE)!;
    const app = new ChainApp();
    return new Replica(
      {
        ...defaultReplicaConfig(1, 1),
        migration: {
          nodeId: REPLICA_NODE,
          roster,
          members,
          cmPublicKeys: [coprocessors.get(OUTSIDER)!.publicKey()],
          interval: { p0: 10, toeMs0: 50, tsMs0: 5000 },
          migrationTimeoutMsMin: 400,
          proactive: false,
          joinTimeSkewMsMax: 1000,
          migrateNowRetransmitsMax: 20,
          targetWaitMsMax: 0,
        },
      },
      {
        ...makeDeps(app),
        migration: {
          sign: (bytes) => coprocessor.sign(bytes),
          verify: verifySignature,
          authenticateInitMigration: () => new Uint8Array(0),
          initMigrationAuthentic: () => true,
          fitsInFrame,
          keyExchange: { counter: 5, keyAgreement: createX25519KeyAgreement(seeded("replica core")) },
        },
      },
    );
  }

  function standby(cmPublicKeys: Uint8Array[] = []): StandbyNode {
    const coprocessor = coprocessors.get(STANDBY)!;
    const app = new ChainApp();
    return new StandbyNode(
      {
        registration: {
          nodeId: STANDBY,
          f: 1,
          address: "10.2.0.20:7000",
          publicKey: coprocessor.publicKey(),
          retransmitIntervalMs: 300,
        },
        roster,
        members,
        cmPublicKeys,
        fetchTimeoutMs: 300,
      },
      {
        sign: (bytes) => coprocessor.sign(bytes),
        verify: verifySignature,
        digest: makeDeps(app).digest,
        app,
        keyAgreement: createX25519KeyAgreement(seeded("standby core")),
      },
    );
  }

  /** JOIN-APPROVED from replica `id`, signed by node `signer`'s coprocessor. */
  function signedApproval(id: number, signer: number) {
    const fields = { counter: 3, seq: 7, nodeId: STANDBY, replicaId: id };
    const signature = coprocessors.get(signer)!.sign(joinApprovedSignedBytes(fields));
    return {
      kind: "message" as const,
      from: { kind: "replica" as const, id },
      message: { type: "JoinApproved" as const, ...fields, signature },
    };
  }

  it("a standby exchanges keys with every member after 2f+1 approvals, and a replica answers", () => {
    const node = standby();
    node.step({ kind: "sanitized" }, 0);
    node.step({ kind: "counterIncremented", counter: 3 }, 0);
    const approve = (id: number) => node.step(signedApproval(id, members[id]!.nodeId), 10);
    // Approvals signed by a node other than the one running the sender's id do not count.
    expect(node.step(signedApproval(0, OUTSIDER), 10)).toEqual([]);
    expect(node.step(signedApproval(1, STANDBY), 10)).toEqual([]);
    expect(node.step({ ...signedApproval(2, OTHER_NODE), from: { kind: "replica", id: 1 } }, 10)).toEqual([]);
    expect(node.metrics.approvalsDropped).toBe(3);
    expect(approve(0).filter((e) => e.kind === "send")).toEqual([]);
    approve(1);
    expect(node.registration.phase.phase).toBe("joining");
    const effects = approve(2);
    const initiations = effects.flatMap((e) => (e.kind === "send" ? [e] : []));
    expect(initiations.map((e) => e.to)).toEqual(members.map((m) => ({ kind: "replica", id: m.replicaId })));
    expect(initiations.every((e) => e.message.type === "KeyExchange" && e.message.counter === 3)).toBe(true);
    expect(effects.at(-1)).toEqual({ kind: "setTimer", timer: "keyExchange", afterMs: 300 });
    const core = replica();
    core.start(0);
    const toReplica1 = initiations[1]!.message;
    const answered = core.step({ kind: "message", from: standbyFrom, message: toReplica1 }, 20);
    const installed = answered.find((e) => e.kind === "peerKey");
    const answer = answered.find((e) => e.kind === "send" && e.message.type === "KeyExchange");
    expect(installed).toMatchObject({ kind: "peerKey", nodeId: STANDBY });
    expect(answer).toMatchObject({ kind: "send", to: standbyFrom });
    if (answer?.kind !== "send") throw new Error("expected the answer");
    const completed = node.step({ kind: "message", from: replicaFrom, message: answer.message }, 30);
    expect(completed).toEqual([{ kind: "peerKey", nodeId: REPLICA_NODE, key: installed?.key }]);
    expect(node.keyExchange?.hasKey(REPLICA_NODE)).toBe(true);
  });

  /** MIGRATE-NOW of a round at seq 8 moving r3 to this standby, from replica `id` signed by its node. */
  function signedMigrateNow(id: number) {
    const fields = {
      view: 0,
      seq: 8,
      checkpointDigest: new Uint8Array(32).fill(4),
      pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: STANDBY }],
      replicaId: id,
    };
    const signature = coprocessors.get(members[id]!.nodeId)!.sign(migrateNowSignedBytes(fields));
    return {
      kind: "message" as const,
      from: { kind: "replica" as const, id },
      message: { type: "MigrateNow" as const, ...fields, signature },
    };
  }

  it("a certified target whose approvals were lost exchanges keys under its JOIN-REQUEST's l (seed 198)", () => {
    const node = standby();
    node.step({ kind: "sanitized" }, 0);
    node.step({ kind: "counterIncremented", counter: 3 }, 0);
    // One approval only: the others went into a partition, and the replicas will not approve a
    // node their registry has promoted since.
    node.step(signedApproval(0, members[0]!.nodeId), 10);
    expect(node.registration.phase.phase).toBe("joining");
    expect(node.step(signedMigrateNow(0), 20)).toEqual([]);
    expect(node.step(signedMigrateNow(1), 20)).toEqual([]);
    const effects = node.step(signedMigrateNow(2), 20);
    expect(node.fetching?.seq).toBe(8);
    const initiations = effects.flatMap((e) =>
      e.kind === "send" && e.message.type === "KeyExchange" ? [e.message] : [],
    );
    expect(initiations.map((message) => message.peerNodeId)).toEqual([0, REPLICA_NODE, OTHER_NODE, 3]);
    expect(initiations.every((message) => message.counter === 3)).toBe(true);
    // The initiations go out before the first FETCH-STATE.
    const firstFetch = effects.findIndex((e) => e.kind === "send" && e.message.type === "FetchState");
    const lastInitiation = effects.findLastIndex(
      (e) => e.kind === "send" && e.message.type === "KeyExchange",
    );
    expect(lastInitiation).toBeLessThan(firstFetch);
    // Registration completing later under the same l keeps the exchange already under way.
    node.step(signedApproval(1, REPLICA_NODE), 30);
    const registered = node.step(signedApproval(2, OTHER_NODE), 30);
    expect(node.registration.phase.phase).toBe("registered");
    expect(registered.some((e) => e.kind === "send" && e.message.type === "KeyExchange")).toBe(false);
    expect(node.keyExchange?.counter).toBe(3);
  });

  /** The CM's MEMBERSHIP-CERTIFICATE (OUTSIDER's coprocessor signs as the CM) after a round at `seq`. */
  function certificate(seq: number, digestByte: number, nodeOfId3: number) {
    const fields = {
      seq,
      checkpointDigest: new Uint8Array(32).fill(digestByte),
      members: members.map((member) =>
        member.replicaId === 3 ? { ...member, nodeId: nodeOfId3, address: "10.2.0.20:7000" } : member,
      ),
      cmId: 0,
    };
    const message: MembershipCertificate = {
      type: "MembershipCertificate",
      ...fields,
      signature: coprocessors.get(OUTSIDER)!.sign(membershipCertificateSignedBytes(fields)),
    };
    return { kind: "message" as const, from: { kind: "cm" as const, id: 0 }, message };
  }

  /** A standby that knows the CM's key (OUTSIDER signs as the CM), sanitized and joining under l=3. */
  function joiningStandbyWithCm(): StandbyNode {
    const node = standby([coprocessors.get(OUTSIDER)!.publicKey()]);
    node.step({ kind: "sanitized" }, 0);
    node.step({ kind: "counterIncremented", counter: 3 }, 0);
    return node;
  }

  it("f+1 MIGRATE-NOWs certify a target when the CM's certificate names the same round (soak seed 61137)", () => {
    // f=1: r1 Byzantine and silent, the source r3 one COMMIT short of the round when the others
    // moved its id here (they no longer answer its node, the CM cuts it off): only r0 and r2 ever
    // send MIGRATE-NOW.
    const node = joiningStandbyWithCm();
    const fetches = (effects: readonly { kind: string; message?: Message }[]) =>
      effects.filter((e) => e.kind === "send" && e.message?.type === "FetchState").length;
    expect(node.step(signedMigrateNow(0), 20)).toEqual([]);
    expect(node.step(signedMigrateNow(2), 20)).toEqual([]);
    expect(node.fetching).toBeNull();
    // A certificate the CM did not sign, or one naming another state, vouches for nothing.
    const forged = certificate(8, 4, STANDBY);
    expect(fetches(node.step({ ...forged, message: { ...forged.message, cmId: 1 } }, 30))).toBe(0);
    expect(fetches(node.step(certificate(8, 5, STANDBY), 30))).toBe(0);
    expect(node.fetching).toBeNull();
    // The CM's own, for round 8 with digest C moving r3 here. For CM_VOUCH_AFTER_MS the target
    // still waits for the paper's 2f+1; then the two votes, resent, certify the round with it.
    expect(fetches(node.step(certificate(8, 4, STANDBY), 40))).toBe(0);
    // A copy of it keeps the time the first came.
    expect(fetches(node.step(certificate(8, 4, STANDBY), 40 + CM_VOUCH_AFTER_MS / 2))).toBe(0);
    expect(fetches(node.step(signedMigrateNow(0), 40 + CM_VOUCH_AFTER_MS - 1))).toBe(0);
    expect(node.fetching).toBeNull();
    expect(fetches(node.step(signedMigrateNow(2), 40 + CM_VOUCH_AFTER_MS))).toBe(1);
    expect(node.fetching?.seq).toBe(8);
    expect(node.promoted).toBe(false);
  });

  it("a CM certificate held for CM_VOUCH_AFTER_MS lets the (f+1)-th MIGRATE-NOW certify, not the f-th", () => {
    const node = joiningStandbyWithCm();
    expect(node.step(certificate(8, 4, STANDBY), 10)).toEqual([]);
    const later = 10 + CM_VOUCH_AFTER_MS;
    expect(node.step(signedMigrateNow(1), later)).toEqual([]);
    expect(node.fetching).toBeNull();
    const effects = node.step(signedMigrateNow(2), later);
    expect(effects.some((e) => e.kind === "send" && e.message.type === "FetchState")).toBe(true);
    expect(node.fetching?.seq).toBe(8);
  });

  it("a CM certificate of another round does not vouch for f+1 MIGRATE-NOWs", () => {
    const node = joiningStandbyWithCm();
    expect(node.step(certificate(9, 4, STANDBY), 10)).toEqual([]);
    const later = 10 + CM_VOUCH_AFTER_MS;
    expect(node.step(signedMigrateNow(0), later)).toEqual([]);
    expect(node.step(signedMigrateNow(1), later)).toEqual([]);
    expect(node.fetching).toBeNull();
    // The paper's 2f+1 still certify without the CM.
    expect(node.step(signedMigrateNow(2), later).some((e) => e.kind === "send")).toBe(true);
    expect(node.fetching?.seq).toBe(8);
  });

  /** MIGRATE-NOW of a round at seq 12 moving id 0 from node 0 to the standby, from replica `id`. */
  function migrateNowMovingId0(id: number) {
    const fields = {
      view: 2,
      seq: 12,
      checkpointDigest: new Uint8Array(32).fill(7),
      pairs: [{ replicaId: 0, sourceNodeId: 0, targetNodeId: STANDBY }],
      replicaId: id,
    };
    const message: MigrateNow = {
      type: "MigrateNow",
      ...fields,
      signature: coprocessors.get(members[id]!.nodeId)!.sign(migrateNowSignedBytes(fields)),
    };
    return { kind: "message" as const, from: { kind: "replica" as const, id }, message };
  }

  it("a standby certified as a target before 2f+1 approvals reached it exchanges keys (long run seed 4)", () => {
    // The replicas executed its JOIN, but two of their approvals were lost and they approve no
    // more once a round made it a target (nodeActive): without keys it could never fetch.
    const node = standby();
    node.step({ kind: "sanitized" }, 0);
    node.step({ kind: "counterIncremented", counter: 3 }, 0);
    node.step(signedApproval(0, members[0]!.nodeId), 10);
    expect(node.registration.phase.phase).toBe("joining");
    expect(node.step(migrateNowMovingId0(1), 20)).toEqual([]);
    expect(node.step(migrateNowMovingId0(2), 20)).toEqual([]);
    expect(node.keyExchange).toBeNull();
    const effects = node.step(migrateNowMovingId0(3), 20);
    const initiations = effects.flatMap((e) =>
      e.kind === "send" && e.message.type === "KeyExchange" ? [e.message] : [],
    );
    expect(initiations.map((m) => m.peerNodeId).sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
    expect(initiations.every((m) => m.counter === 3)).toBe(true);
    expect(effects.some((e) => e.kind === "send" && e.message.type === "FetchState")).toBe(true);
    expect(node.keyExchange?.counter).toBe(3);
    // A fetch retry does not start a second table, nor do late approvals completing registration
    // under the same counter (migration CI seeds 121 and 130 asserted on them).
    const table = node.keyExchange;
    const retried = node.step({ kind: "timer", timer: "fetch" }, 400);
    expect(retried.some((e) => e.kind === "send" && e.message.type === "KeyExchange")).toBe(false);
    node.step(signedApproval(1, members[1]!.nodeId), 410);
    const registered = node.step(signedApproval(2, members[2]!.nodeId), 420);
    expect(node.registration.phase.phase).toBe("registered");
    expect(registered.some((e) => e.kind === "send" && e.message.type === "KeyExchange")).toBe(false);
    expect(node.keyExchange).toBe(table);
  });

  it("a replica initiates with the other members at start and forgets a re-joining node's key", () => {
    const core = replica();
    const started = core
      .start(0)
      .flatMap((e) => (e.kind === "send" && e.message.type === "KeyExchange" ? [e] : []));
    expect(started.map((e) => e.to)).toEqual([0, 2, 3].map((id) => ({ kind: "replica", id })));
    const { initiation } = exchange(3, 5);
    const answered = core.step({ kind: "message", from: standbyFrom, message: initiation }, 10);
    expect(answered.some((e) => e.kind === "peerKey" && e.key !== null)).toBe(true);
    // The node was sanitized and asks to join again with a higher l: its old key is void at once.
    const fields = {
      counter: 4,
      nodeId: STANDBY,
      publicKey: coprocessors.get(STANDBY)!.publicKey(),
      address: "10.2.0.20:7000",
    };
    const join: JoinRequest = {
      type: "JoinRequest",
      ...fields,
      signature: coprocessors.get(STANDBY)!.sign(joinRequestSignedBytes(fields)),
    };
    const joined = core.step({ kind: "message", from: standbyFrom, message: join }, 20);
    expect(joined).toContainEqual({ kind: "peerKey", nodeId: STANDBY, key: null });
    // A forged KEY-EXCHANGE changes nothing and is counted.
    const forged = { ...initiation, counter: 9 };
    expect(core.step({ kind: "message", from: standbyFrom, message: forged }, 30)).toEqual([]);
    expect(core.keyExchangeDrops?.badSignature).toBe(1);
  });
});
