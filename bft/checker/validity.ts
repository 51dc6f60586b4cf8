/**
 * Check 2, validity (linearizability of accepted results). The committed order the correct replicas
 * executed is re-executed sequentially on a fresh application; then:
 *
 * - every result a correct replica recorded equals the result of that re-execution (a replica whose
 *   state diverged, e.g. after installing a corrupt state-transfer copy, is caught here);
 * - each (clientId, timestamp) runs at most once, and each client's requests run in timestamp order
 *   (PBFT's exactly-once semantics);
 * - every result a client accepted belongs to a request in the committed order, with the same
 *   operation, and equals the re-executed result. Since the committed order is one sequential
 *   history consistent with real time per client (closed loop), this makes the accepted results
 *   linearizable.
 *
 * A gap in the committed order (a seq no correct replica executed, below one they did) is reported and
 * stops re-execution there: results past the gap cannot be recomputed.
 */
import type { Application } from "../apps/app.js";
import type { CommittedOrder } from "./agreement.js";
import { bytesOfHex, type History, hexOf } from "./history.js";
import type { ViolationLog } from "./violation.js";

interface CommittedRequest {
  readonly seq: number;
  readonly operation: string;
  /** Result of the sequential re-execution, or undefined past a gap. */
  readonly result: string | undefined;
}

export interface ValidityStats {
  readonly requestsCommitted: number;
  readonly requestsReexecuted: number;
  readonly completionsChecked: number;
}

export function checkValidity(
  history: History,
  order: CommittedOrder,
  createApp: () => Application,
  violations: ViolationLog,
): ValidityStats {
  const firstGap = order.gaps[0];
  if (firstGap !== undefined) {
    violations.add({
      check: "validity",
      message: "a seq in the committed order was executed by no correct replica, yet later seqs were",
      seq: firstGap,
      values: { gapCount: order.gaps.length, gaps: order.gaps.slice(0, 10).join(",") },
    });
  }
  const committed = reexecute(order, firstGap, createApp, violations);
  let completionsChecked = 0;
  for (const event of history.events) {
    if (event.kind !== "completed") continue;
    completionsChecked += 1;
    const key = `${event.clientId}:${event.timestamp}`;
    const request = committed.requests.get(key);
    if (request === undefined) {
      violations.add({
        check: "validity",
        message: "a client accepted a result for a request that is not in the committed order",
        clientId: event.clientId,
        timestamp: event.timestamp,
        values: { acceptedResult: event.result },
      });
      continue;
    }
    if (request.operation !== event.operation) {
      violations.add({
        check: "validity",
        message: "a client's accepted request differs from the committed operation",
        seq: request.seq,
        clientId: event.clientId,
        timestamp: event.timestamp,
        values: { committedOperation: request.operation, clientOperation: event.operation },
      });
    }
    if (request.result !== undefined && request.result !== event.result) {
      violations.add({
        check: "validity",
        message:
          "a client accepted a result that differs from sequential re-execution of the committed order",
        seq: request.seq,
        clientId: event.clientId,
        timestamp: event.timestamp,
        values: { acceptedResult: event.result, reexecutedResult: request.result },
      });
    }
  }
  return {
    requestsCommitted: committed.requests.size,
    requestsReexecuted: committed.reexecutedCount,
    completionsChecked,
  };
}

function reexecute(
  order: CommittedOrder,
  firstGap: number | undefined,
  createApp: () => Application,
  violations: ViolationLog,
): { requests: Map<string, CommittedRequest>; reexecutedCount: number } {
  const app = createApp();
  const requests = new Map<string, CommittedRequest>();
  const lastTimestampByClient = new Map<number, number>();
  let reexecutedCount = 0;
  for (const batch of order.batches) {
    const runnable = firstGap === undefined || batch.seq < firstGap;
    for (const record of batch.results) {
      const key = `${record.clientId}:${record.timestamp}`;
      const earlier = requests.get(key);
      if (earlier !== undefined) {
        violations.add({
          check: "validity",
          message: "a request was executed twice (exactly-once violated)",
          seq: batch.seq,
          clientId: record.clientId,
          timestamp: record.timestamp,
          values: { firstSeq: earlier.seq, secondSeq: batch.seq },
        });
        continue;
      }
      const lastTimestamp = lastTimestampByClient.get(record.clientId) ?? 0;
      if (record.timestamp <= lastTimestamp) {
        violations.add({
          check: "validity",
          message: "a client's request executed after a later request of the same client",
          seq: batch.seq,
          clientId: record.clientId,
          timestamp: record.timestamp,
          values: { laterTimestampExecutedBefore: lastTimestamp },
        });
      }
      lastTimestampByClient.set(record.clientId, Math.max(lastTimestamp, record.timestamp));
      let result: string | undefined;
      if (runnable) {
        result = hexOf(app.execute(bytesOfHex(record.operation), record.clientId));
        reexecutedCount += 1;
        if (result !== record.result) {
          violations.add({
            check: "validity",
            message: "correct replicas recorded a result that differs from sequential re-execution",
            seq: batch.seq,
            replicaIds: [batch.replicaId],
            clientId: record.clientId,
            timestamp: record.timestamp,
            values: { recordedResult: record.result, reexecutedResult: result },
          });
        }
      }
      requests.set(key, { seq: batch.seq, operation: record.operation, result });
    }
  }
  return { requests, reexecutedCount };
}
