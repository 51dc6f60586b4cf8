/**
 * The migration simulator's partitions follow the nodes that run the planned logical ids. The plan
 * keeps overlapping partitions apart by logical id, but a node may already be on an island as
 * another id's host (migrated away from mid-partition, sanitized and promoted to the id a later
 * partition names): that node stays where it is instead of tripping the network's one-island rule
 * (seed 115 of the migration runs threw it as an exception).
 * How: a MigrationSimulation built for CI seed 1 (its first partition names r1 and two clients);
 * its node 1 is put on an island first, then the planned partition starts.
 */
import { expect, it } from "vitest";
import type { Principal } from "../../bft/messages.js";
import { MigrationSimulation, resolveOptions, type SimNetwork } from "../../bft/sim/index.js";
import { migrationCiOptions } from "./migration-ci-options.js";

interface Internals {
  readonly network: SimNetwork;
  startPartition(index: number): void;
}

it("a partition leaves a node that is already on an island where it is", () => {
  const simulation = new MigrationSimulation(resolveOptions(migrationCiOptions(1)));
  const partition = simulation.plan.partitions[0]!;
  expect(partition.members).toContainEqual({ kind: "replica", id: 1 });
  const internals = simulation as unknown as Internals;
  const node1: Principal = { kind: "node", id: 1 };
  const client0: Principal = { kind: "client", id: 0 };
  internals.network.addIsland([node1]);
  internals.startPartition(0);
  expect(internals.network.islandCount).toBe(2);
  expect(internals.network.connected(node1, client0)).toBe(false);
  expect(internals.network.inIsland(client0)).toBe(true);
});
