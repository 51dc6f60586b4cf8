/**
 * Timers of a test harness (replica-harness.ts, migration-harness.ts): a map from timer key to due
 * time, fired in time order. Not a test file.
 */

/** Removes and returns the earliest timer due at or before endMs, or null when none is. */
export function takeNextDueTimer(
  timers: Map<string, number>,
  endMs: number,
): { readonly key: string; readonly dueMs: number } | null {
  let nextKey: string | null = null;
  let nextMs = Number.POSITIVE_INFINITY;
  for (const [key, dueMs] of timers) {
    if (dueMs < nextMs) {
      nextMs = dueMs;
      nextKey = key;
    }
  }
  if (nextKey === null || nextMs > endMs) return null;
  timers.delete(nextKey);
  return { key: nextKey, dueMs: nextMs };
}
