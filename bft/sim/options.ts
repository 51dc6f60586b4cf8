/**
 * Simulation options: defaults, validation with a clear message per bad value, and the duration
 * parser the CLIs share ("60s", "500ms", "2m", or a bare number of milliseconds).
 */
import { FAULTS_MAX } from "../limits.js";
import { BYZANTINE_KINDS, type ByzantineKind } from "./byzantine-kinds.js";
import { badOption } from "./errors.js";
import { MIGRATION_FAULT_KINDS, type MigrationFaultKind } from "./migration-faults.js";

export type SimulationApp = "echo" | "kv";
export type FaultMode = "none" | "random";

export interface SimulationProgress {
  readonly nowMs: number;
  readonly wallMs: number;
  readonly requestsCompleted: number;
  readonly viewMax: number;
  readonly stateTransfers: number;
  readonly healed: boolean;
}

/** Whole-system runs with migration (bft/sim/migration-simulation.ts). */
export interface MigrationRunOptions {
  /** Stop client load once this many rounds completed (every target promoted); 0: run for durationMs. */
  readonly rounds: number;
  /** The replicas' migrationTimeoutMsMin: with the short interval parameters used here, Tw. */
  readonly migrationTimeoutMs: number;
  /** Standby pool nodes besides the 3f+1 active ones; undefined: 2f. */
  readonly standbyCount: number | undefined;
  /** How long the CM's sanitization (a reboot) of a node takes. */
  readonly sanitizeMs: number;
  /** Link bandwidth for every frame (state transfer time grows with the checkpoint's size). */
  readonly bandwidthMbit: number;
  /** The injected migration fault; "random": the seed picks one (with random faults only). */
  readonly fault: MigrationFaultKind | "random";
}

export const MIGRATION_RUN_DEFAULTS: MigrationRunOptions = {
  rounds: 0,
  migrationTimeoutMs: 2000,
  standbyCount: undefined,
  sanitizeMs: 300,
  bandwidthMbit: 100,
  fault: "random",
};

/** One migration round, reported when its last target was promoted. */
export interface MigrationRoundReport {
  readonly migrationNumber: number;
  readonly seq: number;
  readonly trigger: "timer" | "onDemand";
  readonly pairs: readonly {
    readonly replicaId: number;
    readonly sourceNodeId: number;
    readonly targetNodeId: number;
  }[];
  /** State-chunk bytes the targets received. */
  readonly transferBytes: number;
  /** Simulated ms from the first execution of the MIGRATION-REQUEST to the last promotion. */
  readonly latencyMs: number;
  readonly atMs: number;
  readonly wallMs: number;
}

export interface SimulationOptions {
  readonly seed: number;
  /** Faults tolerated; 3f+1 replicas. */
  readonly f: number;
  /** Closed-loop clients, each with one request outstanding at a time. */
  readonly clients: number;
  /** Simulated time during which clients submit new requests. */
  readonly durationMs: number;
  /**
   * A client pauses uniformly 0..thinkMsMax between a result and its next request. The paper's
   * clients pause 0; the simulator's default paces them so a run costs wall time in proportion to
   * simulated time (every frame is really MACed and hashed).
   */
  readonly thinkMsMax: number;
  readonly app: SimulationApp;
  /** kv only: filler state at start, so state transfer moves real bytes. */
  readonly kvStateBytes: number;
  readonly faults: FaultMode;
  /** Exactly these Byzantine behaviours, one replica each (at most f). Undefined: the seed chooses. */
  readonly byzantineKinds: readonly ByzantineKind[] | undefined;
  /** Exactly this many Byzantine replicas, kinds chosen by the seed. Ignored with byzantineKinds. */
  readonly byzantineCount: number | undefined;
  /** After healing, every request must complete within this much simulated time. */
  readonly livenessBoundMs: number;
  /** Simulated time between onProgress calls. */
  readonly progressIntervalMs: number;
  readonly onProgress: ((progress: SimulationProgress) => void) | undefined;
  /** Receives one line per notable event (faults, views, state transfers); for --verbose. */
  readonly onLog: ((line: string) => void) | undefined;
  /** Set: run the whole system with standbys, the CM and migrations (migration-simulation.ts). */
  readonly migration: MigrationRunOptions | undefined;
  readonly onMigrationRound: ((round: MigrationRoundReport) => void) | undefined;
}

export const SIMULATION_DEFAULTS: Omit<SimulationOptions, "seed"> = {
  f: 1,
  clients: 8,
  durationMs: 60_000,
  thinkMsMax: 200,
  app: "echo",
  kvStateBytes: 0,
  faults: "random",
  byzantineKinds: undefined,
  byzantineCount: undefined,
  // Long enough for f consecutive faulty primaries with doubling view-change timeouts plus the
  // client's capped retransmission backoff; short enough that a stall is caught quickly.
  livenessBoundMs: 60_000,
  progressIntervalMs: 5_000,
  onProgress: undefined,
  onLog: undefined,
  migration: undefined,
  onMigrationRound: undefined,
};

/**
 * What `npm run sim:soak` runs each seed with unless an option says otherwise (bft/sim/soak.ts):
 * 4 clients, 15 s of load, echo, random faults, f cycling 1, 2, 3 with the seed, and with
 * `--migrate` a migration timer of 1 s. Regression tests replay failing soak seeds through it.
 */
export const SOAK_DEFAULTS = {
  clients: 4,
  durationMs: 15_000,
  app: "echo",
  faults: "random",
  migrationTimeoutMs: 1000,
} as const;

/** f for a soak seed when `--f` is not given. */
export function soakF(seed: number): number {
  return 1 + (seed % 3);
}

/** The options `npm run sim:soak [-- --migrate]` gives `seed` by default. */
export function soakSeedOptions(
  seed: number,
  options: { readonly migrate: boolean; readonly f?: number; readonly clients?: number },
): SimulationOptions {
  const { migrationTimeoutMs, ...base } = SOAK_DEFAULTS;
  return resolveOptions({
    ...base,
    seed,
    f: options.f ?? soakF(seed),
    clients: options.clients ?? base.clients,
    migration: options.migrate ? { ...MIGRATION_RUN_DEFAULTS, migrationTimeoutMs } : undefined,
  });
}

/** Clients and simulated time are bounded so one seed always finishes. */
export const CLIENTS_SIM_MAX = 1000;
export const DURATION_MS_SIM_MAX = 24 * 60 * 60 * 1000;
export const KV_STATE_BYTES_SIM_MAX = 64 * 1024 * 1024;
export const STANDBYS_SIM_MAX = 32;

export function resolveOptions(partial: Partial<SimulationOptions> & { seed: number }): SimulationOptions {
  const options: SimulationOptions = {
    ...SIMULATION_DEFAULTS,
    ...withoutUndefined(partial),
    seed: partial.seed,
  };
  validateOptions(options);
  return options;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function validateOptions(options: SimulationOptions): void {
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
    throw badOption(`seed must be a non-negative integer, got ${options.seed}`, "pass --seed 42");
  }
  if (!Number.isInteger(options.f) || options.f < 1 || options.f > FAULTS_MAX) {
    throw badOption(
      `f must be 1..${FAULTS_MAX}, got ${options.f}`,
      `n = 3f+1 replicas; --f 1 runs 4 replicas`,
    );
  }
  if (!Number.isInteger(options.clients) || options.clients < 1 || options.clients > CLIENTS_SIM_MAX) {
    throw badOption(`clients must be 1..${CLIENTS_SIM_MAX}, got ${options.clients}`, "pass --clients 8");
  }
  if (
    !Number.isSafeInteger(options.durationMs) ||
    options.durationMs < 1 ||
    options.durationMs > DURATION_MS_SIM_MAX
  ) {
    throw badOption(`duration must be 1ms..24h, got ${options.durationMs}ms`, "pass --duration 60s");
  }
  if (!Number.isSafeInteger(options.thinkMsMax) || options.thinkMsMax < 0 || options.thinkMsMax > 60_000) {
    throw badOption(`think time must be 0..60s, got ${options.thinkMsMax}ms`, "pass --think 200ms");
  }
  if (options.app !== "echo" && options.app !== "kv") {
    throw badOption(`unknown app "${options.app}"`, "--app echo or --app kv");
  }
  if (options.faults !== "none" && options.faults !== "random") {
    throw badOption(`unknown fault mode "${options.faults}"`, "--faults none or --faults random");
  }
  if (
    !Number.isSafeInteger(options.kvStateBytes) ||
    options.kvStateBytes < 0 ||
    options.kvStateBytes > KV_STATE_BYTES_SIM_MAX
  ) {
    throw badOption(
      `kv state must be 0..${KV_STATE_BYTES_SIM_MAX} bytes, got ${options.kvStateBytes}`,
      "--kv-state-bytes 65536",
    );
  }
  validateByzantine(options);
  if (options.migration !== undefined) validateMigration(options.migration, options.f);
  if (!Number.isSafeInteger(options.livenessBoundMs) || options.livenessBoundMs < 1) {
    throw badOption(
      `liveness bound must be a positive duration, got ${options.livenessBoundMs}ms`,
      "--liveness-bound 60s",
    );
  }
  if (!Number.isSafeInteger(options.progressIntervalMs) || options.progressIntervalMs < 1) {
    throw badOption(`progress interval must be positive, got ${options.progressIntervalMs}ms`, "use 5s");
  }
}

function validateMigration(migration: MigrationRunOptions, f: number): void {
  if (!Number.isSafeInteger(migration.rounds) || migration.rounds < 0)
    throw badOption(`rounds must be a non-negative integer, got ${migration.rounds}`, "--rounds 10");
  if (!Number.isSafeInteger(migration.migrationTimeoutMs) || migration.migrationTimeoutMs < 100)
    throw badOption(
      `migration timeout must be at least 100ms, got ${migration.migrationTimeoutMs}ms`,
      "--migration-timeout 2s",
    );
  const standbys = migration.standbyCount;
  if (standbys !== undefined && (!Number.isInteger(standbys) || standbys < f || standbys > STANDBYS_SIM_MAX))
    throw badOption(
      `standbys must be f=${f}..${STANDBYS_SIM_MAX}, got ${standbys}`,
      "a round needs f registered standbys; --standbys 2",
    );
  if (!Number.isSafeInteger(migration.sanitizeMs) || migration.sanitizeMs < 1)
    throw badOption(`sanitize time must be positive, got ${migration.sanitizeMs}ms`, "--sanitize 300ms");
  if (!(migration.bandwidthMbit > 0) || !Number.isFinite(migration.bandwidthMbit))
    throw badOption(`bandwidth must be positive, got ${migration.bandwidthMbit}`, "--bandwidth-mbit 100");
  if (migration.fault !== "random" && !(MIGRATION_FAULT_KINDS as readonly string[]).includes(migration.fault))
    throw badOption(
      `unknown migration fault "${migration.fault}"`,
      `faults: ${MIGRATION_FAULT_KINDS.join(", ")}, random`,
    );
}

function validateByzantine(options: SimulationOptions): void {
  if (options.byzantineKinds !== undefined) {
    for (const kind of options.byzantineKinds) {
      if (!(BYZANTINE_KINDS as readonly string[]).includes(kind)) {
        throw badOption(`unknown Byzantine kind "${kind}"`, `kinds: ${BYZANTINE_KINDS.join(", ")}, or none`);
      }
    }
    if (options.byzantineKinds.length > options.f) {
      throw badOption(
        `${options.byzantineKinds.length} Byzantine replicas exceed f=${options.f}`,
        "PBFT tolerates at most f Byzantine replicas; list at most f kinds",
      );
    }
  }
  const count = options.byzantineCount;
  if (count !== undefined && (!Number.isInteger(count) || count < 0 || count > options.f)) {
    throw badOption(`Byzantine replica count must be 0..f=${options.f}, got ${count}`, "--byzantine-count 1");
  }
}

/** Parses "60s", "1500ms", "2m", "1h" or a bare millisecond count. */
export function parseDurationMs(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (match === null) {
    throw badOption(`cannot read duration "${text}"`, "use a number with ms, s, m or h, like 60s or 500ms");
  }
  const value = Number(match[1]);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "ms") as "ms" | "s" | "m" | "h"];
  const durationMs = Math.round(value * unitMs);
  if (!Number.isSafeInteger(durationMs))
    throw badOption(`duration "${text}" is too large`, "use at most 24h");
  return durationMs;
}

export function formatDurationMs(durationMs: number): string {
  if (durationMs % 60_000 === 0 && durationMs >= 60_000) return `${durationMs / 60_000}m`;
  if (durationMs % 1000 === 0) return `${durationMs / 1000}s`;
  return `${durationMs}ms`;
}

/** "equivocate,silent" or "none" into a kind list. */
export function parseByzantineKinds(text: string): ByzantineKind[] {
  const trimmed = text.trim();
  if (trimmed === "none" || trimmed === "") return [];
  return trimmed.split(",").map((part) => {
    const kind = part.trim();
    if (!(BYZANTINE_KINDS as readonly string[]).includes(kind)) {
      throw badOption(`unknown Byzantine kind "${kind}"`, `kinds: ${BYZANTINE_KINDS.join(", ")}, or none`);
    }
    return kind as ByzantineKind;
  });
}
