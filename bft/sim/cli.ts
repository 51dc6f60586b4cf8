/**
 * `npm run sim`: one deterministic simulation run.
 *
 *   npm run sim -- --seed 42 --f 1 --clients 8 --duration 60s [--app echo|kv] [--faults none|random]
 *                  [--byzantine equivocate,silent|none] [--verbose] [--history out.json] [--debug]
 *                  [--migrate [--rounds N] [--migration-timeout 2s] [--standbys n] [--sanitize 300ms]
 *                   [--bandwidth-mbit 100] [--migration-fault none|wrongStateSender|...|random]]
 *
 * With --migrate the whole system runs (standbys, CM, migrations; migration-simulation.ts) and
 * every completed round prints as it happens: sources -> targets, state bytes moved, latency.
 *
 * Prints the fault plan, a progress line every few simulated seconds and a summary. Any failure
 * (checker violation, or an exception in a core) prints seed=<n> and the command that reproduces it,
 * and exits 1. Bad options exit 2 with `error [CODE]: message` and a hint.
 */
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { BYZANTINE_KINDS } from "./byzantine-kinds.js";
import { parseChoice, parseDurationOption, parseIntegerOption } from "./cli-options.js";
import { SimulationError } from "./errors.js";
import { MIGRATION_FAULT_KINDS } from "./migration-faults.js";
import { runMigrationSimulation } from "./migration-simulation.js";
import {
  type MigrationRunOptions,
  parseByzantineKinds,
  resolveOptions,
  type SimulationOptions,
} from "./options.js";
import {
  formatFailure,
  formatPlan,
  formatProgress,
  formatRound,
  formatSummary,
  reproduceCommand,
} from "./report.js";
import { runSimulation, type SimulationResult } from "./simulation.js";

interface RawOptions {
  seed?: string;
  f: string;
  clients: string;
  duration: string;
  think: string;
  app: string;
  kvStateBytes: string;
  faults: string;
  byzantine?: string;
  byzantineCount?: string;
  livenessBound: string;
  progressInterval: string;
  history?: string;
  verbose: boolean;
  quiet: boolean;
  debug: boolean;
  migrate: boolean;
  rounds: string;
  migrationTimeout: string;
  standbys?: string;
  sanitize: string;
  bandwidthMbit: string;
  migrationFault: string;
}

function buildCommand(): Command {
  return new Command("sim")
    .description("Deterministic PBFT simulation with seeded faults, checked by the history checker")
    .option("--seed <n>", "PRNG seed (default: chosen from the clock and printed)")
    .option("--f <n>", "faults tolerated; 3f+1 replicas (1..3)", "1")
    .option("--clients <n>", "closed-loop clients", "8")
    .option("--duration <d>", "simulated time clients submit requests (ms, s, m suffixes)", "60s")
    .option("--think <d>", "client pause between requests: uniform 0..this", "200ms")
    .option("--app <name>", "application: echo or kv", "echo")
    .option("--kv-state-bytes <n>", "kv: filler state at start", "0")
    .option("--faults <mode>", "none or random (the seed picks the fault mix)", "random")
    .option(
      "--byzantine <kinds>",
      `comma list of Byzantine kinds (at most f), or none: ${BYZANTINE_KINDS.join(", ")}`,
    )
    .option("--byzantine-count <n>", "exactly this many Byzantine replicas, kinds picked by the seed")
    .option("--liveness-bound <d>", "after healing, every request completes within this", "60s")
    .option("--progress-interval <d>", "simulated time between progress lines", "5s")
    .option("--history <file>", "write the recorded history (JSON) to this file")
    .option("--verbose", "print faults, view changes and state transfers as they happen", false)
    .option("--quiet", "no plan and progress lines", false)
    .option("--debug", "print stack traces for option errors", false)
    .option("--migrate", "whole system: standbys, CM and proactive migrations; rounds print live", false)
    .option(
      "--rounds <n>",
      "with --migrate: stop client load after this many completed rounds (0: duration)",
      "0",
    )
    .option("--migration-timeout <d>", "with --migrate: migration timer (Tw floor)", "2s")
    .option("--standbys <n>", "with --migrate: standby pool size (default 2f)")
    .option("--sanitize <d>", "with --migrate: how long a sanitization (reboot) takes", "300ms")
    .option("--bandwidth-mbit <n>", "with --migrate: link bandwidth", "100")
    .option(
      "--migration-fault <kind>",
      `with --migrate: ${MIGRATION_FAULT_KINDS.join(", ")} or random (seed picks; none without --faults random)`,
      "random",
    );
}

function toMigration(raw: RawOptions): MigrationRunOptions | undefined {
  if (!raw.migrate) return undefined;
  return {
    rounds: parseIntegerOption("rounds", raw.rounds, 0),
    migrationTimeoutMs: parseDurationOption("migration-timeout", raw.migrationTimeout),
    standbyCount: raw.standbys === undefined ? undefined : parseIntegerOption("standbys", raw.standbys, 1),
    sanitizeMs: parseDurationOption("sanitize", raw.sanitize),
    bandwidthMbit: parseIntegerOption("bandwidth-mbit", raw.bandwidthMbit, 1),
    fault: parseChoice("migration-fault", raw.migrationFault, [...MIGRATION_FAULT_KINDS, "random"] as const),
  };
}

function toOptions(raw: RawOptions, print: (line: string) => void): SimulationOptions {
  const seed = raw.seed === undefined ? Date.now() % 2 ** 31 : parseIntegerOption("seed", raw.seed, 0);
  return resolveOptions({
    seed,
    f: parseIntegerOption("f", raw.f, 1),
    clients: parseIntegerOption("clients", raw.clients, 1),
    durationMs: parseDurationOption("duration", raw.duration),
    thinkMsMax: parseDurationOption("think", raw.think),
    app: parseChoice("app", raw.app, ["echo", "kv"] as const),
    kvStateBytes: parseIntegerOption("kv-state-bytes", raw.kvStateBytes, 0),
    faults: parseChoice("faults", raw.faults, ["random", "none"] as const),
    byzantineKinds: raw.byzantine === undefined ? undefined : parseByzantineKinds(raw.byzantine),
    byzantineCount:
      raw.byzantineCount === undefined
        ? undefined
        : parseIntegerOption("byzantine-count", raw.byzantineCount, 0),
    livenessBoundMs: parseDurationOption("liveness-bound", raw.livenessBound),
    progressIntervalMs: parseDurationOption("progress-interval", raw.progressInterval),
    onProgress: raw.quiet ? undefined : (progress) => print(formatProgress(progress)),
    onLog: raw.verbose ? print : undefined,
    migration: toMigration(raw),
    onMigrationRound: raw.migrate ? (round) => print(formatRound(round)) : undefined,
  });
}

function main(argv: readonly string[]): number {
  const command = buildCommand();
  command.parse(argv as string[]);
  const raw = command.opts<RawOptions>();
  const print = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  let options: SimulationOptions;
  try {
    options = toOptions(raw, print);
  } catch (error) {
    return reportOptionError(error, raw.debug);
  }
  if (!raw.quiet) {
    print(
      `migrate-bft simulator: seed=${options.seed} f=${options.f} replicas=${3 * options.f + 1}` +
        ` clients=${options.clients} app=${options.app} faults=${options.faults}`,
    );
    print(`replay: ${reproduceCommand(options)}`);
  }
  const result = run(options, print);
  if (!raw.quiet) print(`fault plan:\n${formatPlan(result)}`);
  print(formatSummary(result));
  if (raw.history !== undefined) {
    writeFileSync(raw.history, `${JSON.stringify(result.history)}\n`);
    print(`history written to ${raw.history} (${result.history.events.length} events)`);
  }
  if (!result.ok) {
    process.stderr.write(`${formatFailure(result)}\n`);
    return 1;
  }
  return 0;
}

function run(options: SimulationOptions, print: (line: string) => void): SimulationResult {
  const migration = options.migration;
  if (migration === undefined) return runSimulation(options);
  const result = runMigrationSimulation({ ...options, migration });
  const latencies = result.rounds.map((round) => round.latencyMs);
  const latencyMean = latencies.length === 0 ? 0 : latencies.reduce((a, b) => a + b, 0) / latencies.length;
  const perMinuteWall = result.wallMs > 0 ? (result.rounds.length * 60_000) / result.wallMs : 0;
  print(
    `migration: ${result.rounds.length} rounds completed (${result.roundsExecuted} executed), ` +
      `mean latency ${latencyMean.toFixed(1)} ms simulated, ${perMinuteWall.toFixed(0)} rounds per wall minute, ` +
      `${result.sanitizations} sanitizations, ${result.cutOffs} forced cut-offs; fault: ${result.migrationFault.kind}`,
  );
  return result;
}

function reportOptionError(error: unknown, debug: boolean): number {
  if (error instanceof SimulationError) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n  hint: ${error.hint}\n`);
    if (debug && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
    return 2;
  }
  throw error;
}

process.exitCode = main(process.argv);
