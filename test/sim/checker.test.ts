/**
 * Proves the history checker catches each kind of violation and accepts a correct history: each test
 * starts from a small valid hand-made history (4 replicas, echo or kv), breaks exactly one thing
 * (divergent batches at one seq, a wrong accepted result, a stalled client, a corrupt state install,
 * disagreeing checkpoints, a skipped seq, a request run twice) and asserts the named check fires
 * with the right seq, replicas or client. Negative space too: what Byzantine replicas record is
 * ignored, and late requests the recording cannot judge are not failures.
 */
import { describe, expect, it } from "vitest";
import { kvGet, kvPut } from "../../bft/apps/index.js";
import {
  type CheckReport,
  checkHistory,
  type ExecutedRecord,
  formatCheckReport,
  HISTORY_FORMAT,
  type History,
  type HistoryEvent,
  hexOf,
} from "../../bft/checker/index.js";

const text = (value: string): string => hexOf(new TextEncoder().encode(value));
const DIGEST_A = "aa".repeat(32);
const DIGEST_B = "bb".repeat(32);
const STATE_1 = "11".repeat(32);
const STATE_2 = "22".repeat(32);

/** Echo: the result is the operation. */
function echoRecord(clientId: number, timestamp: number): ExecutedRecord {
  const operation = text(`c${clientId}t${timestamp}`);
  return { clientId, timestamp, operation, result: operation };
}

function executedOn(
  replicaIds: number[],
  seq: number,
  records: ExecutedRecord[],
  digest = DIGEST_A,
): HistoryEvent[] {
  return replicaIds.map((replicaId) => ({
    kind: "executed",
    atMs: seq * 10,
    replicaId,
    incarnation: 0,
    view: 0,
    seq,
    digest,
    results: records,
  }));
}

function clientRound(record: ExecutedRecord, submittedAtMs: number, completedAtMs: number): HistoryEvent[] {
  return [
    {
      kind: "submitted",
      atMs: submittedAtMs,
      clientId: record.clientId,
      timestamp: record.timestamp,
      operation: record.operation,
    },
    {
      kind: "completed",
      atMs: completedAtMs,
      clientId: record.clientId,
      timestamp: record.timestamp,
      operation: record.operation,
      result: record.result,
      latencyMs: completedAtMs - submittedAtMs,
    },
  ];
}

function history(events: HistoryEvent[], overrides: Partial<History> = {}): History {
  return {
    format: HISTORY_FORMAT,
    f: 1,
    replicaCount: 4,
    app: { app: "echo" },
    byzantineReplicas: [],
    healedAtMs: 0,
    livenessBoundMs: 1000,
    endMs: 5000,
    events,
    ...overrides,
  };
}

/** Two seqs, two clients, a stable checkpoint at 2 and one replica that caught up by state transfer. */
function validEvents(): HistoryEvent[] {
  const a = echoRecord(0, 1);
  const b = echoRecord(1, 1);
  return [
    ...clientRound(a, 1, 30),
    ...clientRound(b, 2, 40),
    ...executedOn([0, 1, 2], 1, [a]),
    ...executedOn([0, 1, 2], 2, [b], DIGEST_B),
    ...[0, 1, 2].map(
      (replicaId): HistoryEvent => ({
        kind: "stableCheckpoint",
        atMs: 50,
        replicaId,
        incarnation: 0,
        seq: 2,
        stateDigest: STATE_1,
      }),
    ),
    { kind: "stateInstalled", atMs: 60, replicaId: 3, incarnation: 0, seq: 2, stateDigest: STATE_1 },
  ];
}

function only(report: CheckReport, check: string): void {
  expect(report.ok).toBe(false);
  const checks = new Set(report.violations.map((v) => v.check));
  expect([...checks]).toEqual([check]);
}

describe("checkHistory on a valid history", () => {
  it("passes and counts what it verified", () => {
    const report = checkHistory(history(validEvents()));
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.stats).toMatchObject({
      seqsCommitted: 2,
      requestsCommitted: 2,
      completionsChecked: 2,
      stableSeqs: 1,
      installsVerified: 1,
      requestsJudged: 2,
    });
    expect(formatCheckReport(report)).toMatch(/^checker: ok/);
  });

  it("re-executes kv operations in order, so read results depend on earlier writes", () => {
    const put: ExecutedRecord = {
      clientId: 0,
      timestamp: 1,
      operation: hexOf(kvPut("k", Uint8Array.of(7))),
      result: "",
    };
    const get: ExecutedRecord = { clientId: 1, timestamp: 1, operation: hexOf(kvGet("k")), result: "" };
    // Fill in the real results by running the app the checker will use.
    const report0 = checkHistory(history([...executedOn([0, 1, 2], 1, [put, get])], { app: { app: "kv" } }));
    const reexecuted = report0.violations.map((v) => v.values?.reexecutedResult);
    const realPut = { ...put, result: String(reexecuted[0]) };
    const realGet = { ...get, result: String(reexecuted[1]) };
    const good = history([...executedOn([0, 1, 2], 1, [realPut, realGet]), ...clientRound(realGet, 1, 20)], {
      app: { app: "kv" },
    });
    expect(checkHistory(good).ok).toBe(true);
    // Reordering the two requests changes what the get returns: the recorded results no longer fit.
    const swapped = history([...executedOn([0, 1, 2], 1, [realGet, realPut])], { app: { app: "kv" } });
    only(checkHistory(swapped), "validity");
  });
});

describe("agreement", () => {
  it("catches two correct replicas executing different batch digests at one seq", () => {
    const events = validEvents();
    const divergent = executedOn([3], 1, [echoRecord(0, 1)], DIGEST_B);
    const report = checkHistory(history([...divergent, ...events]));
    only(report, "agreement");
    expect(report.violations[0]).toMatchObject({ seq: 1, replicaIds: [3, 0] });
    expect(formatCheckReport(report)).toContain("different batch digests");
  });

  it("catches equal digests with different executed request lists", () => {
    const events = validEvents().filter((e) => !(e.kind === "executed" && e.replicaId === 2 && e.seq === 2));
    events.push(...executedOn([2], 2, [], DIGEST_B)); // same digest, nothing executed
    const report = checkHistory(history(events));
    expect(report.violations.some((v) => v.check === "agreement" && v.seq === 2)).toBe(true);
  });

  it("ignores what a Byzantine replica records", () => {
    const events = [...validEvents(), ...executedOn([3], 1, [echoRecord(0, 1)], DIGEST_B)];
    expect(checkHistory(history(events, { byzantineReplicas: [3] })).ok).toBe(true);
  });
});

describe("order", () => {
  it("catches a correct replica skipping a seq without a state transfer", () => {
    const events = validEvents().filter((e) => !(e.kind === "executed" && e.replicaId === 1 && e.seq === 1));
    const report = checkHistory(history(events));
    only(report, "order");
    expect(report.violations[0]).toMatchObject({ seq: 2, replicaIds: [1] });
  });

  it("accepts a restarted incarnation that resumes above its installed checkpoint", () => {
    const events: HistoryEvent[] = [
      ...validEvents(),
      { kind: "replicaStarted", atMs: 70, replicaId: 1, incarnation: 1 },
      { kind: "stateInstalled", atMs: 80, replicaId: 1, incarnation: 1, seq: 2, stateDigest: STATE_1 },
    ];
    expect(checkHistory(history(events)).ok).toBe(true);
  });
});

describe("validity", () => {
  it("catches a client accepting a result that differs from re-execution", () => {
    const events = validEvents().map((event) =>
      event.kind === "completed" && event.clientId === 1 ? { ...event, result: text("forged") } : event,
    );
    const report = checkHistory(history(events));
    only(report, "validity");
    expect(report.violations[0]).toMatchObject({ clientId: 1, timestamp: 1, seq: 2 });
    expect(report.violations[0]?.values?.acceptedResult).toBe(text("forged"));
  });

  it("catches a client accepting a result for a request that was never committed", () => {
    const ghost = echoRecord(5, 1);
    const report = checkHistory(history([...validEvents(), ...clientRound(ghost, 3, 50)]));
    only(report, "validity");
    expect(report.violations[0]?.message).toMatch(/not in the committed order/);
  });

  it("catches correct replicas agreeing on a result the application would not produce", () => {
    const wrong = { ...echoRecord(0, 1), result: text("not-the-echo") };
    const events = [...executedOn([0, 1, 2, 3], 1, [wrong])];
    const report = checkHistory(history(events));
    only(report, "validity");
    expect(report.violations[0]?.message).toMatch(/recorded a result that differs/);
  });

  it("catches a request executed twice", () => {
    const a = echoRecord(0, 1);
    const events = [...executedOn([0, 1, 2], 1, [a]), ...executedOn([0, 1, 2], 2, [a], DIGEST_B)];
    const report = checkHistory(history(events));
    only(report, "validity");
    expect(report.violations[0]?.message).toMatch(/executed twice/);
  });

  it("reports a gap in the committed order", () => {
    const events = [...executedOn([0, 1, 2], 1, [echoRecord(0, 1)])];
    // seq 2 missing everywhere, seq 3 executed after state transfer to 2 by every correct replica.
    for (const replicaId of [0, 1, 2]) {
      events.push({
        kind: "stateInstalled",
        atMs: 40,
        replicaId,
        incarnation: 0,
        seq: 2,
        stateDigest: STATE_1,
      });
    }
    events.push(...executedOn([0, 1, 2], 3, [echoRecord(1, 1)], DIGEST_B));
    const report = checkHistory(history(events));
    expect(
      report.violations.some(
        (v) => v.check === "validity" && v.seq === 2 && /no correct replica/.test(v.message),
      ),
    ).toBe(true);
  });
});

describe("liveness", () => {
  it("catches a client whose request never completed after healing", () => {
    const stalled = echoRecord(2, 1);
    const events: HistoryEvent[] = [
      ...validEvents(),
      { kind: "submitted", atMs: 100, clientId: 2, timestamp: 1, operation: stalled.operation },
    ];
    const report = checkHistory(history(events, { healedAtMs: 500, livenessBoundMs: 1000, endMs: 5000 }));
    only(report, "liveness");
    expect(report.violations[0]).toMatchObject({ clientId: 2, timestamp: 1 });
    expect(report.violations[0]?.values?.deadlineMs).toBe(1500);
  });

  it("catches a request that completed later than the bound", () => {
    const slow = echoRecord(2, 1);
    const events = [...executedOn([0, 1, 2], 1, [slow]), ...clientRound(slow, 100, 3000)];
    const report = checkHistory(history(events, { healedAtMs: 500, livenessBoundMs: 1000 }));
    only(report, "liveness");
    expect(report.violations[0]?.message).toMatch(/later than the liveness bound/);
  });

  it("catches an abandoned request", () => {
    const events: HistoryEvent[] = [
      { kind: "submitted", atMs: 100, clientId: 2, timestamp: 1, operation: text("x") },
      { kind: "abandoned", atMs: 900, clientId: 2, timestamp: 1 },
    ];
    only(checkHistory(history(events)), "liveness");
  });

  it("does not judge requests whose deadline lies past the recording, nor runs that never healed", () => {
    const events: HistoryEvent[] = [
      { kind: "submitted", atMs: 4900, clientId: 2, timestamp: 1, operation: text("x") },
    ];
    const late = checkHistory(history(events, { healedAtMs: 0, livenessBoundMs: 1000, endMs: 5000 }));
    expect(late.ok).toBe(true);
    expect(late.stats.requestsUnjudged).toBe(1);
    expect(checkHistory(history([{ ...events[0]!, atMs: 100 }], { healedAtMs: null })).ok).toBe(true);
  });
});

describe("checkpoints and state transfer", () => {
  it("catches correct replicas with different stable checkpoint digests at one seq", () => {
    const events: HistoryEvent[] = [
      ...validEvents(),
      { kind: "stableCheckpoint", atMs: 55, replicaId: 3, incarnation: 0, seq: 2, stateDigest: STATE_2 },
    ];
    const report = checkHistory(history(events));
    only(report, "checkpoint");
    expect(report.violations[0]).toMatchObject({ seq: 2, replicaIds: [0, 3] });
  });

  it("catches a correct replica installing state that differs from the agreed checkpoint", () => {
    const events = validEvents().map((event) =>
      event.kind === "stateInstalled" ? { ...event, stateDigest: STATE_2 } : event,
    );
    const report = checkHistory(history(events));
    only(report, "stateTransfer");
    expect(report.violations[0]).toMatchObject({ seq: 2, replicaIds: [3] });
    expect(report.violations[0]?.values).toMatchObject({ installedDigest: STATE_2, agreedDigest: STATE_1 });
  });

  it("counts an install no correct replica can vouch for as unverified, not as a violation", () => {
    const events: HistoryEvent[] = [
      { kind: "stateInstalled", atMs: 60, replicaId: 3, incarnation: 0, seq: 64, stateDigest: STATE_2 },
    ];
    const report = checkHistory(history(events));
    expect(report.ok).toBe(true);
    expect(report.stats.installsUnverified).toBe(1);
  });
});

describe("history format", () => {
  it("round-trips through JSON unchanged in verdict", () => {
    const original = history(validEvents());
    const copy = JSON.parse(JSON.stringify(original)) as History;
    expect(checkHistory(copy)).toEqual(checkHistory(original));
  });

  it("rejects an unknown format", () => {
    expect(() => checkHistory({ ...history([]), format: "other/9" } as unknown as History)).toThrow(
      /unsupported history format/,
    );
  });
});
