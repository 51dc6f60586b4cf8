/**
 * Proves Wire.open accepts exactly the authentic frames. How: a cluster of four replica Wires and
 * one client Wire, keyed from one cluster secret, seal and open each kind of traffic; then named
 * attacks (tampered body, tampered MAC, wrong receiver, reflection, impersonation through the
 * replicaId field, bad or foreign VIEW-CHANGE signatures directly and inside NEW-VIEW, a request
 * with a bad MAC inside a PRE-PREPARE, messages in the wrong direction) must each be dropped with
 * their reason code and counted. fast-check shows open() never throws on random or mutated frames,
 * and that a mutated frame it still accepts carries the original message from the original sender.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import { MAC_BYTES, MESSAGE_BYTES_MAX, SIGNATURE_BYTES } from "../../bft/limits.js";
import type {
  Message,
  NewView,
  PrePrepare,
  Principal,
  Reply,
  Request,
  ViewChange,
} from "../../bft/messages.js";
import {
  createDerivedKeyRing,
  DROP_REASONS,
  type DropReason,
  deriveSigningKeyPair,
  encodeMessage,
  type OpenResult,
  Wire,
  wireTesting,
} from "../../bft/wire/index.js";

const N = 4;
const clusterSecret = new Uint8Array(32).fill(11);
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });
const signingKeys = Array.from({ length: N }, (_, id) => deriveSigningKeyPair(clusterSecret, id));

function wireFor(self: Principal, n = N): Wire {
  return new Wire({
    self,
    n,
    keys: createDerivedKeyRing({ clusterSecret, self }),
    ...(self.kind === "replica" && self.id < N
      ? { signing: { privateKey: signingKeys[self.id]!.privateKey } }
      : {}),
    // Raw keys for half the cluster, KeyObjects for the rest: both forms are accepted.
    replicaPublicKeys: signingKeys.map((keys, id) => (id % 2 === 0 ? keys.publicKeyRaw : keys.publicKey)),
  });
}

const replicas = Array.from({ length: N }, (_, id) => wireFor(replica(id)));
const replicaWire = (id: number): Wire => replicas[id]!;
const clientWire = wireFor(client(7));

function authenticRequest(timestamp: number, operationBytes = 1024): Request {
  const body = {
    type: "Request" as const,
    clientId: 7,
    timestamp,
    operation: wireTesting.filledBytes(operationBytes, timestamp),
  };
  return { ...body, auth: clientWire.authenticateRequest(body) };
}

function signedViewChange(replicaId: number): ViewChange {
  const { signature: _filler, ...unsigned } = wireTesting.sampleViewChange(replicaId);
  return { ...unsigned, signature: replicaWire(replicaId).signViewChange(unsigned) };
}

function prePrepare(requests: Request[]): PrePrepare {
  return { ...wireTesting.samplePrePrepare(5, 0), requests };
}

function expectOk(result: OpenResult, from: Principal, message: Message): void {
  if (!result.ok) throw new Error(`expected an accepted frame, got ${result.reason}`);
  expect(result.from).toEqual(from);
  expect(result.message).toEqual(message);
}

function expectDrop(wire: Wire, frame: Uint8Array, reason: DropReason): void {
  const before = wire.dropped[reason];
  const result = wire.open(frame);
  expect(result.ok ? "ok" : result.reason).toBe(reason);
  expect(wire.dropped[reason]).toBe(before + 1);
}

describe("authentic traffic opens", () => {
  it("a client request to one replica", () => {
    const request = authenticRequest(1);
    expectOk(replicaWire(2).open(clientWire.seal(request, replica(2))), client(7), request);
  });

  it("a client request multicast to all replicas", () => {
    const request = authenticRequest(2);
    const frame = clientWire.seal(request, "replicas");
    for (const wire of replicas) expectOk(wire.open(frame), client(7), request);
  });

  it("a PRE-PREPARE broadcast, sealed once for every backup", () => {
    const message = prePrepare([authenticRequest(3), authenticRequest(4, 10)]);
    const frame = replicaWire(0).seal(message, "replicas");
    expect(frame.length).toBeLessThan(2 * 1024 + 500);
    for (const id of [1, 2, 3]) expectOk(replicaWire(id).open(frame), replica(0), message);
  });

  it("frames carry no stale memory: the sender's own authenticator slot is zero", () => {
    // Frames come from node's buffer pool without zero-filling (sealFrame writes every byte):
    // dirty the pool first, then check the one slot no MAC is written into.
    for (let index = 0; index < 64; index++) Buffer.allocUnsafe(512).fill(0xa5);
    const message = { ...wireTesting.sampleMessages().Prepare, replicaId: 2 } as Message;
    const body = encodeMessage(message);
    for (let index = 0; index < 16; index++) {
      const frame = replicaWire(2).seal(message, "replicas");
      // Header (checked by open), body, then the MACs of replicas 0, 1, our zero slot and 3's.
      expect(frame.subarray(8, 8 + body.length)).toEqual(body);
      const ownSlot = frame.length - (N - 2) * MAC_BYTES;
      expect(Array.from(frame.subarray(ownSlot, ownSlot + MAC_BYTES))).toEqual(new Array(MAC_BYTES).fill(0));
      for (const id of [0, 1, 3]) expectOk(replicaWire(id).open(frame), replica(2), message);
    }
  });

  it("a null PRE-PREPARE and the other replica messages", () => {
    const samples = wireTesting.sampleMessages();
    for (const message of [
      prePrepare([]),
      samples.Prepare,
      samples.Commit,
      samples.Checkpoint,
      samples.Status,
    ]) {
      const sender = "replicaId" in message ? (message.replicaId ?? 0) : 0;
      const frame = replicaWire(sender).seal(message, "replicas");
      expectOk(replicaWire((sender + 1) % N).open(frame), replica(sender), message);
    }
  });

  it("state transfer point to point", () => {
    const samples = wireTesting.sampleMessages();
    expectOk(
      replicaWire(2).open(replicaWire(1).seal(samples.FetchState, replica(2))),
      replica(1),
      samples.FetchState,
    );
    expectOk(
      replicaWire(3).open(replicaWire(0).seal(samples.StateChunk, replica(3))),
      replica(0),
      samples.StateChunk,
    );
  });

  it("a reply to its client", () => {
    const reply: Reply = {
      type: "Reply",
      view: 0,
      timestamp: 1,
      clientId: 7,
      replicaId: 3,
      result: new Uint8Array(5),
    };
    expectOk(clientWire.open(replicaWire(3).seal(reply, client(7))), replica(3), reply);
  });

  it("a signed VIEW-CHANGE and a NEW-VIEW carrying three of them", () => {
    const viewChange = signedViewChange(1);
    expectOk(replicaWire(3).open(replicaWire(1).seal(viewChange, "replicas")), replica(1), viewChange);
    const newView: NewView = {
      type: "NewView",
      view: 3,
      viewChanges: [signedViewChange(0), signedViewChange(1), signedViewChange(2)],
      // Requests in NEW-VIEW pre-prepares and in VIEW-CHANGE batches carry filler
      // authenticators: they are not MAC-checked (see Wire.checkMessage).
      prePrepares: [wireTesting.samplePrePrepare(129, 2)],
      replicaId: 3,
      signature: new Uint8Array(0),
    };
    expectOk(replicaWire(0).open(replicaWire(3).seal(newView, "replicas")), replica(3), newView);
  });
});

describe("attacks are dropped", () => {
  const request = authenticRequest(10);

  it("a tampered body", () => {
    const frame = clientWire.seal(request, replica(1));
    frame[12 + 100]! ^= 1; // inside the operation bytes
    expectDrop(replicaWire(1), frame, "macInvalid");
  });

  it("a tampered MAC", () => {
    const frame = clientWire.seal(request, replica(1));
    frame[frame.length - 1]! ^= 1;
    expectDrop(replicaWire(1), frame, "macInvalid");
  });

  it("a tampered authenticator entry", () => {
    const frame = replicaWire(0).seal(prePrepare([request]), "replicas");
    frame[frame.length - (N - 2) * MAC_BYTES]! ^= 0x80; // replica 2's entry
    expectDrop(replicaWire(2), frame, "macInvalid");
    expect(replicaWire(1).open(frame).ok).toBe(true);
  });

  it("a frame for another receiver", () => {
    expectDrop(replicaWire(2), clientWire.seal(request, replica(1)), "wrongReceiver");
  });

  it("a broadcast opened by a client", () => {
    expectDrop(
      clientWire,
      replicaWire(1).seal(wireTesting.sampleMessages().Prepare, "replicas"),
      "wrongReceiver",
    );
  });

  it("a broadcast whose authenticator has no entry for the receiver", () => {
    const small = wireFor(replica(0), 2); // the sample CHECKPOINT names replica 0
    expectDrop(replicaWire(3), small.seal(wireTesting.sampleMessages().Checkpoint, "replicas"), "macMissing");
  });

  it("a forged sender in the header", () => {
    const frame = replicaWire(1).seal(
      { ...wireTesting.sampleMessages().Prepare, replicaId: 1 } as Message,
      replica(0),
    );
    new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setUint32(2, 2); // claims replica 2
    expectDrop(replicaWire(0), frame, "macInvalid");
  });

  it("a reflected frame (pair keys are symmetric; the MAC names the sender)", () => {
    const prepare = { ...wireTesting.sampleMessages().Prepare, replicaId: 1 } as Message;
    const frame = replicaWire(1).seal(prepare, replica(0));
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    view.setUint32(2, 0); // sender := replica 0
    view.setUint32(8, 1); // receiver := replica 1
    expectDrop(replicaWire(1), frame, "macInvalid");
  });

  it("a sender id at or above n", () => {
    const outsider = wireFor(replica(5), 8);
    expectDrop(
      replicaWire(0),
      outsider.sealUnchecked({ ...wireTesting.sampleMessages().Status, replicaId: 5 } as Message, replica(0)),
      "senderRange",
    );
  });

  it("impersonation: a replicaId field that is not the sender", () => {
    const prepare = { ...wireTesting.sampleMessages().Prepare, replicaId: 2 } as Message;
    expect(() => replicaWire(1).seal(prepare, "replicas")).toThrow(AssertionError);
    expectDrop(replicaWire(0), replicaWire(1).sealUnchecked(prepare, "replicas"), "senderMismatch");
  });

  it("a request whose clientId is not the sender", () => {
    const other = wireFor(client(8));
    expectDrop(replicaWire(0), other.sealUnchecked(request, replica(0)), "senderMismatch");
  });

  it("a request with a bad or missing MAC for this replica", () => {
    const badAuth = Uint8Array.from(request.auth);
    badAuth[2 * MAC_BYTES]! ^= 1;
    expectDrop(
      replicaWire(2),
      clientWire.seal({ ...request, auth: badAuth }, replica(2)),
      "requestAuthInvalid",
    );
    expect(replicaWire(1).open(clientWire.seal({ ...request, auth: badAuth }, replica(1))).ok).toBe(true);
    const short = request.auth.subarray(0, 2 * MAC_BYTES);
    expectDrop(
      replicaWire(3),
      clientWire.seal({ ...request, auth: short }, replica(3)),
      "requestAuthInvalid",
    );
  });

  it("a client request's frame MAC (over its digest) binds the other replicas' entries too", () => {
    // Frame version 5: the MAC covers header, request digest and authenticator, not the body.
    const frame = clientWire.seal(request, "replicas");
    expect(frame[6]).toBe(3);
    for (const [receiver, entry] of [
      [2, 0],
      [2, 3],
      [0, 2],
    ] as const) {
      const tampered = Uint8Array.from(frame);
      // The authenticator is the body's last N * MAC_BYTES bytes, before the frame's N MACs.
      tampered[tampered.length - 2 * N * MAC_BYTES + entry * MAC_BYTES + 3]! ^= 1;
      expectDrop(replicaWire(receiver), tampered, "macInvalid");
    }
    // Broadcast header 8 bytes, then codec version and tag: clientId at 10..13, timestamp at 14..21.
    for (const offset of [13, 21]) {
      const tampered = Uint8Array.from(frame);
      tampered[offset]! ^= 1;
      expectDrop(replicaWire(1), tampered, "macInvalid");
    }
  });

  it("a PRE-PREPARE's frame MAC (over request digests) binds operations and authenticators", () => {
    const frame = replicaWire(0).seal(prePrepare([authenticRequest(12), authenticRequest(13)]), "replicas");
    expect(frame[6]).toBe(3);
    const operationAt = Buffer.from(frame).indexOf(Buffer.from(authenticRequest(13).operation)) + 100;
    expect(operationAt).toBeGreaterThan(100);
    for (const offset of [operationAt, frame.length - N * MAC_BYTES - 5, 20]) {
      const tampered = Uint8Array.from(frame); // the second operation, its authenticator, the seq
      tampered[offset]! ^= 1;
      expectDrop(replicaWire(2), tampered, "macInvalid");
    }
    // One with a special entry (a MIGRATION-REQUEST) keeps the MAC over its body.
    expect(replicaWire(0).seal(wireTesting.sampleMigrationPrePrepare(131), "replicas")[6]).toBe(1);
  });

  it("a frame whose MAC form does not fit its message", () => {
    // A client request MACed over its body, and a replica's message MACed as a request would be.
    const bodyMaced = clientWire.seal(request, replica(0));
    bodyMaced[6] = 0;
    expectDrop(replicaWire(0), bodyMaced, "frameHeader");
    const prepare = { ...wireTesting.sampleMessages().Prepare, replicaId: 1 } as Message;
    const digestMaced = replicaWire(1).seal(prepare, replica(0));
    digestMaced[6] = 2;
    expectDrop(replicaWire(0), digestMaced, "frameHeader");
    const broadcast = replicaWire(1).seal(prepare, "replicas");
    broadcast[6] = 3;
    expectDrop(replicaWire(0), broadcast, "frameHeader");
    const special = replicaWire(0).seal(wireTesting.sampleMigrationPrePrepare(131), "replicas");
    special[6] = 3;
    expectDrop(replicaWire(1), special, "frameHeader");
    const batch = replicaWire(0).seal(prePrepare([request]), "replicas");
    batch[6] = 1;
    expectDrop(replicaWire(1), batch, "frameHeader");
  });

  it("a request whose frame MAC is right but whose entry for this replica is not (counted)", () => {
    // The frame MAC vouches for the bytes the client sent; the entry for the receiving replica is
    // what lets the request into a batch, and a faulty client can send a bad one under a good MAC.
    const badAuth = Uint8Array.from(request.auth);
    badAuth[0 * MAC_BYTES + 7]! ^= 0x10;
    const frame = clientWire.seal({ ...request, auth: badAuth }, "replicas");
    expectDrop(replicaWire(0), frame, "requestAuthInvalid");
    expectDrop(replicaWire(0), frame, "requestAuthInvalid");
    for (const id of [1, 2, 3]) expect(replicaWire(id).open(frame).ok).toBe(true);
  });

  it("a request with a bad MAC inside a PRE-PREPARE: passed on, and reported by requestAuthentic", () => {
    // The replica core decides (CoreDeps.requestAuthentic): it takes such a batch only once a
    // quorum vouches for it.
    const badAuth = Uint8Array.from(request.auth);
    badAuth[1 * MAC_BYTES + 5]! ^= 1;
    const bad = { ...request, auth: badAuth };
    const frame = replicaWire(0).seal(prePrepare([authenticRequest(11), bad]), "replicas");
    expect(replicaWire(1).open(frame).ok).toBe(true);
    expect(replicaWire(1).requestAuthentic(bad)).toBe(false);
    expect(replicaWire(1).requestAuthentic(authenticRequest(11))).toBe(true);
    expect(replicaWire(2).requestAuthentic(bad)).toBe(true);
  });

  it("a request that another client authenticated", () => {
    const other = wireFor(client(8));
    const forged = { ...request, auth: new Uint8Array(N * MAC_BYTES) };
    const body = { type: "Request" as const, clientId: 8, timestamp: 10, operation: request.operation };
    forged.auth.set(other.authenticateRequest(body));
    expectDrop(replicaWire(0), clientWire.seal(forged, replica(0)), "requestAuthInvalid");
  });

  it("a VIEW-CHANGE with a bad, zero or foreign signature", () => {
    const viewChange = signedViewChange(1);
    const flipped = Uint8Array.from(viewChange.signature);
    flipped[0]! ^= 1;
    const sender = replicaWire(1);
    expectDrop(
      replicaWire(0),
      sender.seal({ ...viewChange, signature: flipped }, "replicas"),
      "signatureInvalid",
    );
    expectDrop(
      replicaWire(0),
      sender.seal({ ...viewChange, signature: new Uint8Array(SIGNATURE_BYTES) }, "replicas"),
      "signatureInvalid",
    );
    const foreign = { ...viewChange, signature: signedViewChange(2).signature };
    expectDrop(replicaWire(0), sender.seal(foreign, "replicas"), "signatureInvalid");
    expectDrop(
      replicaWire(0),
      sender.sealUnchecked({ ...viewChange, signature: new Uint8Array(0) }, "replicas"),
      "signatureLength",
    );
  });

  it("a NEW-VIEW with one bad nested signature", () => {
    const tampered = { ...signedViewChange(2), stableSeq: 0 };
    const newView: NewView = {
      type: "NewView",
      view: 3,
      viewChanges: [signedViewChange(0), signedViewChange(1), tampered],
      prePrepares: [],
      replicaId: 3,
      signature: new Uint8Array(0),
    };
    expectDrop(replicaWire(1), replicaWire(3).seal(newView, "replicas"), "signatureInvalid");
  });

  it("messages in the wrong direction", () => {
    const samples = wireTesting.sampleMessages();
    const reply = { ...(samples.Reply as Reply), replicaId: 0, clientId: 7 };
    expectDrop(replicaWire(1), replicaWire(0).sealUnchecked(reply, replica(1)), "wrongDirection");
    expectDrop(clientWire, replicaWire(0).sealUnchecked(samples.Checkpoint, client(7)), "wrongDirection");
    // A replica may relay a REQUEST to a replica (wire-forwarding.test.ts), never to a client.
    expectDrop(clientWire, replicaWire(0).sealUnchecked(request, client(7)), "wrongDirection");
    expectDrop(replicaWire(0), clientWire.sealUnchecked(samples.Status, replica(0)), "wrongDirection");
  });

  it("a reply for another client", () => {
    const reply = { ...(wireTesting.sampleMessages().Reply as Reply), clientId: 8, replicaId: 0 };
    const frame = replicaWire(0).seal(reply, client(7));
    expectDrop(clientWire, frame, "wrongReceiver");
  });

  it("frames that are too short, too long or have an unknown header", () => {
    expectDrop(replicaWire(0), new Uint8Array(3), "frameSize");
    expectDrop(replicaWire(0), new Uint8Array(MESSAGE_BYTES_MAX + 1), "frameSize");
    const frame = clientWire.seal(request, replica(0));
    const badVersion = Uint8Array.from(frame);
    badVersion[0] = 2;
    expectDrop(replicaWire(0), badVersion, "frameHeader");
    const badKind = Uint8Array.from(frame);
    badKind[1] = 9;
    expectDrop(replicaWire(0), badKind, "frameHeader");
    const badMarker = Uint8Array.from(frame);
    badMarker[6] = 7;
    expectDrop(replicaWire(0), badMarker, "frameHeader");
    expectDrop(replicaWire(0), Uint8Array.from([1, 0, 0, 0, 0, 1, 1, 4, 0, 0, 0, 0]), "frameHeader");
  });

  it("counts every reason it can report", () => {
    expect(Object.keys(replicaWire(0).dropped).sort()).toEqual([...DROP_REASONS].sort());
  });
});

describe("open() with a wanted predicate", () => {
  it("asks before the MAC check and drops what the receiver declines as unneeded", () => {
    const commit = { ...wireTesting.sampleMessages().Commit, replicaId: 1 } as Message;
    const frame = replicaWire(1).seal(commit, replica(2));
    const tampered = Uint8Array.from(frame);
    tampered[tampered.length - 1]! ^= 1;
    const seen: { from: Principal; message: Message }[] = [];
    const decline = (from: Principal, message: Message) => {
      seen.push({ from, message });
      return false;
    };
    const before = replicaWire(2).dropped.unneeded;
    // Declined, the MAC is never checked: a forgery and an authentic frame drop alike.
    expect(replicaWire(2).open(tampered, decline)).toEqual({ ok: false, reason: "unneeded" });
    expect(replicaWire(2).open(frame, decline)).toEqual({ ok: false, reason: "unneeded" });
    expect(replicaWire(2).dropped.unneeded).toBe(before + 2);
    expect(seen).toEqual([
      { from: replica(1), message: commit },
      { from: replica(1), message: commit },
    ]);
    // Wanted, the frame is checked as without the predicate.
    expect(replicaWire(2).open(tampered, () => true)).toEqual({ ok: false, reason: "macInvalid" });
    expectOk(
      replicaWire(2).open(frame, () => true),
      replica(1),
      commit,
    );
    // Frames that do not decode never reach the predicate.
    expect(replicaWire(2).open(frame.subarray(0, frame.length - MAC_BYTES - 1), decline).ok).toBe(false);
    expect(seen).toHaveLength(2);
  });
});

describe("open() properties", () => {
  const knownReasons = new Set<string>(DROP_REASONS);

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: N - 1 }), (bytes, id) => {
        const result = replicaWire(id).open(bytes);
        if (!result.ok) expect(knownReasons.has(result.reason)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts a mutated frame only if it still carries the original message from the original sender", () => {
    const samples = wireTesting.sampleMessages();
    const cases: { frame: Uint8Array; receiver: Wire; from: Principal; message: Message }[] = [
      {
        frame: clientWire.seal(authenticRequest(20, 64), "replicas"),
        receiver: replicaWire(2),
        from: client(7),
        message: authenticRequest(20, 64),
      },
      {
        frame: replicaWire(0).seal(prePrepare([authenticRequest(21, 32)]), "replicas"),
        receiver: replicaWire(1),
        from: replica(0),
        message: prePrepare([authenticRequest(21, 32)]),
      },
      {
        frame: replicaWire(2).seal(samples.Commit, replica(3)),
        receiver: replicaWire(3),
        from: replica(2),
        message: samples.Commit,
      },
      {
        frame: replicaWire(1).seal(signedViewChange(1), "replicas"),
        receiver: replicaWire(0),
        from: replica(1),
        message: signedViewChange(1),
      },
    ];
    fc.assert(
      fc.property(
        fc.nat({ max: cases.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat()),
        (which, flips, cut) => {
          const { frame, receiver, from, message } = cases[which]!;
          let bytes = Uint8Array.from(frame);
          for (const [position, mask] of flips) bytes[position % bytes.length]! ^= mask;
          if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
          const result = receiver.open(bytes);
          if (result.ok) {
            expect(result.from).toEqual(from);
            expect(result.message).toEqual(message);
          } else {
            expect(knownReasons.has(result.reason)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
