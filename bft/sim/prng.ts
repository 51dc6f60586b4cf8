/**
 * The simulator's only source of randomness: xoshiro128** (Blackman & Vigna), seeded through
 * splitmix32 so that nearby seeds (1, 2, 3, ...) give unrelated streams. Everything random in a
 * run (fault mix, latencies, drops, Byzantine choices, client operations) comes from one seed, so a
 * seed replays a run exactly. Math.random is never used.
 */
import { assert } from "../assert.js";

const UINT32_RANGE = 2 ** 32;

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** seed: any safe integer; both 32-bit halves feed the state. */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(Math.abs(seed) / UINT32_RANGE) >>> 0;
    const mixer = { state: (low ^ Math.imul(high, 0x9e3779b9) ^ (seed < 0 ? 0x5bd1e995 : 0)) >>> 0 };
    this.s0 = splitmix32(mixer);
    this.s1 = splitmix32(mixer);
    this.s2 = splitmix32(mixer);
    this.s3 = splitmix32(mixer);
    // xoshiro's all-zero state is a fixed point; splitmix32 cannot produce four zeros in a row, but
    // the invariant is cheap to state.
    assert((this.s0 | this.s1 | this.s2 | this.s3) !== 0, "xoshiro state is not all zero");
  }

  /** Uniform in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform integer in [min, max], both inclusive, without modulo bias. */
  int(min: number, max: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max), "int bounds are integers");
    assert(min <= max, `int bounds ordered: ${min} <= ${max}`);
    const span = max - min + 1;
    if (span <= UINT32_RANGE) {
      // Rejection sampling: discard the top partial bucket so every value is equally likely.
      const limit = UINT32_RANGE - (UINT32_RANGE % span);
      for (;;) {
        const value = this.nextUint32();
        if (value < limit) return min + (value % span);
      }
    }
    return min + Math.floor(this.float() * span);
  }

  /** True with probability `probability` (0 never, 1 always). */
  chance(probability: number): boolean {
    assert(probability >= 0 && probability <= 1, `probability in [0, 1], got ${probability}`);
    if (probability === 0) return false;
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from a non-empty list");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Fisher-Yates; returns a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const result = items.slice();
    for (let index = result.length - 1; index > 0; index -= 1) {
      const other = this.int(0, index);
      const held = result[index] as T;
      result[index] = result[other] as T;
      result[other] = held;
    }
    return result;
  }

  bytes(length: number): Uint8Array {
    assert(Number.isSafeInteger(length) && length >= 0, "byte count is a non-negative integer");
    const result = new Uint8Array(length);
    for (let index = 0; index < length; index += 4) {
      let word = this.nextUint32();
      for (let offset = 0; offset < 4 && index + offset < length; offset += 1) {
        result[index + offset] = word & 0xff;
        word >>>= 8;
      }
    }
    return result;
  }

  /**
   * An independent stream for one purpose (network, faults, clients), so adding a draw in one part
   * of the simulator does not shift every other part's choices.
   */
  fork(): Prng {
    return new Prng(this.nextUint32() * 2097152 + (this.nextUint32() >>> 11));
  }
}

function rotateLeft(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

function splitmix32(mixer: { state: number }): number {
  mixer.state = (mixer.state + 0x9e3779b9) >>> 0;
  let z = mixer.state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
