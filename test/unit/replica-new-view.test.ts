/**
 * Proves the new-view decision procedure (PBFT TOCS 2002 section 4.5, P and Q sets) as a pure
 * function: the checkpoint choice (f+1 holders, 2f+1 low watermarks at or below it), conditions
 * A1/A2 for re-proposing a prepared batch, condition B for null batches, gaps filled with null
 * batches, and "undecided" when neither holds or a body is missing or forged.
 * How: table-driven rows of hand-built VIEW-CHANGE messages with f = 1 and a window of 8.
 */
import { describe, expect, it } from "vitest";
import type { Batch, CheckpointClaim, Request, ViewChange, ViewChangeEntry } from "../../bft/messages.js";
import { batchDigestOfRequests, decideNewView } from "../../bft/replica/index.js";
import { makeDeps, makeRequest, sha256 } from "./replica-harness.js";

const deps = makeDeps({
  execute: () => new Uint8Array(0),
  checkpoint: () => ({ digest: new Uint8Array(32), sizeBytes: 0, bytes: () => new Uint8Array(0) }),
  restore: () => true,
  snapshotDigest: () => undefined,
});
const digestOf = (requests: readonly Request[]) => batchDigestOfRequests(requests, deps);
const bodyA: Request[] = [makeRequest(1, 1)];
const bodyB: Request[] = [makeRequest(2, 1)];
const A = digestOf(bodyA);
const B = digestOf(bodyB);
const NULL = digestOf([]);
const d0 = sha256(new Uint8Array([0]));
const d4 = sha256(new Uint8Array([4]));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

interface VcSpec {
  id: number;
  stable?: number;
  checkpoints?: CheckpointClaim[];
  p?: [seq: number, view: number, digest: Uint8Array][];
  q?: [seq: number, view: number, digest: Uint8Array][];
  batches?: Batch[];
}

function vc(spec: VcSpec): ViewChange {
  const entry = ([seq, view, digest]: [number, number, Uint8Array]): ViewChangeEntry => ({
    seq,
    view,
    digest,
  });
  return {
    type: "ViewChange",
    newView: 5,
    stableSeq: spec.stable ?? 0,
    checkpoints: spec.checkpoints ?? [{ seq: 0, stateDigest: d0 }],
    prepared: (spec.p ?? []).map(entry),
    prePrepared: (spec.q ?? []).map(entry),
    batches: spec.batches ?? [
      { digest: A, requests: bodyA },
      { digest: B, requests: bodyB },
    ],
    replicaId: spec.id,
    signature: new Uint8Array(64),
  };
}

function decide(viewChanges: ViewChange[]) {
  const decision = decideNewView({
    view: 5,
    f: 1,
    logWindowSeqs: 8,
    viewChanges,
    batchDigest: (body) => digestOf(body.requests),
  });
  if (decision === null) return null;
  return {
    checkpoint: decision.checkpoint.seq,
    batches: decision.batches.map(
      (b) =>
        `${b.seq}:${hex(b.digest) === hex(A) ? "A" : hex(b.digest) === hex(B) ? "B" : hex(b.digest) === hex(NULL) ? "null" : "?"}`,
    ),
  };
}

describe("new-view decision", () => {
  it.each([
    {
      name: "nothing prepared: empty decision at genesis",
      vcs: [vc({ id: 0 }), vc({ id: 1 }), vc({ id: 2 })],
      expected: { checkpoint: 0, batches: [] },
    },
    {
      name: "A1+A2: a prepared batch is re-proposed",
      vcs: [vc({ id: 0, p: [[1, 3, A]], q: [[1, 3, A]] }), vc({ id: 1, q: [[1, 3, A]] }), vc({ id: 2 })],
      expected: { checkpoint: 0, batches: ["1:A"] },
    },
    {
      name: "gaps below a chosen batch become null batches",
      vcs: [vc({ id: 0, p: [[3, 2, A]], q: [[3, 2, A]] }), vc({ id: 1, q: [[3, 2, A]] }), vc({ id: 2 })],
      expected: { checkpoint: 0, batches: ["1:null", "2:null", "3:A"] },
    },
    {
      name: "A2 fails (one Q) and B fails (a P entry among three): undecided",
      vcs: [vc({ id: 0, p: [[1, 3, A]], q: [[1, 3, A]] }), vc({ id: 1 }), vc({ id: 2 })],
      expected: null,
    },
    {
      name: "with a fourth view-change B holds: the lone claim becomes null (omitted at the end)",
      vcs: [vc({ id: 0, p: [[1, 3, A]], q: [[1, 3, A]] }), vc({ id: 1 }), vc({ id: 2 }), vc({ id: 3 })],
      expected: { checkpoint: 0, batches: [] },
    },
    {
      name: "the later view's prepared batch wins",
      vcs: [
        vc({ id: 0, p: [[1, 1, A]], q: [[1, 1, A]] }),
        vc({ id: 1, p: [[1, 2, B]], q: [[1, 2, B]] }),
        vc({ id: 2, q: [[1, 2, B]] }),
      ],
      expected: { checkpoint: 0, batches: ["1:B"] },
    },
    {
      name: "Q keeps an older digest beside a newer one (two entries per seq)",
      vcs: [
        vc({
          id: 0,
          p: [[1, 1, A]],
          q: [
            [1, 2, NULL],
            [1, 1, A],
          ],
        }),
        vc({
          id: 1,
          q: [
            [1, 2, NULL],
            [1, 1, A],
          ],
        }),
        vc({ id: 2 }),
      ],
      expected: { checkpoint: 0, batches: ["1:A"] },
    },
    {
      name: "the highest checkpoint with f+1 holders and 2f+1 low watermarks at or below it",
      vcs: [
        vc({ id: 0, stable: 4, checkpoints: [{ seq: 4, stateDigest: d4 }], p: [[5, 1, A]], q: [[5, 1, A]] }),
        vc({
          id: 1,
          checkpoints: [
            { seq: 0, stateDigest: d0 },
            { seq: 4, stateDigest: d4 },
          ],
          q: [[5, 1, A]],
        }),
        vc({ id: 2 }),
      ],
      expected: { checkpoint: 4, batches: ["5:A"] },
    },
    {
      name: "a checkpoint only one replica claims is not chosen",
      vcs: [
        vc({
          id: 0,
          checkpoints: [
            { seq: 0, stateDigest: d0 },
            { seq: 4, stateDigest: d4 },
          ],
        }),
        vc({ id: 1 }),
        vc({ id: 2 }),
      ],
      expected: { checkpoint: 0, batches: [] },
    },
    {
      name: "a forged body (wrong digest) is not used: undecided",
      vcs: [
        vc({ id: 0, p: [[1, 3, A]], q: [[1, 3, A]], batches: [{ digest: A, requests: bodyB }] }),
        vc({ id: 1, q: [[1, 3, A]], batches: [] }),
        vc({ id: 2, batches: [] }),
      ],
      expected: null,
    },
  ])("$name", ({ vcs, expected }) => {
    expect(decide(vcs)).toEqual(expected);
  });

  it("is deterministic in the order of view-changes", () => {
    const vcs = [
      vc({ id: 0, p: [[2, 3, A]], q: [[2, 3, A]] }),
      vc({ id: 1, q: [[2, 3, A]] }),
      vc({ id: 2 }),
      vc({ id: 3 }),
    ];
    expect(decide([...vcs].reverse())).toEqual(decide(vcs));
  });
});
