/**
 * Proves each Byzantine behaviour actually misbehaves and that PBFT with f such replicas still passes
 * the checker. How: for every kind, a short f=1 run with that kind on one replica and no other
 * faults; the run must pass, and where the misbehaviour leaves a trace outside the cores (frames the
 * wire rejects, a silent replica's missing frames) the test asserts the trace. The equivocation and
 * corrupt-state tests place the liar where it matters (primary of view 0; state served during a
 * crash recovery), and a unit test checks the equivocating primary really sends two different
 * PRE-PREPAREs for one (view, seq).
 */
import { describe, expect, it } from "vitest";
import { formatCheckReport } from "../../bft/checker/index.js";
import type { Message, Principal, Request } from "../../bft/messages.js";
import { batchDigestOfRequests } from "../../bft/replica/index.js";
import { type ByzantineContext, createByzantineBehaviour } from "../../bft/sim/byzantine.js";
import {
  BYZANTINE_KINDS,
  type ByzantineKind,
  Prng,
  runSimulation,
  type SimulationResult,
} from "../../bft/sim/index.js";
import { createDerivedKeyRing, deriveSigningKeyPair, sha256, Wire } from "../../bft/wire/index.js";

function runWith(kind: ByzantineKind, seed: number): SimulationResult {
  const result = runSimulation({
    seed,
    f: 1,
    clients: 3,
    durationMs: 6000,
    thinkMsMax: 20,
    faults: "none",
    byzantineKinds: [kind],
  });
  expect(
    result.ok,
    `seed=${seed} kind=${kind}\n${result.failure?.message}\n${formatCheckReport(result.report)}`,
  ).toBe(true);
  expect(result.requestsCompleted).toBeGreaterThan(10);
  return result;
}

function rejected(result: SimulationResult): number {
  return Object.entries(result.dropped)
    .filter(([reason]) => reason.startsWith("wire:"))
    .reduce((sum, [, count]) => sum + count, 0);
}

describe("Byzantine replicas", () => {
  it.each(BYZANTINE_KINDS.map((kind) => [kind]))(
    "%s: f=1 with one such replica passes the checker",
    (kind) => {
      runWith(kind, 77);
    },
  );

  it("badMac and flood frames are rejected by the wire, honest runs reject nothing", () => {
    expect(rejected(runWith("badMac", 5))).toBeGreaterThan(0);
    expect(rejected(runWith("flood", 5))).toBeGreaterThan(0);
    const honest = runSimulation({
      seed: 5,
      f: 1,
      clients: 3,
      durationMs: 6000,
      thinkMsMax: 20,
      faults: "none",
      byzantineKinds: [],
    });
    expect(rejected(honest)).toBe(0);
  });

  it("a silent replica sends fewer frames than an honest one", () => {
    const silent = runWith("silent", 6);
    const honest = runSimulation({
      seed: 6,
      f: 1,
      clients: 3,
      durationMs: 6000,
      thinkMsMax: 20,
      faults: "none",
      byzantineKinds: [],
    });
    expect(silent.framesSent).toBeLessThan(honest.framesSent);
  });

  it("an equivocating primary sends two different authentic PRE-PREPAREs for one (view, seq)", () => {
    const clusterSecret = new Uint8Array(32).fill(7);
    const n = 4;
    const publicKeys = Array.from(
      { length: n },
      (_, id) => deriveSigningKeyPair(clusterSecret, id).publicKeyRaw,
    );
    const wireOf = (self: Principal): Wire =>
      new Wire({
        self,
        n,
        keys: createDerivedKeyRing({ clusterSecret, self }),
        replicaPublicKeys: publicKeys,
        ...(self.kind === "replica"
          ? { signing: { privateKey: deriveSigningKeyPair(clusterSecret, self.id).privateKey } }
          : {}),
      });
    const client = wireOf({ kind: "client", id: 0 });
    const requests: Request[] = [1, 2].map((timestamp) => {
      const body = { type: "Request" as const, clientId: 0, timestamp, operation: Uint8Array.of(timestamp) };
      return { ...body, auth: client.authenticateRequest(body) };
    });
    const primaryWire = wireOf({ kind: "replica", id: 0 });
    const digestOf = (batch: readonly Request[]) =>
      batchDigestOfRequests(batch, { digest: sha256, requestDigest: (r) => primaryWire.requestDigest(r) });
    const sent: { to: Principal; frame: Uint8Array }[] = [];
    const context: ByzantineContext = {
      replicaId: 0,
      n,
      clientCount: 1,
      prng: new Prng(1),
      wire: primaryWire,
      sendFrame: (to, frame) => sent.push({ to, frame }),
      batchDigest: digestOf,
    };
    const prePrepare: Message = { type: "PrePrepare", view: 0, seq: 1, digest: digestOf(requests), requests };
    createByzantineBehaviour("equivocate").send(prePrepare, "replicas", context);
    expect(sent.map((s) => s.to.id).sort()).toEqual([1, 2, 3]);
    const digests = new Set<string>();
    for (const { to, frame } of sent) {
      const opened = wireOf(to).open(frame);
      expect(opened.ok).toBe(true);
      if (opened.ok && opened.message.type === "PrePrepare") {
        expect(opened.message.seq).toBe(1);
        expect(Buffer.from(opened.message.digest)).toEqual(
          Buffer.from(digestOf([...opened.message.requests])),
        );
        digests.add(Buffer.from(opened.message.digest).toString("hex"));
      }
    }
    expect(digests.size).toBe(2);
  });
});
