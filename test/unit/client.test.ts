/**
 * Proves the client core's rules (PBFT section 4.1): it sends to the primary it believes in,
 * retransmits to every replica with a doubling timeout, accepts a result only after f+1 matching
 * replies from distinct replicas, ignores forged or stale replies, and follows the view replies name.
 */
import { describe, expect, it } from "vitest";
import { Client, type ClientEffect, defaultClientConfig } from "../../bft/client/index.js";
import type { Message, Reply } from "../../bft/messages.js";

const deps = { authenticateRequest: () => new Uint8Array(16 * 4) };
const bytes = (value: string) => Buffer.from(value);
const reply = (replicaId: number, timestamp: number, result: string, view = 0): Reply => ({
  type: "Reply",
  view,
  timestamp,
  clientId: 7,
  replicaId,
  result: bytes(result),
});
const from = (id: number) => ({ kind: "replica" as const, id });
const completed = (effects: ClientEffect[]) => effects.filter((effect) => effect.kind === "completed");

describe("client", () => {
  it.each([1, 2, 3])("f=%i needs f+1 matching replies from distinct replicas", (f) => {
    const client = new Client(defaultClientConfig(7, f), deps);
    const sent = client.submit(bytes("op"), 0);
    expect(sent[0]).toMatchObject({ kind: "send", to: { kind: "replica", id: 0 } });
    for (let id = 0; id < f; id += 1)
      expect(
        completed(client.step({ kind: "message", from: from(id), message: reply(id, 1, "r") }, 1)),
      ).toEqual([]);
    // A repeated reply from the same replica does not count twice.
    expect(completed(client.step({ kind: "message", from: from(0), message: reply(0, 1, "r") }, 2))).toEqual(
      [],
    );
    const done = completed(client.step({ kind: "message", from: from(f), message: reply(f, 1, "r") }, 5));
    expect(done).toEqual([expect.objectContaining({ kind: "completed", timestamp: 1, latencyMs: 5 })]);
    expect(client.busy).toBe(false);
  });

  it("does not accept f+1 replies that disagree", () => {
    const client = new Client(defaultClientConfig(7, 1), deps);
    client.submit(bytes("op"), 0);
    expect(completed(client.step({ kind: "message", from: from(0), message: reply(0, 1, "a") }, 1))).toEqual(
      [],
    );
    expect(completed(client.step({ kind: "message", from: from(1), message: reply(1, 1, "b") }, 1))).toEqual(
      [],
    );
    expect(
      completed(client.step({ kind: "message", from: from(2), message: reply(2, 1, "b") }, 1)),
    ).toHaveLength(1);
  });

  it("drops replies that are forged, stale, for other clients or from non-replicas", () => {
    const client = new Client(defaultClientConfig(7, 1), deps);
    client.submit(bytes("op"), 0);
    const forged = [
      { from: from(1), message: reply(2, 1, "r") },
      { from: from(1), message: reply(1, 0, "r") },
      { from: from(1), message: { ...reply(1, 1, "r"), clientId: 8 } },
      { from: { kind: "client" as const, id: 1 }, message: reply(1, 1, "r") },
      { from: from(9), message: reply(9, 1, "r") },
    ];
    for (const input of forged) client.step({ kind: "message", ...input }, 1);
    expect(client.metrics.repliesDropped).toBe(forged.length);
    expect(client.busy).toBe(true);
  });

  it("retransmits to all replicas with a doubling, bounded timeout", () => {
    const client = new Client(
      { clientId: 7, f: 1, retransmitTimeoutMs: 100, retransmitTimeoutMsMax: 300 },
      deps,
    );
    client.submit(bytes("op"), 0);
    const first = client.step({ kind: "timer", timer: "retransmit" }, 100);
    expect(first).toEqual([
      expect.objectContaining({ kind: "broadcast" }),
      { kind: "setTimer", timer: "retransmit", afterMs: 200 },
    ]);
    const second = client.step({ kind: "timer", timer: "retransmit" }, 300);
    expect(second[1]).toEqual({ kind: "setTimer", timer: "retransmit", afterMs: 300 });
  });

  it("after a new membership, resends its outstanding request at once, re-authenticated, from the first timeout", () => {
    // A client deep in its backoff otherwise misses the next rounds' notices and loses f+1 of the
    // replicas for good (migration seed 5).
    let keys = 1;
    const client = new Client(defaultClientConfig(7, 1), {
      authenticateRequest: () => new Uint8Array(64).fill(keys),
    });
    client.submit(bytes("op"), 0);
    for (let round = 0; round < 4; round += 1) client.step({ kind: "timer", timer: "retransmit" }, 1);
    const notice = (replicaId: number): Message => ({
      type: "NewMembership",
      view: 0,
      seq: 10,
      pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 100 }],
      members: [0, 1, 2, 3].map((id) => ({
        replicaId: id,
        nodeId: id === 3 ? 100 : id,
        address: `a${id}:1`,
      })),
      replicaId,
      signature: new Uint8Array(64),
    });
    client.step({ kind: "message", from: from(0), message: notice(0) }, 2);
    const applied = client.step({ kind: "message", from: from(1), message: notice(1) }, 2);
    expect(applied[0]).toMatchObject({ kind: "membershipChanged", seq: 10 });
    expect(applied).toContainEqual({ kind: "setTimer", timer: "retransmit", afterMs: 0 });
    keys = 2; // the host re-keyed its wire
    const resent = client.step({ kind: "timer", timer: "retransmit" }, 2);
    expect(resent[0]).toMatchObject({ kind: "broadcast", message: { type: "Request", timestamp: 1 } });
    expect((resent[0] as { message: { auth: Uint8Array } }).message.auth[0]).toBe(2);
    expect(resent).toContainEqual({
      kind: "setTimer",
      timer: "retransmit",
      afterMs: defaultClientConfig(7, 1).retransmitTimeoutMs,
    });
  });

  it("sends the next request to the primary of the newest view it heard of", () => {
    const client = new Client(defaultClientConfig(7, 1), deps);
    client.submit(bytes("op"), 0);
    client.step({ kind: "message", from: from(1), message: reply(1, 1, "r", 5) }, 1);
    client.step({ kind: "message", from: from(2), message: reply(2, 1, "r", 5) }, 1);
    const next = client.submit(bytes("op2"), 2);
    expect(next[0]).toMatchObject({
      kind: "send",
      to: { kind: "replica", id: 1 },
      message: { timestamp: 2 },
    });
  });

  it("wants only replies to the outstanding request, so the others skip their MAC check", () => {
    const client = new Client(defaultClientConfig(7, 1), deps);
    expect(client.wants(from(0), reply(0, 1, "r"))).toBe(false); // nothing outstanding
    client.submit(bytes("op"), 0);
    expect(client.wants(from(0), reply(0, 1, "r"))).toBe(true);
    expect(client.wants(from(0), reply(0, 2, "r"))).toBe(false);
    expect(client.wants(from(0), { ...reply(0, 1, "r"), clientId: 8 })).toBe(false);
    expect(client.wants({ kind: "client", id: 3 }, reply(0, 1, "r"))).toBe(false);
    client.step({ kind: "message", from: from(0), message: reply(0, 1, "r") }, 1);
    client.step({ kind: "message", from: from(1), message: reply(1, 1, "r") }, 1);
    // f+1 matched: the late replies of request 1 are no longer wanted, those of request 2 are.
    expect(client.wants(from(2), reply(2, 1, "r"))).toBe(false);
    client.submit(bytes("op2"), 2);
    expect(client.wants(from(2), reply(2, 1, "r"))).toBe(false);
    expect(client.wants(from(2), reply(2, 2, "r"))).toBe(true);
  });

  it("rejects bad configuration with a clear message", () => {
    expect(() => new Client({ ...defaultClientConfig(7, 1), f: 4 }, deps)).toThrow(/f must be 1, 2 or 3/);
    expect(() => new Client({ ...defaultClientConfig(-1, 1) }, deps)).toThrow(/clientId/);
  });
});
