/**
 * Migration CI seeds whose failure was diagnosed and fixed, kept as fixed runs that must pass every
 * check, liveness and stall included (the 200-seed suite only bounds liveness failures per file).
 * Causes (docs/migration-progress.md):
 * - 150: an exception in the simulator: a partition naming two replica ids whose hostOf entries map
 *   to one node (a target never promoted, its node since promoted to the other id) put the node on
 *   an island twice.
 * - 71, 78, 93, 144: a round executed in a partition without a correct non-source replica, its
 *   source retired (its one-shot MIGRATE-NOW lost), and the replica left out passed the round by
 *   state transfer without vouching, so its target never got 2f+1 MIGRATE-NOWs; that replica now
 *   signs the round's MIGRATE-NOW from the installed state (MigrationRole.vouchSkippedRound).
 * - 153: the same, with the lagging replica in a view change one seq before an off-interval
 *   round: it fetches the round's checkpoint on the CHECKPOINTs its holders announce for it.
 * - 74: a replica far behind chose such a migration checkpoint, whose holders had all retired or
 *   crashed, over the interval checkpoint below it (interval checkpoints are now preferred).
 * - 66: a round's MIGRATE-NOW reached the target from too few signers for good (sent into a
 *   partition by a replica that retired in the next round, or by a source); the peers that got a
 *   copy now relay it to the pending target, which checks the signer's signature.
 * - 79: two rounds executed in a partition that cut off both targets and the CM; one holder of the
 *   later round restarted without memory, its source retired, and the CM got only one correct
 *   replica's copy of it (f+1 needed), so no certificate let the restarted replica fetch the
 *   round's state. Replicas now relay their peers' signed copies to the CM as well. (It first
 *   needed INIT-MIGRATION proofs checked by the core: the restarted replica's proofs no longer
 *   verified at the wire, docs/migration.md, "Ordering special entries".)
 * - 37: two replicas missed the round that promoted a target and refused its frames (their wire
 *   keyed the id by the retired node), so their view change could not decide the round's seq;
 *   a replica behind a CM-certified round now authenticates that round's members, and peers
 *   resend the certificate to it.
 * - 198: a round executed in a partition that cut off the CM, the target and one replica; a
 *   signer lost its memory before resending its MIGRATE-NOW, so the CM held one vote of f+1 and
 *   never certified the round, and the replica left out could not fetch the round's state (one
 *   holder's claim where f+1 are needed). Replicas now relay their peers' copies to the CM, which
 *   counts each under its signer's signature; the target, whose JOIN-APPROVEDs were lost, then
 *   exchanges keys once 2f+1 MIGRATE-NOWs certify it as a target.
 * - soak seed 61137 (`npm run sim:soak -- --seeds 150 --from 61000 --migrate`, f=1, r1 silent): a
 *   source one COMMIT short of its round when the others moved its id on never executed it, so
 *   its target held f+1 MIGRATE-NOWs (the silent replica's missing) for good and the service
 *   stopped; a target now also takes f+1 once it has held the CM's certificate of the same round
 *   for CM_VOUCH_AFTER_MS.
 * - soak seed 61109 (f=3, r0 Byzantine "replay"): r8 restarted without memory after voting for an
 *   on-demand round and voted for the timer round instead; the replicas that had built the
 *   on-demand MIGRATION-REQUEST with r8's old vote, which nobody could authenticate any more,
 *   kept it, so each new primary proposed it first, its backups parked it, and views 3 to 7 timed out in
 *   turn past the stall bound. A replica now builds its request again when a signer replaces the
 *   vote it carries (MigrationRole.dropSupersededRequest).
 * - soak seed 61096 (f=2, r1 "wrongDigest", r3 silent): the simulators fired replaced timers (a
 *   timer id's generations restarted at 1 after a fire), and a new primary proposed its own
 *   MIGRATION-REQUEST above the one its NEW-VIEW carried, which the others then refused as stale;
 *   generations now only grow (TimerGenerations), and a carried request is a barrier.
 * - soak seed 61037 (f=3, three Byzantine replicas): two sources executed the round and retired
 *   while four correct replicas still lacked COMMITs of it, lost before the heal; the lagging ones
 *   moved to a view change that could not complete without the sources, only f replicas sent
 *   MIGRATE-NOW, and the service stopped for good. A retired source now answers STATUS with its
 *   votes, and a replica in a view change executes a batch it prepared once 2f+1 COMMITs of the
 *   view it left arrive.
 * - soak seed 77043 (`--f 1 --clients 8`, r0 silent): a backup partitioned away missed the
 *   NEW-VIEW of view 2, whose primary then executed a round and retired as its source, while the
 *   other backup went on to a view change to view 3; the backup's STATUS showed only the view
 *   number, level with the others, so nobody resent the NEW-VIEW and the service stopped for
 *   good. STATUS now says whether the sender is active in its view, and any replica holding that
 *   view's NEW-VIEW resends it to a peer still waiting for it.
 * How: runMigrationSimulation with migrationCiOptions(seed), or soakSeedOptions, then the
 * history checker.
 */
import { describe, expect, it } from "vitest";
import { formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, runMigrationSimulation, soakSeedOptions } from "../../bft/sim/index.js";
import { runMigrationCiSeed } from "./migration-seed-suite.js";

const SEEDS = [37, 66, 71, 74, 78, 79, 93, 144, 150, 153, 198];

describe("migration regression seeds", () => {
  it.each(SEEDS)("seed=%i keeps safety and liveness", (seed) => {
    const failure = runMigrationCiSeed(seed);
    if (failure !== null) expect.fail(failure);
  });
});

/** What `npm run sim:soak -- --migrate [--f f] [--clients n]` runs for this seed. */
function runSoakSeed(seed: number, f?: number, clients?: number) {
  const options = soakSeedOptions(seed, { migrate: true, f, clients });
  const migration = options.migration;
  if (migration === undefined) throw new Error("the soak's options run migrations");
  return runMigrationSimulation({ ...options, migration });
}

describe("migration soak seeds", () => {
  it.each([
    [61137, "f=1, r1 silent, a source that missed its round"],
    [61109, "f=3, a replica that restarted replaced the vote a MIGRATION-REQUEST carried"],
    [61096, "f=2, replaced timers fired; a new primary proposed a second request above the carried one"],
    [61037, "f=3, replicas that lost a retired source's COMMITs of the round in a view change"],
  ])("soak seed %i (%s) keeps safety and liveness", (seed) => {
    const result = runSoakSeed(seed);
    expect(result.ok, `${formatFailure(result)}\n${formatCheckReport(result.report)}`).toBe(true);
    expect(result.rounds.length).toBeGreaterThan(1);
  });

  it("soak seed 77043 with --f 1 --clients 8 (a backup missed the NEW-VIEW of a view whose primary then retired) keeps safety and liveness", () => {
    const result = runSoakSeed(77043, 1, 8);
    expect(result.ok, `${formatFailure(result)}\n${formatCheckReport(result.report)}`).toBe(true);
    expect(result.rounds.length).toBeGreaterThan(1);
  });
});
