/**
 * Text output shared by the simulator's CLIs: the command that reproduces a run, the progress line
 * and the end-of-run summary.
 */
import Table from "cli-table3";
import { formatCheckReport } from "../checker/index.js";
import { describeFaultPlan } from "./fault-plan.js";
import {
  formatDurationMs,
  MIGRATION_RUN_DEFAULTS,
  type MigrationRoundReport,
  SIMULATION_DEFAULTS,
  type SimulationOptions,
  type SimulationProgress,
} from "./options.js";
import type { SimulationResult } from "./simulation.js";

/** The exact command that replays a run: every option that differs from the defaults. */
export function reproduceCommand(options: SimulationOptions): string {
  const parts = [
    "npm run sim --",
    `--seed ${options.seed}`,
    `--f ${options.f}`,
    `--clients ${options.clients}`,
  ];
  parts.push(
    `--duration ${formatDurationMs(options.durationMs)}`,
    `--app ${options.app}`,
    `--faults ${options.faults}`,
  );
  if (options.thinkMsMax !== SIMULATION_DEFAULTS.thinkMsMax)
    parts.push(`--think ${formatDurationMs(options.thinkMsMax)}`);
  if (options.kvStateBytes !== SIMULATION_DEFAULTS.kvStateBytes)
    parts.push(`--kv-state-bytes ${options.kvStateBytes}`);
  if (options.byzantineKinds !== undefined) {
    parts.push(
      `--byzantine ${options.byzantineKinds.length === 0 ? "none" : options.byzantineKinds.join(",")}`,
    );
  } else if (options.byzantineCount !== undefined) {
    parts.push(`--byzantine-count ${options.byzantineCount}`);
  }
  if (options.livenessBoundMs !== SIMULATION_DEFAULTS.livenessBoundMs) {
    parts.push(`--liveness-bound ${formatDurationMs(options.livenessBoundMs)}`);
  }
  const migration = options.migration;
  if (migration !== undefined) {
    parts.push("--migrate", `--migration-timeout ${formatDurationMs(migration.migrationTimeoutMs)}`);
    if (migration.rounds > 0) parts.push(`--rounds ${migration.rounds}`);
    if (migration.standbyCount !== undefined) parts.push(`--standbys ${migration.standbyCount}`);
    if (migration.sanitizeMs !== MIGRATION_RUN_DEFAULTS.sanitizeMs)
      parts.push(`--sanitize ${formatDurationMs(migration.sanitizeMs)}`);
    if (migration.bandwidthMbit !== MIGRATION_RUN_DEFAULTS.bandwidthMbit)
      parts.push(`--bandwidth-mbit ${migration.bandwidthMbit}`);
    if (migration.fault !== "random") parts.push(`--migration-fault ${migration.fault}`);
  }
  return parts.join(" ");
}

export function formatProgress(progress: SimulationProgress): string {
  const phase = progress.healed ? "healed" : "faults";
  return (
    `[sim ${(progress.nowMs / 1000).toFixed(1).padStart(7)}s] ${String(progress.requestsCompleted).padStart(7)} requests` +
    `  view ${progress.viewMax}  state transfers ${progress.stateTransfers}  ${phase}` +
    `  (wall ${(progress.wallMs / 1000).toFixed(1)}s)`
  );
}

export function formatPlan(result: SimulationResult): string {
  return describeFaultPlan(result.plan)
    .map((line) => `  ${line}`)
    .join("\n");
}

export function formatSummary(result: SimulationResult): string {
  const table = new Table({ style: { head: [], border: [] } });
  const o = result.options;
  const dropped = Object.entries(result.dropped)
    .map(([reason, count]) => `${reason}=${count}`)
    .join(" ");
  table.push(
    { seed: String(result.seed) },
    { "f / replicas / clients": `${o.f} / ${3 * o.f + 1} / ${o.clients}` },
    { app: o.app },
    { "simulated time": `${(result.simulatedMs / 1000).toFixed(3)} s` },
    { "wall time": `${(result.wallMs / 1000).toFixed(3)} s` },
    { "requests completed": String(result.requestsCompleted) },
    { throughput: `${result.throughputPerSecond.toFixed(1)} req/s (simulated)` },
    { "view changes": `${result.viewMax} (highest view entered)` },
    { "state transfers": String(result.stateTransfers) },
    { crashes: String(result.crashes) },
    { frames: `${result.framesSent} sent, ${result.framesDelivered} delivered` },
    { "dropped by reason": dropped.length > 0 ? wrap(dropped, 70) : "none" },
    { "history digest": result.historyDigest.slice(0, 16) },
  );
  const partial =
    result.failure?.kind === "exception" ? " [partial history: the run stopped at the exception]" : "";
  return `${table.toString()}\n${formatCheckReport(result.report)}${partial}`;
}

/** One live line per completed migration round: sources -> targets, bytes moved, latency. */
export function formatRound(round: MigrationRoundReport): string {
  const pairs = round.pairs
    .map((p) => `r${p.replicaId}: n${p.sourceNodeId} -> n${p.targetNodeId}`)
    .join(", ");
  return (
    `[sim ${(round.atMs / 1000).toFixed(3).padStart(8)}s] round l=${round.migrationNumber} (${round.trigger})` +
    ` seq ${round.seq}: ${pairs}  ${round.transferBytes} bytes  ${round.latencyMs.toFixed(1)} ms` +
    `  (wall ${(round.wallMs / 1000).toFixed(2)}s)`
  );
}

/** The failure block: what failed, then seed=<n> and the command that replays it. */
export function formatFailure(result: SimulationResult): string {
  const failure = result.failure;
  if (failure === undefined) return "";
  const lines = [`FAILED seed=${result.seed}: ${failure.kind} at ${failure.atMs}ms: ${failure.message}`];
  if (failure.kind === "exception" && failure.stack !== undefined) lines.push(indent(failure.stack));
  lines.push(`reproduce: ${reproduceCommand(result.options)}`);
  return lines.join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

function wrap(text: string, width: number): string {
  const words = text.split(" ");
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line.length > 0 && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  if (line.length > 0) lines.push(line);
  return lines.join("\n");
}
