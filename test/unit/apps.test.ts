/**
 * Proves the applications keep the contract replicas rely on: deterministic results, a digest that
 * equals the digest after restoring the snapshot bytes, snapshots that stay fixed while later
 * operations run, and malformed input that is answered or rejected, never thrown.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createEchoApp,
  createKvApp,
  KV_BAD_OPERATION,
  KV_NOT_FOUND,
  KV_OK,
  kvDelete,
  kvGet,
  kvPut,
} from "../../bft/apps/index.js";

const text = (value: string) => Buffer.from(value);

describe("echo", () => {
  it("echoes the payload and counts operations in its state", () => {
    const app = createEchoApp({ busyWaitMs: 0 });
    const before = app.checkpoint();
    expect(Buffer.from(app.execute(text("hello"), 1)).toString()).toBe("hello");
    const after = app.checkpoint();
    expect(Buffer.from(after.digest).equals(Buffer.from(before.digest))).toBe(false);
    const other = createEchoApp({ busyWaitMs: 0 });
    expect(other.restore(after.bytes())).toBe(true);
    expect(Buffer.from(other.checkpoint().digest)).toEqual(Buffer.from(after.digest));
  });

  it("busy-waits for the configured CPU time", () => {
    const app = createEchoApp({ busyWaitMs: 5 });
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    app.execute(text("x"), 1);
    const cpu = process.cpuUsage(cpuStart);
    expect(cpu.user + cpu.system).toBeGreaterThanOrEqual(5_000);
    expect(performance.now() - start).toBeGreaterThanOrEqual(5);
  });

  it("rejects malformed snapshots and bad options", () => {
    const app = createEchoApp({ busyWaitMs: 0 });
    expect(app.restore(text("garbage"))).toBe(false);
    expect(app.snapshotDigest(text("garbage"))).toBeUndefined();
    expect(() => createEchoApp({ busyWaitMs: -1 })).toThrow(/busyWaitMs/);
  });
});

describe("kv", () => {
  it("puts, gets and deletes", () => {
    const app = createKvApp({ stateBytes: 0 });
    expect(app.execute(kvPut("a", text("1")), 1)[0]).toBe(KV_OK);
    expect(
      Buffer.from(app.execute(kvGet("a"), 1))
        .subarray(1)
        .toString(),
    ).toBe("1");
    expect(app.execute(kvDelete("a"), 1)[0]).toBe(KV_OK);
    expect(app.execute(kvGet("a"), 1)[0]).toBe(KV_NOT_FOUND);
    expect(app.execute(text("\u0009zz"), 1)[0]).toBe(KV_BAD_OPERATION);
  });

  it("fills the configured state size deterministically", () => {
    const first = createKvApp({ stateBytes: 1_000_000 }).checkpoint();
    const second = createKvApp({ stateBytes: 1_000_000 }).checkpoint();
    expect(Buffer.from(first.digest)).toEqual(Buffer.from(second.digest));
    expect(first.sizeBytes).toBeGreaterThan(1_000_000);
    expect(first.sizeBytes).toBeLessThan(1_010_000);
  });

  it("keeps a snapshot fixed while later operations run", () => {
    const app = createKvApp({ stateBytes: 0 });
    app.execute(kvPut("k", text("old")), 1);
    const snapshot = app.checkpoint();
    app.execute(kvPut("k", text("new")), 1);
    const copy = createKvApp({ stateBytes: 0 });
    expect(copy.restore(snapshot.bytes())).toBe(true);
    expect(
      Buffer.from(copy.execute(kvGet("k"), 1))
        .subarray(1)
        .toString(),
    ).toBe("old");
  });

  it("incremental digest equals the digest of a fresh store with the same contents", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), fc.option(fc.string({ maxLength: 8 }))), {
          maxLength: 40,
        }),
        (ops) => {
          const app = createKvApp({ stateBytes: 0 });
          const model = new Map<string, string>();
          for (const [key, value] of ops) {
            if (value === null) {
              app.execute(kvDelete(key), 1);
              model.delete(key);
            } else {
              app.execute(kvPut(key, text(value)), 1);
              model.set(key, value);
            }
          }
          const reference = createKvApp({ stateBytes: 0 });
          for (const [key, value] of [...model].reverse()) reference.execute(kvPut(key, text(value)), 1);
          const snapshot = app.checkpoint();
          expect(Buffer.from(snapshot.digest)).toEqual(Buffer.from(reference.checkpoint().digest));
          expect(Buffer.from(app.snapshotDigest(snapshot.bytes())!)).toEqual(Buffer.from(snapshot.digest));
        },
      ),
    );
  });

  it("rejects malformed or non-canonical snapshots without changing state", () => {
    const app = createKvApp({ stateBytes: 0 });
    app.execute(kvPut("x", text("1")), 1);
    const before = app.checkpoint().digest;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const digest = app.snapshotDigest(bytes);
        if (digest === undefined) expect(app.restore(bytes)).toBe(false);
      }),
    );
    expect(Buffer.from(app.checkpoint().digest)).toEqual(Buffer.from(before));
    expect(() => createKvApp({ stateBytes: 200 * 1024 * 1024 })).toThrow(/stateBytes/);
  });
});
