/**
 * Assertions guard our own invariants. A failed assertion is a bug: it throws an
 * AssertionError that hosts treat as fatal. Never assert on what a peer sent; peers
 * may be Byzantine, so their input is validated, dropped and counted instead.
 */
export class AssertionError extends Error {
  override readonly name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`assertion failed: ${message}`);
}

export function unreachable(value: never, message = "unreachable"): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
