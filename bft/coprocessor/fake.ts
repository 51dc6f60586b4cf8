/**
 * An in-memory, deterministic coprocessor for the simulator and unit tests.
 *
 * The key pair comes from a 32-byte seed (PKCS#8 DER built around the seed), so a run is
 * reproducible from its seed. The counter lives in a `FakeCoprocessorStore` that the simulator
 * keeps per node, outside the replica's memory: a simulated reboot or disk swap builds a new
 * FakeCoprocessor over the same store and the counter carries on, as the real one does from its
 * volume.
 */

import { createPrivateKey } from "node:crypto";
import { assert } from "../assert.js";
import { PKCS8_ED25519_PREFIX } from "./coprocessor.js";
import { Ed25519Coprocessor } from "./ed25519-coprocessor.js";
import { CODE_DIGEST_BYTES, PRIVATE_SEED_BYTES } from "./limits.js";

/** What survives a reboot: the key seed, the counter and the code digest the node attests to. */
export interface FakeCoprocessorStore {
  readonly seed: Uint8Array;
  counter: number;
  /** What quote() reports; a scenario may overwrite it to model tampered code. */
  codeDigest: Uint8Array;
}

export function createFakeCoprocessorStore(options: {
  readonly seed: Uint8Array;
  readonly codeDigest: Uint8Array;
  readonly counter?: number;
}): FakeCoprocessorStore {
  assert(options.seed.length === PRIVATE_SEED_BYTES, "fake coprocessor seed is 32 bytes");
  assert(options.codeDigest.length === CODE_DIGEST_BYTES, "code digest is a SHA-256");
  const counter = options.counter ?? 0;
  assert(Number.isSafeInteger(counter) && counter >= 0, "counter starts at a non-negative integer");
  return { seed: Uint8Array.from(options.seed), counter, codeDigest: Uint8Array.from(options.codeDigest) };
}

/** A deterministic 32-byte seed for node `nodeId` in run `runSeed` (not secret: simulation only). */
export function fakeSeed(runSeed: number, nodeId: number): Uint8Array {
  assert(Number.isSafeInteger(runSeed) && Number.isSafeInteger(nodeId), "seed inputs are integers");
  const seed = new Uint8Array(PRIVATE_SEED_BYTES);
  const view = new DataView(seed.buffer);
  view.setFloat64(0, runSeed);
  view.setFloat64(8, nodeId);
  // Spread the two integers over the rest so different nodes differ in many bytes.
  let x = (runSeed ^ 0x9e3779b9 ^ Math.imul(nodeId + 1, 0x85ebca6b)) >>> 0;
  for (let i = 16; i < PRIVATE_SEED_BYTES; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
    seed[i] = x & 0xff;
  }
  return seed;
}

export class FakeCoprocessor extends Ed25519Coprocessor {
  readonly #store: FakeCoprocessorStore;

  constructor(store: FakeCoprocessorStore) {
    assert(store.seed.length === PRIVATE_SEED_BYTES, "fake coprocessor seed is 32 bytes");
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + PRIVATE_SEED_BYTES);
    der.set(PKCS8_ED25519_PREFIX, 0);
    der.set(store.seed, PKCS8_ED25519_PREFIX.length);
    super(createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }));
    this.#store = store;
  }

  counter(): number {
    return this.#store.counter;
  }

  incrementCounter(): number {
    const next = this.#store.counter + 1;
    assert(Number.isSafeInteger(next), "coprocessor counter stays a safe integer");
    this.#store.counter = next;
    return next;
  }

  codeDigest(): Uint8Array {
    return Uint8Array.from(this.#store.codeDigest);
  }
}
