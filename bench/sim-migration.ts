/**
 * Migration in the simulator: (1) the latency model against the checkpoint size, (2) how many
 * whole-system migration rounds the simulator runs per minute of wall time.
 *
 *   npx tsx bench/sim-migration.ts [--sizes 1,5,10,50] [--bandwidth-mbit 100] [--rounds 3]
 *                                  [--throughput-rounds 300]
 *
 * Latency: f=1, no faults, one client, kv state of each size (MB); each round's latency is
 * simulated ms from the first execution of its MIGRATION-REQUEST to the target's promotion, with
 * every frame delayed by size/bandwidth on its link (bft/sim/network.ts). Prints CSV rows
 * `state_bytes,latency_ms` (the mean over the rounds) to stdout. Throughput: f=1, 4 KB kv state,
 * a 500 ms migration timer, no faults; prints `rounds,wall_ms,rounds_per_wall_minute` after a
 * blank line.
 */
import { Command } from "commander";
import { KV_STATE_BYTES_SIM_MAX, MIGRATION_RUN_DEFAULTS, runMigrationSimulation } from "../bft/sim/index.js";
import { csvLine, parsePositiveInt, parsePositiveList, readOptionsOrExit } from "./lib.js";

const MB = 1024 * 1024;

const raw = new Command()
  .name("sim-migration")
  .option("--sizes <list>", "kv state sizes in MB", "1,5,10,50")
  .option("--bandwidth-mbit <n>", "link bandwidth", "100")
  .option("--rounds <n>", "rounds measured per size", "3")
  .option("--throughput-rounds <n>", "rounds for the wall-time throughput run", "300")
  .parse(process.argv)
  .opts<{ sizes: string; bandwidthMbit: string; rounds: string; throughputRounds: string }>();

const options = readOptionsOrExit("bench:sim-migration", () => {
  const stateBytes = parsePositiveList(raw.sizes, "--sizes").map((sizeMb) => Math.round(sizeMb * MB));
  if (stateBytes.some((bytes) => bytes > KV_STATE_BYTES_SIM_MAX))
    throw new Error(`--sizes: the simulator holds at most ${KV_STATE_BYTES_SIM_MAX / MB} MB of kv state`);
  const bandwidthMbit = Number(raw.bandwidthMbit);
  if (!Number.isFinite(bandwidthMbit) || bandwidthMbit <= 0)
    throw new Error(`--bandwidth-mbit must be a positive number, got "${raw.bandwidthMbit}"`);
  return {
    stateBytes,
    bandwidthMbit,
    rounds: parsePositiveInt(raw.rounds, "--rounds"),
    throughputRounds: parsePositiveInt(raw.throughputRounds, "--throughput-rounds"),
  };
});

function latencyRow(stateBytes: number): string {
  const result = runMigrationSimulation({
    seed: 1,
    f: 1,
    clients: 1,
    durationMs: 600_000,
    thinkMsMax: 1000,
    app: "kv",
    kvStateBytes: stateBytes,
    faults: "none",
    migration: {
      ...MIGRATION_RUN_DEFAULTS,
      rounds: options.rounds,
      migrationTimeoutMs: 5000,
      bandwidthMbit: options.bandwidthMbit,
      fault: "none",
    },
  });
  if (!result.ok) throw new Error(`latency run failed at ${stateBytes} bytes: ${result.failure?.message}`);
  const latencies = result.rounds.map((round) => round.latencyMs);
  const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  return csvLine([stateBytes, mean.toFixed(1)]);
}

function throughputRow(): string {
  const result = runMigrationSimulation({
    seed: 1,
    f: 1,
    clients: 1,
    durationMs: 3_600_000,
    thinkMsMax: 1000,
    app: "kv",
    kvStateBytes: 4096,
    faults: "none",
    livenessBoundMs: 60_000,
    migration: {
      ...MIGRATION_RUN_DEFAULTS,
      rounds: options.throughputRounds,
      migrationTimeoutMs: 500,
      fault: "none",
    },
  });
  if (!result.ok) throw new Error(`throughput run failed: ${result.failure?.message}`);
  const perMinute = (result.rounds.length * 60_000) / result.wallMs;
  return csvLine([result.rounds.length, result.wallMs.toFixed(0), perMinute.toFixed(0)]);
}

try {
  process.stdout.write("state_bytes,latency_ms\n");
  for (const stateBytes of options.stateBytes) {
    console.error(`bench:sim-migration: ${options.rounds} rounds with ${stateBytes / MB} MB of state`);
    process.stdout.write(`${latencyRow(stateBytes)}\n`);
  }
  console.error(`bench:sim-migration: ${options.throughputRounds} rounds for the throughput run`);
  process.stdout.write("\nrounds,wall_ms,rounds_per_wall_minute\n");
  process.stdout.write(`${throughputRow()}\n`);
} catch (error) {
  console.error(`bench:sim-migration: ${(error as Error).message}`);
  process.exit(1);
}
