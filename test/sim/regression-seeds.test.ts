/**
 * Seeds that once found a bug, kept as fixed regression runs with the soak's options
 * (soakSeedOptions: 4 clients, 15 s, echo, random faults, f cycling with the seed). How:
 * runSimulation, then the history checker; a failure prints seed=<n> and the command that
 * replays it.
 * - 1014, 1164: liveness lost when the primary of a view lacked COMMITs from a replica that had
 *   moved alone to a higher view (fixed: replicas resend their old-view votes on STATUS).
 * - 1026, 1344: agreement broken by more than f replicas restarted without memory (fixed in the
 *   simulator's fault budget: an amnesiac replica counts as faulty until the faults heal).
 * - 1410: a restarted primary re-led a view a peer's STATUS showed was already reached.
 * - 20037: liveness lost for good after healing: the primary of view 1 waited for COMMITs that
 *   one backup (which had executed the batches in view 0 and dropped view 1's early PREPAREs)
 *   would never send, the other backup was alone in a view change, and the primary set no
 *   view-change timer (fixed: a primary times out on the batches it proposed).
 */
import { describe, expect, it } from "vitest";
import { formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, runSimulation, soakSeedOptions } from "../../bft/sim/index.js";

const SEEDS = [1014, 1026, 1164, 1344, 1410, 20037];

describe("regression seeds", () => {
  it.each(SEEDS)("seed=%i", (seed) => {
    const result = runSimulation(soakSeedOptions(seed, { migrate: false }));
    if (!result.ok) expect.fail(`${formatFailure(result)}\n${formatCheckReport(result.report)}`);
    expect(result.requestsCompleted).toBeGreaterThan(0);
  });
});
