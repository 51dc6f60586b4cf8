/**
 * Proves that the simulator builds promoted and restarted replicas with a membership of distinct
 * nodes even when its own host map names one node for two ids: a round whose target never
 * promoted leaves the id on its source node, which may since have been sanitized and promoted for
 * another id. A replica core refuses a construction membership with a repeated node (its
 * JoinRegistry asserts 3f+1 distinct active nodes), which crashed long random runs.
 * How: constructionHosts on host maps with and without a stale repeated entry.
 */
import { describe, expect, it } from "vitest";
import { constructionHosts } from "../../bft/sim/migration-simulation.js";

const roster = [0, 1, 2, 3, 4, 5].map((nodeId) => ({ nodeId }));

describe("constructionHosts", () => {
  it("keeps a host map of distinct nodes as it is", () => {
    expect(constructionHosts([4, 1, 2, 5], 0, roster)).toEqual([4, 1, 2, 5]);
  });

  it("keeps the constructed id's node and gives a stale repeat of it an unused roster node", () => {
    // r0's target never promoted, so r0 still maps to n3, which now runs r3 as well.
    const hosts = constructionHosts([3, 1, 2, 3], 3, roster);
    expect(hosts[3]).toBe(3);
    expect(new Set(hosts).size).toBe(4);
    expect(hosts).toEqual([0, 1, 2, 3]);
  });
});
