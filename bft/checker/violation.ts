/**
 * What a check reports. Every violation names its check, says in one sentence what went wrong, and
 * carries the values involved (seq, replicas, client, digests) so a failing run can be diagnosed
 * from the report alone.
 */

export type CheckName =
  | "agreement"
  | "order"
  | "validity"
  | "liveness"
  | "checkpoint"
  | "stateTransfer"
  | "migrationRound"
  | "migrationState"
  | "migrationCoverage"
  | "standbyTraffic"
  | "stall";

export const CHECK_NAMES: readonly CheckName[] = [
  "agreement",
  "order",
  "validity",
  "liveness",
  "checkpoint",
  "stateTransfer",
  "migrationRound",
  "migrationState",
  "migrationCoverage",
  "standbyTraffic",
  "stall",
];

export interface Violation {
  readonly check: CheckName;
  readonly message: string;
  readonly seq?: number;
  readonly replicaIds?: readonly number[];
  readonly clientId?: number;
  readonly timestamp?: number;
  /** The conflicting or unexpected values, by name. */
  readonly values?: Readonly<Record<string, string | number | null>>;
}

/** Violations kept per check: one is enough to fail a run; a few more help diagnosis. */
export const VIOLATIONS_PER_CHECK_MAX = 20;

/** Collects violations, keeping at most VIOLATIONS_PER_CHECK_MAX per check but counting all. */
export class ViolationLog {
  readonly kept: Violation[] = [];
  readonly counts: Record<CheckName, number> = {
    agreement: 0,
    order: 0,
    validity: 0,
    liveness: 0,
    checkpoint: 0,
    stateTransfer: 0,
    migrationRound: 0,
    migrationState: 0,
    migrationCoverage: 0,
    standbyTraffic: 0,
    stall: 0,
  };

  add(violation: Violation): void {
    this.counts[violation.check] += 1;
    if (this.counts[violation.check] <= VIOLATIONS_PER_CHECK_MAX) this.kept.push(violation);
  }

  get total(): number {
    let total = 0;
    for (const name of CHECK_NAMES) total += this.counts[name];
    return total;
  }
}

export function formatViolation(violation: Violation): string {
  const parts: string[] = [`[${violation.check}] ${violation.message}`];
  const where: string[] = [];
  if (violation.seq !== undefined) where.push(`seq=${violation.seq}`);
  if (violation.replicaIds !== undefined) where.push(`replicas=${violation.replicaIds.join(",")}`);
  if (violation.clientId !== undefined) where.push(`client=${violation.clientId}`);
  if (violation.timestamp !== undefined) where.push(`timestamp=${violation.timestamp}`);
  if (where.length > 0) parts.push(`(${where.join(" ")})`);
  let text = parts.join(" ");
  if (violation.values !== undefined) {
    for (const [name, value] of Object.entries(violation.values))
      text += `\n    ${name}: ${abbreviate(value)}`;
  }
  return text;
}

function abbreviate(value: string | number | null): string {
  if (typeof value !== "string" || value.length <= 80) return String(value);
  return `${value.slice(0, 64)}... (${value.length} chars)`;
}
