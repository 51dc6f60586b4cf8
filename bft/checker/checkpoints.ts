/**
 * Checks 4 and 5, checkpoints and state transfer.
 *
 * 4: every correct replica that saw a checkpoint at `seq` become stable saw the same state digest
 *    (2f+1 matching CHECKPOINTs include f+1 correct ones, so two different stable digests at one seq
 *    mean correct replicas diverged or a quorum was miscounted).
 * 5: the state a correct replica installed by state transfer has the digest the correct replicas
 *    agreed on for that seq (DESIGN.md section 4: a promoted or recovering replica applies exactly the
 *    checkpoint 2f+1 agreed on). An install at a seq no correct replica recorded as stable is counted
 *    as unverified, not as a violation: the installer's own quorum evidence is not in the history.
 */
import { type History, isCorrect } from "./history.js";
import type { ViolationLog } from "./violation.js";

export interface CheckpointStats {
  readonly stableSeqs: number;
  readonly installsVerified: number;
  readonly installsUnverified: number;
}

export function checkCheckpoints(history: History, violations: ViolationLog): CheckpointStats {
  const agreed = new Map<number, { replicaId: number; stateDigest: string }>();
  for (const event of history.events) {
    if (event.kind !== "stableCheckpoint" || !isCorrect(history, event.replicaId)) continue;
    const known = agreed.get(event.seq);
    if (known === undefined) {
      agreed.set(event.seq, { replicaId: event.replicaId, stateDigest: event.stateDigest });
    } else if (known.stateDigest !== event.stateDigest) {
      violations.add({
        check: "checkpoint",
        message: "two correct replicas hold different stable checkpoint digests at one seq",
        seq: event.seq,
        replicaIds: [known.replicaId, event.replicaId],
        values: {
          [`stateDigest@${known.replicaId}`]: known.stateDigest,
          [`stateDigest@${event.replicaId}`]: event.stateDigest,
        },
      });
    }
  }
  let installsVerified = 0;
  let installsUnverified = 0;
  for (const event of history.events) {
    if (event.kind !== "stateInstalled" || !isCorrect(history, event.replicaId)) continue;
    const known = agreed.get(event.seq);
    if (known === undefined) {
      installsUnverified += 1;
      continue;
    }
    installsVerified += 1;
    if (known.stateDigest !== event.stateDigest) {
      violations.add({
        check: "stateTransfer",
        message: "a correct replica installed state whose digest differs from the agreed stable checkpoint",
        seq: event.seq,
        replicaIds: [event.replicaId],
        values: {
          installedDigest: event.stateDigest,
          agreedDigest: known.stateDigest,
          agreedBy: known.replicaId,
          incarnation: event.incarnation,
        },
      });
    }
  }
  return { stableSeqs: agreed.size, installsVerified, installsUnverified };
}
