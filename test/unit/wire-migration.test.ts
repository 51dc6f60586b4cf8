/**
 * Proves the wire carries the migration protocol (paper section 3): every migration message and
 * every special PRE-PREPARE entry round-trips through the codec, each structural bound is
 * enforced on decode (and asserted on encode), node and CM principals seal and open frames only
 * along their allowed routes, INIT-MIGRATION authenticators are checked directly and as proofs
 * inside a PRE-PREPARE, and a membership-keyed wire rejects the MACs of a retired source node
 * after setMember moves its logical id to the promoted target, while VIEW-CHANGEs nested in a
 * NEW-VIEW may still be signed by one of the id's two previous nodes. EVIDENCE (section 3.4) nests a
 * signed NEW-VIEW: it round-trips for any field values, its nested NEW-VIEW obeys the NEW-VIEW rules
 * and must be signed, and only replicas exchange it.
 * How: codec calls on table rows of samples and mutations; small clusters of Wires keyed from one
 * cluster secret, with and without a membership map.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import { REPLICAS_MAX, SIGNATURE_BYTES } from "../../bft/limits.js";
import type {
  Evidence,
  InitMigration,
  Message,
  NewView,
  PrePrepare,
  Principal,
  ViewChange,
} from "../../bft/messages.js";
import { NODES_MAX } from "../../bft/migration/limits.js";
import {
  createDerivedKeyRing,
  type DropReason,
  decodeMessage,
  deriveSigningKeyPair,
  encodeMessage,
  encodeMessageUnchecked,
  Wire,
  wireTesting,
} from "../../bft/wire/index.js";

const samples = wireTesting.sampleMessages();
const clusterSecret = new Uint8Array(32).fill(5);
const N = 4;

function wireFor(self: Principal, membership?: number[]): Wire {
  const keySelf: Principal =
    membership !== undefined && self.kind === "replica" ? { kind: "node", id: membership[self.id]! } : self;
  return new Wire({
    self,
    n: N,
    keys: createDerivedKeyRing({ clusterSecret, self: keySelf }),
    replicaPublicKeys: [],
    ...(membership === undefined ? {} : { membership }),
  });
}

function roundTrip(message: Message): Message {
  const decoded = decodeMessage(encodeMessage(message));
  if (!decoded.ok) throw new Error(`decode failed: ${decoded.reason}`);
  return decoded.message;
}

function decodeReason(message: Message): string {
  const decoded = decodeMessage(encodeMessageUnchecked(message));
  return decoded.ok ? "ok" : decoded.reason;
}

describe("codec: migration messages", () => {
  const types = [
    "JoinRequest",
    "JoinApproved",
    "LeaveRequest",
    "InitMigration",
    "MigrateNow",
    "NewMembership",
    "KeyExchange",
    "MigrationDone",
    "OnDemandMigration",
    "Evidence",
  ] as const;

  it.each(types)("%s round-trips", (type) => {
    expect(roundTrip(samples[type])).toEqual(samples[type]);
  });

  it("a KEY-EXCHANGE from an active replica keeps its replica id", () => {
    const message = { ...samples.KeyExchange, replicaId: 3 } as Message;
    expect(roundTrip(message)).toEqual(message);
  });

  it.each([
    ["migration", wireTesting.sampleMigrationPrePrepare(40)],
    [
      "join",
      {
        ...wireTesting.samplePrePrepare(41, 0),
        special: { kind: "join", request: wireTesting.sampleJoinRequest(20), joinTimeMs: 123_456 },
      } satisfies PrePrepare,
    ],
    [
      "leave",
      {
        ...wireTesting.samplePrePrepare(42, 0),
        special: { kind: "leave", request: samples.LeaveRequest as never },
      } satisfies PrePrepare,
    ],
  ])("a PRE-PREPARE with a %s entry round-trips", (_kind, message) => {
    expect(roundTrip(message)).toEqual(message);
  });

  it("a VIEW-CHANGE batch keeps its special entry", () => {
    const special = wireTesting.sampleMigrationPrePrepare(40).special!;
    const viewChange = wireTesting.sampleViewChange(2);
    const message: Message = {
      ...viewChange,
      batches: [...viewChange.batches, { digest: viewChange.batches[0]!.digest, requests: [], special }],
    };
    expect(roundTrip(message)).toEqual(message);
  });

  const init = samples.InitMigration as InitMigration;
  const migrate = samples.MigrateNow as Extract<Message, { type: "MigrateNow" }>;
  const membership = samples.NewMembership as Extract<Message, { type: "NewMembership" }>;
  const join = samples.JoinRequest as Extract<Message, { type: "JoinRequest" }>;
  it.each<[string, Message, DropReason]>([
    ["too many sources", { ...init, sources: [1, 2, 3, 4], targets: [5, 6, 7, 8] }, "countTooLarge"],
    ["no sources", { ...init, sources: [], targets: [] }, "countTooLarge"],
    ["S and D of different sizes", { ...init, targets: [17] }, "countTooLarge"],
    ["a repeated source", { ...init, sources: [2, 2] }, "duplicateEntry"],
    ["a target node id out of range", { ...init, targets: [17, 9999] }, "nodeIdRange"],
    ["an unknown trigger", { ...init, trigger: "whim" as never }, "unknownKind"],
    ["a bad authenticator length", { ...init, auth: new Uint8Array(5) }, "authLength"],
    ["a short MIGRATE-NOW signature", { ...migrate, signature: new Uint8Array(10) }, "signatureLength"],
    [
      "a repeated replica in P",
      { ...migrate, pairs: [migrate.pairs[0]!, migrate.pairs[0]!] },
      "duplicateEntry",
    ],
    ["no pairs", { ...migrate, pairs: [] }, "countTooLarge"],
    ["a non-ASCII address", { ...join, address: "h\u00e9:1" }, "addressInvalid"],
    ["an empty address", { ...join, address: "" }, "addressInvalid"],
    ["a long address", { ...join, address: "a".repeat(200) }, "addressInvalid"],
    ["a short public key", { ...join, publicKey: new Uint8Array(31) }, "keyLength"],
    ["a CM id out of range", { ...samples.LeaveRequest, cmId: 99 } as Message, "cmIdRange"],
    [
      "a repeated member",
      { ...membership, members: [membership.members[0]!, membership.members[0]!] },
      "duplicateEntry",
    ],
    [
      "a special entry with requests",
      { ...wireTesting.sampleMigrationPrePrepare(3), requests: [wireTesting.sampleRequest(1, 1)] },
      "specialNotAlone",
    ],
    [
      "a MIGRATION-REQUEST without proofs",
      (() => {
        const message = wireTesting.sampleMigrationPrePrepare(3);
        const special = message.special!;
        if (special.kind !== "migration") throw new Error("sample");
        return { ...message, special: { ...special, request: { ...special.request, proofs: [] } } };
      })(),
      "countTooLarge",
    ],
  ])("rejects %s on decode and asserts on encode", (_name, message, reason) => {
    expect(decodeReason(message)).toBe(reason);
    expect(() => encodeMessage(message)).toThrow(AssertionError);
  });

  const evidence = samples.Evidence as Evidence;
  const nested = evidence.newView;
  it.each<[string, Message, DropReason]>([
    [
      "an unsigned NEW-VIEW as proof",
      { ...evidence, newView: { ...nested, signature: new Uint8Array(0) } },
      "signatureLength",
    ],
    ["an offender node id out of range", { ...evidence, offenderNodeId: 9999 }, "nodeIdRange"],
    ["an accuser replica id out of range", { ...evidence, replicaId: 200 }, "replicaIdRange"],
    [
      "a nested NEW-VIEW with a short VIEW-CHANGE signature",
      {
        ...evidence,
        newView: {
          ...nested,
          viewChanges: [{ ...nested.viewChanges[0]!, signature: new Uint8Array(63) }],
        },
      },
      "signatureLength",
    ],
    [
      "a nested NEW-VIEW with a malformed PRE-PREPARE",
      {
        ...evidence,
        newView: { ...nested, prePrepares: [{ ...nested.prePrepares[0]!, digest: new Uint8Array(3) }] },
      },
      "digestLength",
    ],
    [
      "a nested NEW-VIEW with too many VIEW-CHANGEs",
      {
        ...evidence,
        newView: { ...nested, viewChanges: Array.from({ length: 300 }, () => nested.viewChanges[0]!) },
      },
      "countTooLarge",
    ],
    [
      "a NEW-VIEW signature of 63 bytes",
      { ...(samples.NewView as NewView), signature: new Uint8Array(63) },
      "signatureLength",
    ],
  ])("rejects %s on decode and asserts on encode", (_name, message, reason) => {
    expect(decodeReason(message)).toBe(reason);
    expect(() => encodeMessage(message)).toThrow(AssertionError);
  });

  it("an unsigned NEW-VIEW (plain PBFT) round-trips; as EVIDENCE it proves nothing and is refused", () => {
    const unsigned: NewView = { ...(samples.NewView as NewView), signature: new Uint8Array(0) };
    expect(roundTrip(unsigned)).toEqual(unsigned);
  });

  it("EVIDENCE round-trips for any ids, signature and nested PRE-PREPAREs", () => {
    const arbitrary = fc.record({
      offenderNodeId: fc.nat({ max: NODES_MAX - 1 }),
      replicaId: fc.nat({ max: REPLICAS_MAX - 1 }),
      view: fc.maxSafeNat(),
      author: fc.nat({ max: REPLICAS_MAX - 1 }),
      signature: fc.uint8Array({ minLength: SIGNATURE_BYTES, maxLength: SIGNATURE_BYTES }),
      prePrepareCount: fc.nat({ max: nested.prePrepares.length }),
      viewChangeCount: fc.nat({ max: nested.viewChanges.length }),
    });
    fc.assert(
      fc.property(arbitrary, (value) => {
        const message: Evidence = {
          type: "Evidence",
          offenderNodeId: value.offenderNodeId,
          replicaId: value.replicaId,
          newView: {
            ...nested,
            view: value.view,
            replicaId: value.author,
            signature: value.signature,
            prePrepares: nested.prePrepares.slice(0, value.prePrepareCount),
            viewChanges: nested.viewChanges.slice(0, value.viewChangeCount),
          },
        };
        expect(roundTrip(message)).toEqual(message);
      }),
      { numRuns: 200 },
    );
  });

  it("rejects an unknown special kind byte", () => {
    const bytes = encodeMessage(wireTesting.samplePrePrepare(9, 0));
    const mutated = Uint8Array.from(bytes);
    mutated[mutated.length - 1] = 7; // the kind byte after the (empty) request list
    const decoded = decodeMessage(mutated);
    expect(decoded.ok ? "ok" : decoded.reason).toBe("unknownKind");
  });
});

describe("frames: node and CM principals", () => {
  const replicas = Array.from({ length: N }, (_, id) => wireFor({ kind: "replica", id }));
  const node = wireFor({ kind: "node", id: 17 });
  const cm = wireFor({ kind: "cm", id: 1 });

  function expectOpen(wire: Wire, frame: Uint8Array, from: Principal): void {
    const opened = wire.open(frame);
    if (!opened.ok) throw new Error(`dropped: ${opened.reason}`);
    expect(opened.from).toEqual(from);
  }

  it("a standby broadcasts JOIN-REQUEST; replicas answer JOIN-APPROVED", () => {
    const frame = node.seal(samples.JoinRequest, "replicas");
    for (const wire of replicas) expectOpen(wire, frame, { kind: "node", id: 17 });
    expectOpen(node, replicas[2]!.seal(samples.JoinApproved, { kind: "node", id: 17 }), {
      kind: "replica",
      id: 2,
    });
  });

  it("MIGRATE-NOW reaches a target node and the CM", () => {
    const frame = replicas[1]!.seal(samples.MigrateNow, { kind: "cm", id: 1 });
    expectOpen(cm, frame, { kind: "replica", id: 1 });
    expectOpen(node, replicas[1]!.seal(samples.MigrateNow, { kind: "node", id: 17 }), {
      kind: "replica",
      id: 1,
    });
  });

  it("a replica relays a peer's MIGRATE-NOW to a target and the CM, but names only itself to replicas", () => {
    // The target and the CM count the copy under the signer's signature (StandbyNode,
    // migrateNowInput), not the frame's sender; replicas keep only their peers' own copies.
    const peerCopy = { ...samples.MigrateNow, replicaId: 2 } as Message;
    expectOpen(node, replicas[1]!.seal(peerCopy, { kind: "node", id: 17 }), { kind: "replica", id: 1 });
    expectOpen(cm, replicas[1]!.seal(peerCopy, { kind: "cm", id: 1 }), { kind: "replica", id: 1 });
    expectOpen(replicas[0]!, replicas[1]!.seal(samples.MigrateNow, { kind: "replica", id: 0 }), {
      kind: "replica",
      id: 1,
    });
    const opened = replicas[0]!.open(replicas[1]!.sealUnchecked(peerCopy, { kind: "replica", id: 0 }));
    expect(opened.ok ? "opened" : opened.reason).toBe("senderMismatch");
  });

  it("LEAVE-REQUEST and ON-DEMAND come from the CM", () => {
    expectOpen(replicas[0]!, cm.seal(samples.LeaveRequest, { kind: "replica", id: 0 }), {
      kind: "cm",
      id: 1,
    });
    const onDemand = { ...samples.OnDemandMigration, cmId: 1 } as Message;
    expectOpen(replicas[0]!, cm.seal(onDemand, "replicas"), { kind: "cm", id: 1 });
  });

  it("a target fetches state as a node and gets chunks back", () => {
    expectOpen(replicas[0]!, node.seal(samples.FetchState, { kind: "replica", id: 0 }), {
      kind: "node",
      id: 17,
    });
    expectOpen(node, replicas[0]!.seal(samples.StateChunk, { kind: "node", id: 17 }), {
      kind: "replica",
      id: 0,
    });
  });

  it("EVIDENCE goes from any replica to the replicas: the proof's author is inside, not the sender", () => {
    const forwarded = { ...samples.Evidence, replicaId: 0 } as Message;
    expectOpen(replicas[3]!, replicas[0]!.seal(forwarded, "replicas"), { kind: "replica", id: 0 });
  });

  it.each<[string, Wire, Message, Principal | "replicas", Wire, DropReason]>([
    ["a node sending EVIDENCE", node, samples.Evidence, "replicas", replicas[0]!, "wrongDirection"],
    [
      "a replica naming another accuser in EVIDENCE",
      replicas[1]!,
      { ...samples.Evidence, replicaId: 2 } as Message,
      "replicas",
      replicas[0]!,
      "senderMismatch",
    ],
    ["a node sending MIGRATE-NOW", node, samples.MigrateNow, { kind: "cm", id: 1 }, cm, "wrongDirection"],
    [
      "a replica sending LEAVE-REQUEST",
      replicas[0]!,
      samples.LeaveRequest,
      { kind: "replica", id: 1 },
      replicas[1]!,
      "wrongDirection",
    ],
    [
      "a node naming another node",
      node,
      { ...samples.JoinRequest, nodeId: 18 } as Message,
      "replicas",
      replicas[0]!,
      "senderMismatch",
    ],
    [
      "a CM naming another CM",
      cm,
      { ...samples.LeaveRequest, cmId: 2 } as Message,
      "replicas",
      replicas[0]!,
      "senderMismatch",
    ],
    [
      "a node id out of range",
      wireFor({ kind: "node", id: 300 }),
      samples.JoinRequest,
      "replicas",
      replicas[0]!,
      "senderRange",
    ],
  ])("drops %s", (_name, sender, message, to, receiver, reason) => {
    const result = receiver.open(sender.sealUnchecked(message, to));
    expect(result.ok ? "ok" : result.reason).toBe(reason);
  });

  it("checks INIT-MIGRATION authenticators directly and hands the core the check of proofs in a PRE-PREPARE", () => {
    const proofs = [0, 1, 3].map((id) => {
      const { auth: _filler, ...body } = wireTesting.sampleInitMigration(id);
      return { ...body, auth: replicas[id]!.authenticateInitMigration(body) } satisfies InitMigration;
    });
    expectOpen(replicas[2]!, replicas[0]!.seal(proofs[0]!, "replicas"), { kind: "replica", id: 0 });
    const sample = wireTesting.sampleMigrationPrePrepare(9);
    const special = sample.special!;
    if (special.kind !== "migration") throw new Error("sample");
    const good: PrePrepare = {
      ...sample,
      special: { kind: "migration", request: { ...special.request, proofs } },
    };
    expectOpen(replicas[2]!, replicas[0]!.seal(good, "replicas"), { kind: "replica", id: 0 });
    const forged = { ...proofs[2]!, auth: new Uint8Array(proofs[2]!.auth.length) };
    const bad: PrePrepare = {
      ...good,
      special: {
        kind: "migration",
        request: { ...special.request, proofs: [proofs[0]!, proofs[1]!, forged] },
      },
    };
    // The replica core judges the proofs (MigrationDeps.initMigrationAuthentic, quorum fallback:
    // test/unit/migration-init-proofs.test.ts): a proof made before its sender restarted without
    // memory fails here although the sender did ask for the round.
    expectOpen(replicas[2]!, replicas[0]!.seal(bad, "replicas"), { kind: "replica", id: 0 });
    expect(proofs.map((proof) => replicas[2]!.initMigrationAuthentic(proof))).toEqual([true, true, true]);
    expect(replicas[2]!.initMigrationAuthentic(forged)).toBe(false);
    expect(replicas[1]!.initMigrationAuthentic(proofs[1]!)).toBe(true);
    const direct = replicas[2]!.open(replicas[3]!.seal(forged, "replicas"));
    expect(direct.ok ? "ok" : direct.reason).toBe("initMigrationAuthInvalid");
  });
});

describe("membership-keyed MACs", () => {
  it("after setMember, the retired source node's frames fail and the target's pass", () => {
    const membership = [0, 1, 2, 3];
    const receiver = wireFor({ kind: "replica", id: 0 }, membership);
    const source = wireFor({ kind: "replica", id: 3 }, membership);
    const prepare: Message = { ...(samples.Prepare as Extract<Message, { type: "Prepare" }>), replicaId: 3 };
    expect(receiver.open(source.seal(prepare, { kind: "replica", id: 0 })).ok).toBe(true);
    receiver.setMember(3, 17);
    expect(receiver.nodeOf(3)).toBe(17);
    const stale = receiver.open(source.seal(prepare, { kind: "replica", id: 0 }));
    expect(stale.ok ? "ok" : stale.reason).toBe("macInvalid");
    const target = wireFor({ kind: "replica", id: 3 }, [0, 1, 2, 17]);
    expect(receiver.open(target.seal(prepare, { kind: "replica", id: 0 })).ok).toBe(true);
  });

  it("a client keyed by membership authenticates requests for the new node", () => {
    const client = wireFor({ kind: "client", id: 9 }, [0, 1, 2, 3]);
    client.setMember(3, 17);
    const body = { type: "Request" as const, clientId: 9, timestamp: 1, operation: new Uint8Array(4) };
    const request = { ...body, auth: client.authenticateRequest(body) };
    const target = wireFor({ kind: "replica", id: 3 }, [0, 1, 2, 17]);
    expect(target.open(client.seal(request, { kind: "replica", id: 3 })).ok).toBe(true);
    const old = wireFor({ kind: "replica", id: 3 }, [0, 1, 2, 3]);
    expect(old.open(client.seal(request, { kind: "replica", id: 3 })).ok).toBe(false);
  });

  describe("VIEW-CHANGEs nested in a NEW-VIEW may be signed by an id's previous node", () => {
    const nodeKeys = new Map(
      [0, 1, 2, 3, 6, 7, 8, 9].map((nodeId) => [nodeId, deriveSigningKeyPair(clusterSecret, nodeId)]),
    );
    const signedWire = (replicaId: number, membership: number[]): Wire => {
      const nodeId = membership[replicaId]!;
      return new Wire({
        self: { kind: "replica", id: replicaId },
        n: N,
        keys: createDerivedKeyRing({ clusterSecret, self: { kind: "node", id: nodeId } }),
        signing: { privateKey: nodeKeys.get(nodeId)!.privateKey },
        replicaPublicKeys: membership.map((id) => nodeKeys.get(id)!.publicKeyRaw),
        membership,
      });
    };
    const viewChangeBy = (replicaId: number, membership: number[]): ViewChange => {
      const { signature: _filler, ...unsigned } = wireTesting.sampleViewChange(replicaId);
      return { ...unsigned, signature: signedWire(replicaId, membership).signViewChange(unsigned) };
    };
    const before = [0, 1, 2, 3];
    const after = [0, 1, 2, 7];
    const newView = (viewChanges: ViewChange[]): NewView => ({
      type: "NewView",
      view: 3,
      viewChanges,
      prePrepares: [],
      replicaId: 3,
      signature: new Uint8Array(0),
    });
    const reasonAt = (receiver: Wire, message: NewView): string => {
      const opened = receiver.open(signedWire(1, after).seal(message, { kind: "replica", id: 0 }));
      return opened.ok ? "ok" : opened.reason;
    };
    const moved = (...moves: number[]): Wire => {
      const receiver = signedWire(0, before);
      for (const nodeId of moves) receiver.setMember(3, nodeId, nodeKeys.get(nodeId)!.publicKeyRaw);
      return receiver;
    };

    it("accepts a NEW-VIEW formed before the id moved, after setMember", () => {
      const message = newView([viewChangeBy(0, before), viewChangeBy(1, before), viewChangeBy(3, before)]);
      expect(reasonAt(moved(), message)).toBe("ok");
      expect(reasonAt(moved(7), message)).toBe("ok");
      // Also once the id moved on again; forgotten after PREVIOUS_HOLDER_KEYS_MAX more moves.
      expect(reasonAt(moved(7, 8), message)).toBe("ok");
      expect(reasonAt(moved(7, 8, 9), message)).toBe("signatureInvalid");
    });

    it("still refuses a nested VIEW-CHANGE by a node that never ran the id", () => {
      const forged = { ...viewChangeBy(3, [0, 1, 2, 6]) };
      const message = newView([viewChangeBy(0, before), viewChangeBy(1, before), forged]);
      expect(reasonAt(moved(7), message)).toBe("signatureInvalid");
    });

    it("still refuses a VIEW-CHANGE sent directly that the id's current node did not sign", () => {
      const receiver = moved(7);
      const stale = viewChangeBy(3, before);
      const opened = receiver.open(signedWire(3, after).sealUnchecked(stale, { kind: "replica", id: 0 }));
      expect(opened.ok ? "ok" : opened.reason).toBe("signatureInvalid");
      const current = viewChangeBy(3, after);
      expect(receiver.open(signedWire(3, after).seal(current, { kind: "replica", id: 0 })).ok).toBe(true);
    });
  });

  it("signatures of migration messages are 64 bytes", () => {
    expect(SIGNATURE_BYTES).toBe(64);
  });
});
