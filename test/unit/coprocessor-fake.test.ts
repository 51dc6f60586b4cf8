/**
 * Proves the coprocessor contract the migration protocol relies on, against the simulator's fake:
 * keys are deterministic from the seed and raw 32 bytes, signatures verify and reject tampering,
 * the counter is strictly monotonic and survives a simulated reboot (a new FakeCoprocessor over
 * the same store), and quotes verify only against the expected key, code digest and nonce.
 * How: direct calls, table-driven tampering rows, and a fast-check property on the counter.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  type QuoteRejection,
  verifyQuote,
  verifySignature,
} from "../../bft/coprocessor/index.js";

const codeDigest = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(16).fill(3);

function makeCoprocessor(nodeId: number): FakeCoprocessor {
  return new FakeCoprocessor(createFakeCoprocessorStore({ seed: fakeSeed(1, nodeId), codeDigest }));
}

describe("FakeCoprocessor keys and signatures", () => {
  it("derives the same raw 32-byte key from the same seed, different keys for different nodes", () => {
    const a = makeCoprocessor(1);
    const b = makeCoprocessor(1);
    const c = makeCoprocessor(2);
    expect(a.publicKey()).toHaveLength(32);
    expect(a.publicKey()).toEqual(b.publicKey());
    expect(a.publicKey()).not.toEqual(c.publicKey());
  });

  it("signs 64 bytes that verify under its key only", () => {
    const a = makeCoprocessor(1);
    const c = makeCoprocessor(2);
    const bytes = new TextEncoder().encode("join-request");
    const signature = a.sign(bytes);
    expect(signature).toHaveLength(64);
    expect(verifySignature(a.publicKey(), bytes, signature)).toBe(true);
    expect(a.verify(a.publicKey(), bytes, signature)).toBe(true);
    expect(verifySignature(c.publicKey(), bytes, signature)).toBe(false);
    expect(verifySignature(a.publicKey(), new TextEncoder().encode("join-requesu"), signature)).toBe(false);
  });

  it.each([
    ["short key", new Uint8Array(31), new Uint8Array(64)],
    ["short signature", new Uint8Array(32), new Uint8Array(63)],
    ["zero key and signature", new Uint8Array(32), new Uint8Array(64)],
  ])("never throws on malformed peer input: %s", (_name, key, signature) => {
    expect(verifySignature(key, new Uint8Array(4), signature)).toBe(false);
  });
});

describe("FakeCoprocessor counter", () => {
  it("is strictly monotonic and survives a simulated reboot", () => {
    const store = createFakeCoprocessorStore({ seed: fakeSeed(9, 4), codeDigest });
    const before = new FakeCoprocessor(store);
    expect(before.counter()).toBe(0);
    expect(before.incrementCounter()).toBe(1);
    expect(before.incrementCounter()).toBe(2);
    const afterReboot = new FakeCoprocessor(store);
    expect(afterReboot.counter()).toBe(2);
    expect(afterReboot.incrementCounter()).toBe(3);
    expect(afterReboot.publicKey()).toEqual(before.publicKey());
  });

  it("never repeats a value across any interleaving of increments and reboots", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 50 }), (reboots) => {
        const store = createFakeCoprocessorStore({ seed: fakeSeed(2, 2), codeDigest });
        let coprocessor = new FakeCoprocessor(store);
        let last = coprocessor.counter();
        for (const reboot of reboots) {
          if (reboot) coprocessor = new FakeCoprocessor(store);
          const next = coprocessor.incrementCounter();
          expect(next).toBeGreaterThan(last);
          last = next;
        }
      }),
    );
  });
});

describe("attestation quotes", () => {
  const coprocessor = makeCoprocessor(1);
  const other = makeCoprocessor(2);
  const quote = coprocessor.quote(nonce);
  const expected = { publicKey: coprocessor.publicKey(), codeDigest, nonce };

  it("verifies against the expected key, code digest and nonce, and reports the counter", () => {
    expect(verifyQuote(quote, expected)).toEqual({ ok: true });
    expect(quote.counter).toBe(coprocessor.counter());
  });

  it.each<[string, object, object, QuoteRejection]>([
    ["other node's key expected", {}, { publicKey: other.publicKey() }, "publicKeyMismatch"],
    ["tampered code", {}, { codeDigest: new Uint8Array(32).fill(8) }, "codeDigestMismatch"],
    ["replayed for another nonce", {}, { nonce: new Uint8Array(16).fill(4) }, "nonceMismatch"],
    ["counter rewritten", { counter: quote.counter + 1 }, {}, "badSignature"],
    [
      "signature flipped",
      { signature: quote.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) },
      {},
      "badSignature",
    ],
    ["short nonce", { nonce: new Uint8Array(4) }, { nonce: new Uint8Array(4) }, "malformed"],
    ["negative counter", { counter: -1 }, {}, "malformed"],
  ])("rejects %s", (_name, quotePatch, expectedPatch, reason) => {
    expect(verifyQuote({ ...quote, ...quotePatch }, { ...expected, ...expectedPatch })).toEqual({
      ok: false,
      reason,
    });
  });
});
