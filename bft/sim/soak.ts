/**
 * `npm run sim:soak`: many seeds in a row, like TigerBeetle's VOPR fleet.
 *
 *   npm run sim:soak -- --seeds 10000 [--from 1] [--f 1|2|3] [--clients 4] [--duration 15s]
 *                       [--app echo|kv] [--byzantine-count n] [--stop-on-failure]
 *                       [--migrate [--migration-timeout 1s]]   (whole system with migrations)
 *
 * Without --f, f cycles 1, 2, 3 with the seed. Each failing seed is printed at once with seed=<n> and
 * its reproduce command; a summary closes the run, also when SIGINT or SIGTERM stops it early (it
 * then says where to resume). Exits 1 if any seed failed, 2 on bad options, 130 when stopped
 * early with none failed.
 */
import { Command } from "commander";
import { parseChoice, parseDurationOption, parseIntegerOption } from "./cli-options.js";
import { SimulationError } from "./errors.js";
import { runMigrationSimulation } from "./migration-simulation.js";
import {
  formatDurationMs,
  MIGRATION_RUN_DEFAULTS,
  resolveOptions,
  type SimulationOptions,
  SOAK_DEFAULTS,
  soakF,
} from "./options.js";
import { formatFailure } from "./report.js";
import { runSimulation } from "./simulation.js";

interface RawOptions {
  seeds: string;
  from: string;
  f?: string;
  clients: string;
  duration: string;
  app: string;
  byzantineCount?: string;
  stopOnFailure: boolean;
  debug: boolean;
  migrate: boolean;
  migrationTimeout: string;
}

/** Wall time between progress lines. */
const PROGRESS_INTERVAL_WALL_MS = 5000;

interface SoakPlan {
  readonly seedCount: number;
  readonly seedFirst: number;
  readonly optionsFor: (seed: number) => SimulationOptions;
  readonly stopOnFailure: boolean;
}

function parse(argv: readonly string[]): { plan: SoakPlan; debug: boolean } | SimulationError {
  const command = new Command("sim:soak")
    .description("Run many simulation seeds; print every failing seed with its reproduce command")
    .option("--seeds <n>", "how many seeds", "1000")
    .option("--from <n>", "first seed", "1")
    .option("--f <n>", "faults tolerated (default: cycles 1, 2, 3 with the seed)")
    .option("--clients <n>", "closed-loop clients per run", String(SOAK_DEFAULTS.clients))
    .option("--duration <d>", "simulated load time per seed", formatDurationMs(SOAK_DEFAULTS.durationMs))
    .option("--app <name>", "echo or kv", SOAK_DEFAULTS.app)
    .option("--byzantine-count <n>", "exactly this many Byzantine replicas (default: the seed decides)")
    .option("--stop-on-failure", "stop at the first failing seed", false)
    .option("--migrate", "whole system with standbys, the CM and migrations", false)
    .option(
      "--migration-timeout <d>",
      "with --migrate: migration timer",
      formatDurationMs(SOAK_DEFAULTS.migrationTimeoutMs),
    )
    .option("--debug", "stack traces for option errors", false);
  command.parse(argv as string[]);
  const raw = command.opts<RawOptions>();
  try {
    const seedCount = parseIntegerOption("seeds", raw.seeds, 1);
    const seedFirst = parseIntegerOption("from", raw.from, 0);
    const fixedF = raw.f === undefined ? undefined : parseIntegerOption("f", raw.f, 1);
    const base = {
      clients: parseIntegerOption("clients", raw.clients, 1),
      durationMs: parseDurationOption("duration", raw.duration),
      app: parseChoice("app", raw.app, ["echo", "kv"] as const),
      faults: SOAK_DEFAULTS.faults,
      byzantineCount:
        raw.byzantineCount === undefined
          ? undefined
          : parseIntegerOption("byzantine-count", raw.byzantineCount, 0),
      migration: raw.migrate
        ? {
            ...MIGRATION_RUN_DEFAULTS,
            migrationTimeoutMs: parseDurationOption("migration-timeout", raw.migrationTimeout),
          }
        : undefined,
    };
    const optionsFor = (seed: number): SimulationOptions =>
      resolveOptions({ ...base, seed, f: fixedF ?? soakF(seed) });
    optionsFor(seedFirst); // validates the combination once, before the long run
    return { plan: { seedCount, seedFirst, optionsFor, stopOnFailure: raw.stopOnFailure }, debug: raw.debug };
  } catch (error) {
    if (error instanceof SimulationError) {
      if (raw.debug) process.stderr.write(`${error.stack}\n`);
      return error;
    }
    throw error;
  }
}

/** Exit status of a soak stopped by SIGINT or SIGTERM with no seed failed (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

/**
 * Runs the plan's seeds in order. SIGINT or SIGTERM stops it after the seed in progress, which
 * still counts, and the summary says how far it got. Further signals change nothing: one Ctrl-C
 * reaches this process more than once, from the terminal and again from npm and tsx passing it on
 * (tsx ends a child that has no listener left).
 */
async function soak(plan: SoakPlan): Promise<number> {
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, onSignal);
  const startMs = performance.now();
  let lastProgressMs = startMs;
  const failed: number[] = [];
  let ran = 0;
  let requests = 0;
  for (let seed = plan.seedFirst; seed < plan.seedFirst + plan.seedCount; seed += 1) {
    const options = plan.optionsFor(seed);
    const migration = options.migration;
    const result =
      migration === undefined ? runSimulation(options) : runMigrationSimulation({ ...options, migration });
    ran += 1;
    requests += result.requestsCompleted;
    if (!result.ok) {
      failed.push(seed);
      process.stdout.write(`${formatFailure(result)}\n`);
      for (const violation of result.report.violations.slice(0, 5))
        process.stdout.write(`    ${violation.message}\n`);
      if (plan.stopOnFailure) break;
    }
    // A turn of the event loop between seeds, so that a signal can be seen.
    await new Promise((resolve) => setImmediate(resolve));
    if (interrupted) break;
    const nowMs = performance.now();
    if (nowMs - lastProgressMs >= PROGRESS_INTERVAL_WALL_MS) {
      lastProgressMs = nowMs;
      const perSeedMs = (nowMs - startMs) / ran;
      const etaS = ((plan.seedCount - ran) * perSeedMs) / 1000;
      process.stdout.write(
        `seeds ${ran}/${plan.seedCount} (last ${seed}) failed=${failed.length}` +
          ` ${(perSeedMs / 1000).toFixed(2)}s/seed eta ${etaS.toFixed(0)}s\n`,
      );
    }
  }
  const wallS = (performance.now() - startMs) / 1000;
  const stoppedAt = interrupted ? `interrupted after ${ran} of ${plan.seedCount} seeds` : `${ran} seeds`;
  process.stdout.write(
    `soak: ${stoppedAt} from ${plan.seedFirst}, ${failed.length} failed, ${requests} requests, ` +
      `${wallS.toFixed(1)}s wall (${(wallS / Math.max(1, ran)).toFixed(2)}s/seed)\n`,
  );
  if (failed.length > 0) process.stdout.write(`failing seeds: ${failed.join(" ")}\n`);
  if (interrupted && ran < plan.seedCount)
    process.stdout.write(`resume with --from ${plan.seedFirst + ran} --seeds ${plan.seedCount - ran}\n`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.removeListener(signal, onSignal);
  return failed.length > 0 ? 1 : interrupted ? EXIT_INTERRUPTED : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parse(argv);
  if (parsed instanceof SimulationError) {
    process.stderr.write(`error [${parsed.code}]: ${parsed.message}\n  hint: ${parsed.hint}\n`);
    return 2;
  }
  return soak(parsed.plan);
}

process.exitCode = await main(process.argv);
