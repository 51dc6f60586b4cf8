/**
 * Proves the wire carries the two messages a replica forwards without being their author, and
 * nothing else: a client REQUEST relayed by a backup to the primary (PBFT section 4.1), vouched for
 * by the client's own authenticator, and a NEW-VIEW resent by any replica to one that missed it
 * (STATUS retransmission), vouched for by its signed VIEW-CHANGEs. Every other replicaId field must
 * still name the sender, a replica may not send a REQUEST to a client, and a relayed request or
 * NEW-VIEW with bad nested authentication is dropped.
 * How: four replica Wires and one client Wire keyed from one cluster secret seal and open frames;
 * seal() must not assert on the forwarded messages and open() must return the relaying replica as
 * the sender with the author's message unchanged.
 */
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import { MAC_BYTES } from "../../bft/limits.js";
import type { Message, NewView, Principal, Request, ViewChange } from "../../bft/messages.js";
import {
  createDerivedKeyRing,
  type DropReason,
  deriveSigningKeyPair,
  type OpenResult,
  Wire,
  wireTesting,
} from "../../bft/wire/index.js";

const N = 4;
const clusterSecret = new Uint8Array(32).fill(23);
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });
const signingKeys = Array.from({ length: N }, (_, id) => deriveSigningKeyPair(clusterSecret, id));

function wireFor(self: Principal): Wire {
  return new Wire({
    self,
    n: N,
    keys: createDerivedKeyRing({ clusterSecret, self }),
    ...(self.kind === "replica" ? { signing: { privateKey: signingKeys[self.id]!.privateKey } } : {}),
    replicaPublicKeys: signingKeys.map((keys) => keys.publicKeyRaw),
  });
}

const replicas = Array.from({ length: N }, (_, id) => wireFor(replica(id)));
const replicaWire = (id: number): Wire => replicas[id]!;
const clientWire = wireFor(client(7));

function authenticRequest(timestamp: number): Request {
  const body = {
    type: "Request" as const,
    clientId: 7,
    timestamp,
    operation: wireTesting.filledBytes(64, timestamp),
  };
  return { ...body, auth: clientWire.authenticateRequest(body) };
}

function signedViewChange(replicaId: number): ViewChange {
  const { signature: _filler, ...unsigned } = wireTesting.sampleViewChange(replicaId);
  return { ...unsigned, signature: replicaWire(replicaId).signViewChange(unsigned) };
}

function newViewBy(primaryId: number, viewChanges: ViewChange[]): NewView {
  return {
    type: "NewView",
    view: 3,
    viewChanges,
    prePrepares: [],
    replicaId: primaryId,
    signature: new Uint8Array(0),
  };
}

function expectOk(result: OpenResult, from: Principal, message: Message): void {
  if (!result.ok) throw new Error(`expected an accepted frame, got ${result.reason}`);
  expect(result.from).toEqual(from);
  expect(result.message).toEqual(message);
}

function expectDrop(wire: Wire, frame: Uint8Array, reason: DropReason): void {
  const result = wire.open(frame);
  expect(result.ok ? "ok" : result.reason).toBe(reason);
}

describe("a backup relays a client REQUEST to the primary", () => {
  it("seals without asserting and opens with the relaying replica as sender", () => {
    const request = authenticRequest(1);
    const frame = replicaWire(2).seal(request, replica(0));
    expectOk(replicaWire(0).open(frame), replica(2), request);
  });

  it("is dropped when the client's authenticator has no valid entry for the receiver", () => {
    const request = authenticRequest(2);
    const auth = Uint8Array.from(request.auth);
    auth[0 * MAC_BYTES + 3]! ^= 1; // replica 0's entry
    expectDrop(replicaWire(0), replicaWire(2).seal({ ...request, auth }, replica(0)), "requestAuthInvalid");
    // A relaying replica cannot make up a request for a client: it has no client key.
    const forged = { ...request, clientId: 1 };
    expectDrop(replicaWire(0), replicaWire(2).seal(forged, replica(0)), "requestAuthInvalid");
  });

  it("never goes from a replica to a client", () => {
    const request = authenticRequest(3);
    expect(() => replicaWire(2).seal(request, client(7))).toThrow(AssertionError);
    expectDrop(clientWire, replicaWire(2).sealUnchecked(request, client(7)), "wrongDirection");
  });

  it("a client still cannot send a request in another client's name", () => {
    const request = { ...authenticRequest(4), clientId: 8 };
    expect(() => clientWire.seal(request, replica(0))).toThrow(AssertionError);
    expectDrop(replicaWire(0), clientWire.sealUnchecked(request, replica(0)), "senderMismatch");
  });
});

describe("any replica resends a NEW-VIEW", () => {
  const viewChanges = (): ViewChange[] => [signedViewChange(0), signedViewChange(1), signedViewChange(2)];

  it("seals without asserting; opens with the relaying replica as sender and the author unchanged", () => {
    const newView = newViewBy(3, viewChanges());
    const frame = replicaWire(1).seal(newView, replica(0));
    expectOk(replicaWire(0).open(frame), replica(1), newView);
    const opened = replicaWire(0).open(frame);
    expect(opened.ok && opened.message.type === "NewView" && opened.message.replicaId).toBe(3);
  });

  it("a relayed NEW-VIEW with a bad nested signature is dropped", () => {
    const tampered = { ...signedViewChange(2), stableSeq: 0 };
    const newView = newViewBy(3, [signedViewChange(0), signedViewChange(1), tampered]);
    expectDrop(replicaWire(0), replicaWire(1).seal(newView, replica(0)), "signatureInvalid");
  });
});

describe("every other replicaId field still names the sender", () => {
  const samples = wireTesting.sampleMessages();
  it.each([
    ["Prepare", { ...samples.Prepare, replicaId: 3 }],
    ["Commit", { ...samples.Commit, replicaId: 3 }],
    ["Checkpoint", { ...samples.Checkpoint, replicaId: 3 }],
    ["Status", { ...samples.Status, replicaId: 3 }],
    ["ViewChange", signedViewChange(3)],
  ] as [string, Message][])("%s naming another replica", (_type, message) => {
    expect(() => replicaWire(1).seal(message, replica(0))).toThrow(AssertionError);
    expectDrop(replicaWire(0), replicaWire(1).sealUnchecked(message, replica(0)), "senderMismatch");
  });
});
