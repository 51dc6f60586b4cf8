/**
 * Proves the STATUS answer's NEW-VIEW relay (PBFT's status-pending): a peer that reports it is in
 * a view but not yet active there gets that view's NEW-VIEW from any replica that holds it, whether
 * that replica is active in the view, has moved on to a view change of its own, or has retired as
 * a migration source; nobody resends it to a peer already active, or a NEW-VIEW of another view.
 * Migration soak seed 77043 stalled for good without it (bft/replica/status-responder.ts).
 * How: StatusResponder over a fake StatusCore that records what it retransmits.
 */
import { describe, expect, it } from "vitest";
import type { Message, NewView, Status } from "../../bft/messages.js";
import type { StatusCore } from "../../bft/replica/replica-core.js";
import { StatusResponder } from "../../bft/replica/status-responder.js";

const NEW_VIEW_2 = {
  type: "NewView",
  view: 2,
  viewChanges: [],
  prePrepares: [],
  replicaId: 2,
} as unknown as NewView;

/** A replica 0 of four in `view`, active or not, holding NEW_VIEW_2, with nothing logged. */
function responder(view: number, viewActive: boolean) {
  const sent: Message[] = [];
  const core = {
    config: { checkpointIntervalSeqs: 8 },
    replicaCount: 4,
    view,
    viewActive,
    primary: view % 4,
    isPrimary: view % 4 === 0,
    lastExecutedSeq: 10,
    stableSeq: 8,
    maxPrePreparedSeq: 10,
    ownViewChange: undefined,
    newView: NEW_VIEW_2,
    migrationCheckpointSeq: -1,
    membershipCertificate: null,
    retransmit: (_to: unknown, message: Message) => void sent.push(message),
    slot: () => undefined,
    checkpoint: () => undefined,
    checkpoints: () => [],
    pendingRequest: () => undefined,
  } as unknown as StatusCore;
  return { responder: new StatusResponder(core), sent };
}

function status(view: number, viewActive: boolean): Status {
  return { type: "Status", view, viewActive, lastExecutedSeq: 10, stableSeq: 8, replicaId: 3 };
}

const newViewsIn = (sent: readonly Message[]) => sent.filter((message) => message.type === "NewView");

describe("STATUS answer: the NEW-VIEW a peer waits for", () => {
  it("is resent by a replica active in that view", () => {
    const { responder: r, sent } = responder(2, true);
    r.onStatus(status(2, false));
    expect(newViewsIn(sent)).toEqual([NEW_VIEW_2]);
  });

  it("is not resent to a peer already active in the view", () => {
    const { responder: r, sent } = responder(2, true);
    r.onStatus(status(2, true));
    expect(newViewsIn(sent)).toEqual([]);
  });

  it("is resent by a replica that entered the view and has since started a view change to the next", () => {
    const { responder: r, sent } = responder(3, false);
    r.onStatus(status(2, false));
    expect(newViewsIn(sent)).toEqual([NEW_VIEW_2]);
  });

  it("is resent by a retired migration source", () => {
    const { responder: r, sent } = responder(2, true);
    r.onStatusWhileRetired(status(2, false));
    expect(newViewsIn(sent)).toEqual([NEW_VIEW_2]);
  });

  it("is not confused with the NEW-VIEW of another view", () => {
    const { responder: r, sent } = responder(3, false);
    r.onStatus(status(3, false));
    expect(newViewsIn(sent)).toEqual([]);
  });
});
