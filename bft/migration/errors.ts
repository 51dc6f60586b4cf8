/**
 * Operating errors of the migration building blocks: bad runtime configuration handed to a
 * constructor. Each has a stable code, a REST status and a hint. (Peer input is never an error
 * here: it is validated, dropped and counted.)
 */
export class MigrationConfigError extends Error {
  override readonly name = "MigrationConfigError";
  readonly code = "MIGRATION_CONFIG_INVALID";
  readonly statusCode = 400;
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(message);
    this.hint = hint;
  }
}

/** Throws MigrationConfigError unless `value` is a finite number > 0. */
export function requirePositiveFinite(name: string, value: number, unit: string): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new MigrationConfigError(
      `${name} must be a positive finite number of ${unit}, got ${String(value)}`,
      `set ${name} to a value above 0 ${unit}`,
    );
  }
}

/** Throws MigrationConfigError unless `value` is an integer in [min, max]. */
export function requireIntegerInRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MigrationConfigError(
      `${name} must be an integer in ${min}..${max}, got ${String(value)}`,
      `set ${name} between ${min} and ${max}`,
    );
  }
}

/** Throws MigrationConfigError unless `value` is a finite number >= 0. */
export function requireNonNegativeFinite(name: string, value: number, unit: string): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new MigrationConfigError(
      `${name} must be a finite number of ${unit} >= 0, got ${String(value)}`,
      `set ${name} to 0 ${unit} or more`,
    );
  }
}

/** Throws MigrationConfigError unless `value` is strictly between 0 and 1. */
export function requireOpenFraction(name: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value >= 1) {
    throw new MigrationConfigError(
      `${name} must be strictly between 0 and 1, got ${String(value)}`,
      `compute ${name} with targetAvailability()`,
    );
  }
}
