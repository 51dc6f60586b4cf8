/**
 * Proves the standby registration state machine (paper section 3.1, Figure 2): sanitization
 * bumps the coprocessor counter, the signed JOIN-REQUEST goes to every replica, registration
 * needs 2f+1 consistent JOIN-APPROVED (same l and n_r, distinct replicas); inconsistent,
 * duplicate, misaddressed and stale approvals are ignored and counted; the request is
 * retransmitted on a timer up to its limit; a new sanitization restarts with a higher l.
 * How: drive StandbyRegistration with a FakeCoprocessor, the way a host would, and check effects.
 */
import { describe, expect, it } from "vitest";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import {
  JOIN_RETRANSMIT_COUNT_MAX,
  type JoinApproved,
  joinRequestSignedBytes,
  type StandbyEffect,
  StandbyRegistration,
} from "../../bft/migration/index.js";

const nodeId = 20;

function setup(f = 1) {
  const coprocessor = new FakeCoprocessor(
    createFakeCoprocessorStore({ seed: fakeSeed(1, nodeId), codeDigest: new Uint8Array(32) }),
  );
  const standby = new StandbyRegistration(
    { nodeId, f, address: "10.2.0.20:7000", publicKey: coprocessor.publicKey(), retransmitIntervalMs: 500 },
    { sign: (bytes) => coprocessor.sign(bytes) },
  );
  /** Plays the host: carries out incrementCounter and feeds the result back. */
  const run = (effects: StandbyEffect[], nowMs = 0): StandbyEffect[] => {
    const out: StandbyEffect[] = [];
    for (const effect of effects) {
      out.push(effect);
      if (effect.kind === "incrementCounter") {
        out.push(
          ...run(
            standby.step({ kind: "counterIncremented", counter: coprocessor.incrementCounter() }, nowMs),
          ),
        );
      }
    }
    return out;
  };
  const sanitize = () => run(standby.step({ kind: "sanitized" }, 0));
  const approve = (from: number, fields: Partial<JoinApproved> = {}) =>
    standby.step(
      {
        kind: "joinApproved",
        from,
        message: {
          type: "JoinApproved",
          counter: coprocessor.counter(),
          seq: 7,
          nodeId,
          replicaId: from,
          // The registration counts approvals; StandbyNode checks their signatures first.
          signature: new Uint8Array(64),
          ...fields,
        },
      },
      1_000,
    );
  return { coprocessor, standby, sanitize, approve };
}

describe("StandbyRegistration", () => {
  it("bumps the counter and broadcasts a JOIN-REQUEST signed by the coprocessor", () => {
    const { coprocessor, sanitize } = setup();
    const effects = sanitize();
    expect(effects.map((e) => e.kind)).toEqual(["incrementCounter", "broadcast", "setTimer"]);
    const broadcast = effects[1];
    if (broadcast?.kind !== "broadcast") throw new Error("expected broadcast");
    expect(broadcast.message).toMatchObject({
      type: "JoinRequest",
      counter: 1,
      nodeId,
      address: "10.2.0.20:7000",
    });
    const signed = joinRequestSignedBytes(broadcast.message);
    expect(verifySignature(coprocessor.publicKey(), signed, broadcast.message.signature)).toBe(true);
    expect(effects[2]).toEqual({ kind: "setTimer", timer: "joinRetransmit", afterMs: 500 });
  });

  it.each([1, 2, 3])("f=%i: registers on exactly the 2f+1-th consistent approval", (f) => {
    const { standby, sanitize, approve } = setup(f);
    sanitize();
    for (let replica = 0; replica < 2 * f; replica++) expect(approve(replica)).toEqual([]);
    expect(approve(2 * f)).toEqual([
      { kind: "cancelTimer", timer: "joinRetransmit" },
      { kind: "registered", counter: 1, seq: 7, atMs: 1_000 },
      { kind: "startKeyExchange", counter: 1 },
    ]);
    expect(standby.phase).toEqual({ phase: "registered", counter: 1, seq: 7 });
  });

  it.each([
    [
      "a duplicate from one replica",
      [
        [0, {}],
        [0, {}],
        [1, {}],
      ],
      {},
    ],
    [
      "a different n_r from the same replica",
      [
        [0, {}],
        [1, {}],
        [1, { seq: 8 }],
      ],
      { conflictingApproval: 1 },
    ],
    [
      "a stale l",
      [
        [0, {}],
        [1, {}],
        [2, { counter: 0 }],
      ],
      { staleApproval: 1 },
    ],
    [
      "another node's approval",
      [
        [0, {}],
        [1, {}],
        [2, { nodeId: 21 }],
      ],
      { misaddressedApproval: 1 },
    ],
    [
      "a replica id outside 0..3f",
      [
        [0, {}],
        [1, {}],
        [4, { replicaId: 4 }],
      ],
      { misaddressedApproval: 1 },
    ],
    [
      "a replica id that is not the sender's",
      [
        [0, {}],
        [1, {}],
        [2, { replicaId: 3 }],
      ],
      { misaddressedApproval: 1 },
    ],
  ] as [string, [number, Partial<JoinApproved>][], Record<string, number>][])(
    "f=1: two good approvals plus %s do not register",
    (_name, approvals, drops) => {
      const { standby, sanitize, approve } = setup(1);
      sanitize();
      for (const [from, fields] of approvals) expect(approve(from, fields)).toEqual([]);
      expect(standby.phase.phase).toBe("joining");
      expect(standby.drops).toEqual({
        staleApproval: 0,
        misaddressedApproval: 0,
        conflictingApproval: 0,
        unexpectedApproval: 0,
        ...drops,
      });
    },
  );

  it("does not mix approvals for different n_r into one quorum", () => {
    const { standby, sanitize, approve } = setup(1);
    sanitize();
    approve(0, { seq: 7 });
    approve(1, { seq: 7 });
    approve(2, { seq: 9 }); // a faulty replica's inconsistent approval
    expect(standby.phase.phase).toBe("joining");
    expect(approve(3, { seq: 7 }).map((e) => e.kind)).toContain("registered");
  });

  it("retransmits on the timer and gives up after JOIN_RETRANSMIT_COUNT_MAX", () => {
    const { standby, sanitize } = setup(1);
    sanitize();
    for (let i = 0; i < JOIN_RETRANSMIT_COUNT_MAX; i++) {
      expect(standby.step({ kind: "timer", timer: "joinRetransmit" }, i).map((e) => e.kind)).toEqual([
        "broadcast",
        "setTimer",
      ]);
    }
    expect(standby.step({ kind: "timer", timer: "joinRetransmit" }, 0)).toEqual([
      { kind: "registrationFailed", counter: 1, reason: "retransmitsExhausted" },
    ]);
    expect(standby.step({ kind: "timer", timer: "joinRetransmit" }, 0)).toEqual([]);
  });

  it("re-registers with a higher l after a new sanitization; old approvals no longer count", () => {
    const { standby, sanitize, approve } = setup(1);
    sanitize();
    for (const replica of [0, 1, 2]) approve(replica);
    expect(standby.phase).toMatchObject({ phase: "registered", counter: 1 });
    const effects = sanitize();
    expect(effects.map((e) => e.kind)).toEqual(["incrementCounter", "broadcast", "setTimer"]);
    expect(standby.phase).toMatchObject({ phase: "joining", counter: 2 });
    for (const replica of [0, 1, 2]) approve(replica, { counter: 1 });
    expect(standby.drops.staleApproval).toBe(3);
    expect(standby.phase.phase).toBe("joining");
    approve(0);
    approve(1);
    expect(approve(2).map((e) => e.kind)).toContain("registered");
    expect(standby.phase).toMatchObject({ phase: "registered", counter: 2 });
  });

  it("sanitization while joining cancels the old timer before starting over", () => {
    const { sanitize } = setup(1);
    sanitize();
    expect(sanitize().map((e) => e.kind)).toEqual([
      "cancelTimer",
      "incrementCounter",
      "broadcast",
      "setTimer",
    ]);
  });

  it("asserts if the trusted coprocessor's counter ever goes backwards", () => {
    const { standby, sanitize } = setup(1);
    sanitize();
    expect(() => standby.step({ kind: "counterIncremented", counter: 1 }, 0)).toThrow(/strictly grows/);
  });

  it("goes inert once promoted", () => {
    const { standby, sanitize, approve } = setup(1);
    sanitize();
    expect(standby.step({ kind: "promoted" }, 0)).toEqual([{ kind: "cancelTimer", timer: "joinRetransmit" }]);
    expect(approve(0)).toEqual([]);
    expect(standby.step({ kind: "sanitized" }, 0)).toEqual([]);
  });
});
