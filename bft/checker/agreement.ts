/**
 * Check 1, agreement (PBFT safety, section 4 of Castro & Liskov): no two correct replicas executed
 * different batches at one sequence number. Batches are compared by digest and by the exact list of
 * requests that ran with their results, so a replica that skipped or re-ran a request differently is
 * caught even when the batch digest matched.
 *
 * Also the per-replica "order" check: each incarnation of a correct replica executes seq h+1, h+2, ...
 * without gaps or repeats, where h is 0 at start or the seq of the checkpoint state transfer installed.
 *
 * The result of this module is the committed order: for each seq, the batch the correct replicas
 * executed, which the validity check re-executes.
 */
import { type EventOf, type History, isCorrect } from "./history.js";
import type { ViolationLog } from "./violation.js";

export interface CommittedBatch {
  readonly seq: number;
  /** The first correct replica that recorded this batch (the others agree or were reported). */
  readonly replicaId: number;
  readonly digest: string;
  readonly results: EventOf<"executed">["results"];
}

export interface CommittedOrder {
  /** Batches by seq, ascending. Seqs no correct replica executed are absent. */
  readonly batches: readonly CommittedBatch[];
  /** Seqs between 1 and the highest committed seq that no correct replica executed. */
  readonly gaps: readonly number[];
}

export function checkAgreement(history: History, violations: ViolationLog): CommittedOrder {
  const bySeq = new Map<number, CommittedBatch>();
  for (const event of history.events) {
    if (event.kind !== "executed" || !isCorrect(history, event.replicaId)) continue;
    const known = bySeq.get(event.seq);
    if (known === undefined) {
      bySeq.set(event.seq, {
        seq: event.seq,
        replicaId: event.replicaId,
        digest: event.digest,
        results: event.results,
      });
      continue;
    }
    compareBatches(known, event, violations);
  }
  const batches = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const gaps: number[] = [];
  const seqMax = batches.length === 0 ? 0 : (batches[batches.length - 1] as CommittedBatch).seq;
  for (let seq = 1; seq <= seqMax; seq += 1) if (!bySeq.has(seq)) gaps.push(seq);
  return { batches, gaps };
}

function compareBatches(known: CommittedBatch, event: EventOf<"executed">, violations: ViolationLog): void {
  if (known.digest !== event.digest) {
    violations.add({
      check: "agreement",
      message: "two correct replicas executed different batch digests at one seq",
      seq: event.seq,
      replicaIds: [known.replicaId, event.replicaId],
      values: { [`digest@${known.replicaId}`]: known.digest, [`digest@${event.replicaId}`]: event.digest },
    });
    return;
  }
  const knownList = describeResults(known.results);
  const eventList = describeResults(event.results);
  if (knownList !== eventList) {
    violations.add({
      check: "agreement",
      message: "two correct replicas executed different request lists or results at one seq",
      seq: event.seq,
      replicaIds: [known.replicaId, event.replicaId],
      values: { [`executed@${known.replicaId}`]: knownList, [`executed@${event.replicaId}`]: eventList },
    });
  }
}

function describeResults(results: EventOf<"executed">["results"]): string {
  return results.map((r) => `${r.clientId}:${r.timestamp}:${r.operation}=>${r.result}`).join(" ");
}

/** Each correct incarnation executes consecutive seqs, restarting above an installed checkpoint. */
export function checkExecutionOrder(history: History, violations: ViolationLog): void {
  const nextSeqByIncarnation = new Map<string, number>();
  for (const event of history.events) {
    if (event.kind !== "executed" && event.kind !== "stateInstalled") continue;
    if (!isCorrect(history, event.replicaId)) continue;
    const key = `${event.replicaId}/${event.incarnation}`;
    if (event.kind === "stateInstalled") {
      nextSeqByIncarnation.set(key, event.seq + 1);
      continue;
    }
    const expectedSeq = nextSeqByIncarnation.get(key) ?? 1;
    if (event.seq !== expectedSeq) {
      violations.add({
        check: "order",
        message:
          event.seq < expectedSeq
            ? "a correct replica executed a seq it had already passed"
            : "a correct replica skipped seqs without installing a checkpoint",
        seq: event.seq,
        replicaIds: [event.replicaId],
        values: { incarnation: event.incarnation, expectedSeq, executedSeq: event.seq },
      });
    }
    nextSeqByIncarnation.set(key, event.seq + 1);
  }
}
