/**
 * Proves the migration checkers (bft/checker/migration.ts, stall.ts) accept a real whole-system
 * run and reject forged versions of it: a target that applied a wrong digest (migrationState),
 * a round with other sources or other targets than the rules select (migrationRound), timer
 * rounds that leave an id unmigrated (migrationCoverage), a client frame delivered to a pool node
 * (standbyTraffic), and a request slower than the stall bound (stall). How: one fault-free
 * migration run (seed 2, f=1), then pure edits of its recorded history fed to checkHistory.
 */
import { describe, expect, it } from "vitest";
import {
  type CheckName,
  checkHistory,
  expectedSources,
  type History,
  type HistoryEvent,
} from "../../bft/checker/index.js";
import { runMigrationSimulation } from "../../bft/sim/index.js";
import { faultFreeMigrationOptions } from "./migration-ci-options.js";

const run = runMigrationSimulation(faultFreeMigrationOptions(2, "none"));
const history = run.history;

function withEvents(edit: (event: HistoryEvent) => HistoryEvent | null, base: History = history): History {
  const events = base.events.flatMap((event) => {
    const edited = edit(event);
    return edited === null ? [] : [edited];
  });
  return { ...base, events };
}

function violated(forged: History): Set<CheckName> {
  return new Set(checkHistory(forged).violations.map((v) => v.check));
}

const firstRound = history.events.find(
  (e): e is Extract<HistoryEvent, { kind: "migrationExecuted" }> => e.kind === "migrationExecuted",
);

describe("migration checkers on a whole-system run", () => {
  it("accept the recorded run, which migrated every id at least once", () => {
    expect(run.ok, run.failure?.message).toBe(true);
    const stats = run.report.stats.migration;
    expect(stats.roundsProactive).toBeGreaterThanOrEqual(4);
    expect(stats.promotionsVerified).toBeGreaterThanOrEqual(4);
    expect(stats.coverageWindows).toBeGreaterThan(0);
    expect(firstRound).toBeDefined();
  });

  it("the cyclic rule restated by the checker matches DESIGN section 5", () => {
    expect([0, 1, 2, 3, 4].map((round) => expectedSources(1, round))).toEqual([[3], [2], [1], [0], [3]]);
    expect([0, 1, 2, 3].map((round) => expectedSources(2, round))).toEqual([
      [6, 5],
      [4, 3],
      [2, 1],
      [0, 6],
    ]);
  });

  it("fails migrationState when a target applied state other than the MIGRATE-NOW digest", () => {
    let done = false;
    const forged = withEvents((event) => {
      if (event.kind !== "promoted" || done) return event;
      done = true;
      return { ...event, stateDigest: "00".repeat(32) };
    });
    expect(violated(forged)).toContain("migrationState");
  });

  it("fails migrationRound when a timer round migrated other sources", () => {
    const seq = firstRound!.seq;
    const forged = withEvents((event) =>
      event.kind === "migrationExecuted" && event.seq === seq
        ? { ...event, pairs: event.pairs.map((p) => ({ ...p, replicaId: (p.replicaId + 1) % 4 })) }
        : event,
    );
    const checks = violated(forged);
    expect(checks).toContain("migrationRound");
    expect(checks).toContain("migrationCoverage");
  });

  it("fails migrationRound when a round chose a standby that did not join most recently", () => {
    const seq = firstRound!.seq;
    const forged = withEvents((event) =>
      event.kind === "migrationExecuted" && event.seq === seq
        ? { ...event, pairs: event.pairs.map((p) => ({ ...p, targetNodeId: 99 })) }
        : event,
    );
    expect(violated(forged)).toContain("migrationRound");
  });

  it("fails migrationRound when correct replicas disagree on a round", () => {
    let first = true;
    const forged = withEvents((event) => {
      if (event.kind !== "migrationExecuted" || event.seq !== firstRound!.seq) return event;
      if (first) {
        first = false;
        return event;
      }
      return { ...event, stateDigest: "11".repeat(32) };
    });
    expect(violated(forged)).toContain("migrationRound");
  });

  it("fails standbyTraffic when a client frame reached a pool node", () => {
    const frame: HistoryEvent = {
      kind: "clientFrameDelivered",
      atMs: 10,
      clientId: 0,
      nodeId: 5,
      cmRole: "standby",
    };
    const forged = { ...history, events: [...history.events, frame] };
    expect(violated(forged)).toContain("standbyTraffic");
    const targetFrame = { ...frame, cmRole: "active" };
    expect(violated({ ...history, events: [...history.events, targetFrame] })).not.toContain(
      "standbyTraffic",
    );
  });

  it("fails stall when a request outside fault windows took longer than the bound", () => {
    const migration = history.migration!;
    const forged: History = { ...history, migration: { ...migration, stallBoundMs: 0 } };
    expect(violated(forged)).toContain("stall");
    const excused: History = {
      ...forged,
      migration: {
        ...migration,
        stallBoundMs: 0,
        faultWindows: [{ startMs: 0, endMs: 1e9, reason: "test" }],
      },
    };
    expect(violated(excused)).not.toContain("stall");
  });
});
