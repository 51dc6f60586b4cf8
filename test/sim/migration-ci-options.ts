/**
 * The migration CI suite's settings (imported by migration-seeds-*.test.ts; not a test file).
 *
 * Each seed runs the whole system (3f+1 replicas, 2f standbys, the CM, 3 clients) for 8 s of
 * simulated client load with random swarm faults and one seed-chosen migration fault (see
 * bft/sim/migration-faults.ts), migrating every simulated second. f is 2 on every fifth seed and
 * 1 otherwise (f=2 costs about four times as much per round). Even seeds run kv with 4 KB of
 * state, odd seeds echo.
 */
import {
  MIGRATION_RUN_DEFAULTS,
  type MigrationRunOptions,
  type SimulationOptions,
} from "../../bft/sim/index.js";

export function migrationCiOptions(
  seed: number,
): Partial<SimulationOptions> & { seed: number; migration: MigrationRunOptions } {
  const f = seed % 5 === 0 ? 2 : 1;
  return {
    seed,
    f,
    clients: 3,
    durationMs: 8000,
    thinkMsMax: f === 1 ? 100 : 300,
    app: seed % 2 === 0 ? "kv" : "echo",
    kvStateBytes: seed % 2 === 0 ? 4096 : 0,
    faults: "random",
    migration: { ...MIGRATION_RUN_DEFAULTS, migrationTimeoutMs: 1000 },
  };
}

/**
 * A fault-free whole-system run (f=1, 3 clients, 4 KB kv, a round every simulated second) with one
 * chosen migration fault: the shape of the fixed runs the checker tests edit into forged histories.
 */
export function faultFreeMigrationOptions(
  seed: number,
  fault: MigrationRunOptions["fault"],
): Partial<SimulationOptions> & { seed: number; migration: MigrationRunOptions } {
  return {
    seed,
    f: 1,
    clients: 3,
    durationMs: 8000,
    thinkMsMax: 100,
    app: "kv",
    kvStateBytes: 4096,
    faults: "none",
    migration: { ...MIGRATION_RUN_DEFAULTS, migrationTimeoutMs: 1000, fault },
  };
}
