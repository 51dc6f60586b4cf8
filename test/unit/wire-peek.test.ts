/**
 * Proves peekReceiver names the receiver a frame's header carries without authenticating it, so a
 * client gateway can hand a frame to the right client's Wire, and that it never throws. How: real
 * sealed frames (a reply to a client, a point-to-point message between replicas, a broadcast), a
 * frame with a forged receiver (peek follows the header; that client's Wire.open still rejects
 * it), truncated and random bytes (fast-check).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Principal, Reply } from "../../bft/messages.js";
import { createDerivedKeyRing, peekReceiver, Wire, wireTesting } from "../../bft/wire/index.js";

const N = 4;
const clusterSecret = new Uint8Array(32).fill(5);
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });
const wireFor = (self: Principal) =>
  new Wire({ self, n: N, keys: createDerivedKeyRing({ clusterSecret, self }), replicaPublicKeys: [] });

const reply = (clientId: number): Reply => ({
  type: "Reply",
  view: 0,
  timestamp: 1,
  clientId,
  replicaId: 2,
  result: new Uint8Array([1, 2, 3]),
});

describe("peekReceiver", () => {
  it("names the point-to-point receiver, and nobody for a broadcast", () => {
    const sender = wireFor(replica(2));
    expect(peekReceiver(sender.seal(reply(42), client(42)))).toEqual(client(42));
    const status = wireTesting.sampleMessages().Status;
    expect(peekReceiver(sender.sealUnchecked(status, replica(3)))).toEqual(replica(3));
    expect(peekReceiver(sender.sealUnchecked(status, "replicas"))).toBeUndefined();
    const request = wireTesting.sampleRequest(9, 1);
    expect(peekReceiver(wireFor(client(9)).sealUnchecked(request, "replicas"))).toBeUndefined();
  });

  it("reads without authenticating: the named client's Wire still rejects a forged receiver", () => {
    const frame = wireFor(replica(2)).seal(reply(42), client(42));
    const forged = Uint8Array.from(frame);
    new DataView(forged.buffer).setUint32(8, 43);
    expect(peekReceiver(forged)).toEqual(client(43));
    const opened = wireFor(client(43)).open(forged);
    expect(opened.ok).toBe(false);
    expect(wireFor(client(42)).open(frame).ok).toBe(true);
  });

  it("returns undefined for truncated headers and never throws on any bytes", () => {
    const frame = wireFor(replica(2)).seal(reply(42), client(42));
    for (let length = 0; length < 12; length++)
      expect(peekReceiver(frame.subarray(0, length))).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const receiver = peekReceiver(bytes);
        expect(receiver === undefined || typeof receiver.id === "number").toBe(true);
      }),
    );
  });
});
