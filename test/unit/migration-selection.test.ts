/**
 * Proves the migration set selection rules (paper section 3.2, DESIGN.md section 5): the source
 * order 3f..0 repeated with round l taking positions l*f..l*f+f-1 (explicit rows for f = 1, 2, 3
 * over 8 rounds, and the paper's four-round example for f = 3), that any four consecutive rounds
 * recover every replica (fast-check over the starting round), target choice by most recent join
 * time with ties by ascending node id, postponement when standbys are short, and on-demand choice.
 * How: table-driven rows written out by hand, plus a property test against a dumb reference.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  pairSourcesWithTargets,
  selectOnDemand,
  selectSources,
  selectTargets,
} from "../../bft/migration/index.js";

describe("selectSources", () => {
  it.each([
    // f = 1: ids 3, 2, 1, 0 repeated; 4 rounds exactly cover the 4 replicas.
    [1, 0, [3]],
    [1, 1, [2]],
    [1, 2, [1]],
    [1, 3, [0]],
    [1, 4, [3]],
    [1, 5, [2]],
    [1, 6, [1]],
    [1, 7, [0]],
    // f = 2: ids 6..0 repeated, two per round.
    [2, 0, [6, 5]],
    [2, 1, [4, 3]],
    [2, 2, [2, 1]],
    [2, 3, [0, 6]],
    [2, 4, [5, 4]],
    [2, 5, [3, 2]],
    [2, 6, [1, 0]],
    [2, 7, [6, 5]],
    // f = 3: the paper's example for rounds 0..3 (3f..2f+1, 2f..f+1, f..1, 0 3f..2f+2), then on.
    [3, 0, [9, 8, 7]],
    [3, 1, [6, 5, 4]],
    [3, 2, [3, 2, 1]],
    [3, 3, [0, 9, 8]],
    [3, 4, [7, 6, 5]],
    [3, 5, [4, 3, 2]],
    [3, 6, [1, 0, 9]],
    [3, 7, [8, 7, 6]],
  ])("f=%i round %i migrates %j", (f, round, expected) => {
    expect(selectSources({ f, round })).toEqual(expected);
  });

  it.each([1, 2, 3])("any four consecutive rounds recover all 3f+1 replicas (f=%i)", (f) => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000_000 }), (start) => {
        const covered = new Set<number>();
        for (let round = start; round < start + 4; round++) {
          for (const id of selectSources({ f, round })) covered.add(id);
        }
        expect([...covered].sort((a, b) => a - b)).toEqual([...Array(3 * f + 1).keys()]);
      }),
    );
  });

  it.each([1, 2, 3])("matches a reference that walks the infinite sequence (f=%i)", (f) => {
    const order = [...Array(3 * f + 1).keys()].reverse();
    const sequence = Array.from({ length: 40 * f }, (_, i) => order[i % order.length]);
    fc.assert(
      fc.property(fc.nat({ max: 39 }), (round) => {
        expect(selectSources({ f, round })).toEqual(sequence.slice(round * f, round * f + f));
      }),
    );
  });

  it("stays exact for huge round numbers", () => {
    expect(selectSources({ f: 3, round: Number.MAX_SAFE_INTEGER })).toHaveLength(3);
  });
});

describe("selectTargets", () => {
  it.each([
    [
      "most recent join time first",
      1,
      [
        { nodeId: 20, joinTimeMs: 100 },
        { nodeId: 21, joinTimeMs: 300 },
        { nodeId: 22, joinTimeMs: 200 },
      ],
      [],
      [21],
    ],
    [
      "ties by ascending node id",
      2,
      [
        { nodeId: 23, joinTimeMs: 500 },
        { nodeId: 21, joinTimeMs: 500 },
        { nodeId: 22, joinTimeMs: 500 },
      ],
      [],
      [21, 22],
    ],
    [
      "tie broken after time order",
      3,
      [
        { nodeId: 9, joinTimeMs: 10 },
        { nodeId: 7, joinTimeMs: 50 },
        { nodeId: 8, joinTimeMs: 50 },
        { nodeId: 1, joinTimeMs: 5 },
      ],
      [],
      [7, 8, 9],
    ],
    [
      "excluded nodes are skipped",
      1,
      [
        { nodeId: 5, joinTimeMs: 900 },
        { nodeId: 6, joinTimeMs: 800 },
      ],
      [5],
      [6],
    ],
  ])("%s", (_name, f, standbys, exclude, expected) => {
    expect(selectTargets({ standbys, f, exclude })).toEqual({ ok: true, targets: expected });
  });

  it.each([
    [1, [], { needed: 1, available: 0 }],
    [2, [{ nodeId: 4, joinTimeMs: 1 }], { needed: 2, available: 1 }],
    [
      3,
      [
        { nodeId: 4, joinTimeMs: 1 },
        { nodeId: 5, joinTimeMs: 2 },
      ],
      { needed: 3, available: 2 },
    ],
  ])("f=%i with too few standbys postpones instead of throwing", (f, standbys, counts) => {
    expect(selectTargets({ standbys, f })).toEqual({ ok: false, reason: "notEnoughStandbys", ...counts });
  });
});

describe("selectOnDemand", () => {
  const standbys = [
    { nodeId: 10, joinTimeMs: 1 },
    { nodeId: 11, joinTimeMs: 3 },
    { nodeId: 12, joinTimeMs: 2 },
  ];

  it.each([
    [2, [1], [1], [11]],
    [2, [0, 4], [4, 0], [11, 12]],
    [2, [4, 4], [4], [11]],
  ])("f=%i faulty %j -> sources %j targets %j", (f, faulty, sources, targets) => {
    expect(selectOnDemand({ f, faulty, standbys })).toEqual({ ok: true, sources, targets });
  });

  it.each([
    [1, [], "invalidSources"],
    [1, [4], "invalidSources"],
    [1, [-1], "invalidSources"],
    [1, [0, 1], "invalidSources"],
    [3, [1, 2, 3], "notEnoughStandbys"],
  ])("f=%i faulty %j is refused (node 10 excluded): %s", (f, faulty, reason) => {
    const result = selectOnDemand({ f, faulty, standbys, exclude: [10] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(reason);
  });
});

describe("pairSourcesWithTargets", () => {
  it("pairs source k with target k and names the source's node", () => {
    const nodeOfReplica = (replicaId: number) => 100 + replicaId;
    expect(pairSourcesWithTargets({ sources: [6, 5], targets: [21, 22], nodeOfReplica })).toEqual([
      { replicaId: 6, sourceNodeId: 106, targetNodeId: 21 },
      { replicaId: 5, sourceNodeId: 105, targetNodeId: 22 },
    ]);
  });
});
