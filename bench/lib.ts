/** Shared helpers for benchmark scripts: durations, free ports, latency statistics, CSV. */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { constants } from "node:os";
import { HOST_NODE_FLAGS, missingHostNodeFlags } from "../bft/host/node-flags.js";

export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) throw new Error(`bad duration "${text}"; use e.g. 500ms, 10s or 2m`);
  const value = Number(match[1]);
  const unit = match[2] ?? "ms";
  return unit === "ms" ? value : unit === "s" ? value * 1000 : value * 60_000;
}

/** A duration that must be more than zero, e.g. a measured window. */
export function parsePositiveDurationMs(text: string, name: string): number {
  const ms = parseDurationMs(text);
  if (ms <= 0) throw new Error(`${name} must be positive, got "${text}"`);
  return ms;
}

export function parseList(text: string, name: string): number[] {
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((value) => !Number.isFinite(value) || value < 0)) {
    throw new Error(`bad ${name} list "${text}"; use comma-separated non-negative numbers`);
  }
  return values;
}

/** A --clients list: parseList's rule, and every count a positive integer. */
export function parseClientCounts(text: string): number[] {
  const counts = parseList(text, "clients");
  if (counts.some((count) => !Number.isSafeInteger(count) || count < 1))
    throw new Error(`--clients must list positive integers, got "${text}"`);
  return counts;
}

/** A positive integer option, e.g. --rounds. */
export function parsePositiveInt(text: string, name: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${text}"`);
  return value;
}

/** A list of positive numbers, e.g. --sizes 1,5,10. */
export function parsePositiveList(text: string, name: string): number[] {
  const values = parseList(text, name);
  if (values.some((value) => value <= 0))
    throw new Error(`${name} must list positive numbers, got "${text}"`);
  return values;
}

/**
 * Reads a benchmark's options with `read`; a bad one ends the process with `<program>: <message>`
 * and status 2 before anything starts.
 */
export function readOptionsOrExit<T>(program: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    console.error(`${program}: ${(error as Error).message}`);
    process.exit(2);
  }
}

/** Ports the kernel hands out on loopback; closed again before use. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let index = 0; index < count; index += 1) {
    ports.push(
      await new Promise<number>((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
          const address = server.address();
          server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
        });
      }),
    );
  }
  return ports;
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarize(latenciesMs: number[]): LatencySummary {
  if (latenciesMs.length === 0) return { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN };
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    count: sorted.length,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

export function csvLine(values: readonly (string | number)[]): string {
  return values
    .map((value) => (typeof value === "number" ? Number(value.toFixed(3)).toString() : value))
    .join(",");
}

/** User plus system CPU time of a child process so far, from /proc (0 once it is gone). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/**
 * Watches replica processes a benchmark started: `failed` rejects as soon as one exits before
 * `expectExits()` is called (a bad configuration, a port taken, a crash), so a run raced against
 * it fails with the replica's id instead of hanging. Never an unhandled rejection. The children
 * end with this process (endWithThisProcess).
 */
export function watchReplicaExits(children: readonly ChildProcess[]): {
  readonly failed: Promise<never>;
  expectExits(): void;
} {
  let stopping = false;
  const failed = new Promise<never>((_, reject) => {
    for (const [id, child] of children.entries())
      child.once("exit", (code, signal) => {
        if (!stopping) reject(new Error(`replica ${id} exited (${signal ?? `code ${code}`}) during the run`));
      });
  });
  failed.catch(() => {}); // observed by the callers' races
  endWithThisProcess(children);
  return {
    failed,
    expectExits: () => {
      stopping = true;
    },
  };
}

/** What runs when this process exits; see atExit. */
const exitCleanups = new Set<() => void>();
let exitHooksInstalled = false;

/**
 * Runs `cleanup` (synchronous) when this process exits, however it exits: returning from main, an
 * error on any path, process.exit, SIGINT or SIGTERM (whose default action would skip it). Returns
 * a function that unregisters it, for a cleanup already done.
 */
export function atExit(cleanup: () => void): () => void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.once("exit", () => {
      for (const run of exitCleanups) run();
    });
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => process.exit(128 + (constants.signals[signal] ?? 0)));
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

/** Ends the given child processes when this one exits: a failed benchmark leaves no replica running. */
export function endWithThisProcess(children: readonly ChildProcess[]): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const forget = atExit(() => child.kill("SIGTERM"));
    child.once("exit", forget);
  }
}

/** Set in a benchmark process relaunchUnderHostFlags started, so it never relaunches again. */
const RELAUNCHED_ENV = "MBFT_BENCH_RELAUNCHED";

/**
 * Heap flags are fixed when a process starts, and `npm run` starts a benchmark through tsx without
 * them: when this process lacks some of HOST_NODE_FLAGS, runs the same script again as a child with
 * them and the same arguments, passes SIGINT and SIGTERM on, and exits with its status. Returns
 * false when this process already has the flags and should run the benchmark itself.
 */
export function relaunchUnderHostFlags(): boolean {
  const missing = missingHostNodeFlags();
  if (missing.length === 0 || process.env[RELAUNCHED_ENV] === "1") return false;
  const child = spawn(process.execPath, [...missing, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, [RELAUNCHED_ENV]: "1" },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.once("error", (error) => {
    console.error(`error: cannot start the benchmark under ${HOST_NODE_FLAGS.join(" ")}: ${error.message}`);
    process.exit(1);
  });
  child.once("exit", (code, signal) =>
    process.exit(code ?? (signal === null ? 1 : 128 + (constants.signals[signal] ?? 0))),
  );
  return true;
}
