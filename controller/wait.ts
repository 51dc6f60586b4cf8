/**
 * Readiness checks in the testcontainers style: one interface, a `timeoutMs`, and an error that
 * carries the value and unit ("not ready after 15000ms").
 */
import { testbedErrors } from "./errors.js";

export interface WaitStrategy {
  waitUntilReady(): Promise<void>;
}

/** Polling interval of every wait: short, because a node boots in well under a second. */
export const WAIT_POLL_MS = 100;

/** Ready when `probe` resolves without throwing; retried until `timeoutMs` has passed. */
export function waitForProbe(options: {
  node: string;
  timeoutMs: number;
  probe: () => Promise<void>;
}): WaitStrategy {
  return {
    async waitUntilReady() {
      const deadline = performance.now() + options.timeoutMs;
      let last = "no attempt";
      while (performance.now() < deadline) {
        try {
          await options.probe();
          return;
        } catch (error) {
          last = (error as Error).message;
        }
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      }
      throw testbedErrors.nodeNotReady(options.node, options.timeoutMs, last);
    },
  };
}

export async function waitForAll(strategies: readonly WaitStrategy[]): Promise<void> {
  await Promise.all(strategies.map((strategy) => strategy.waitUntilReady()));
}
