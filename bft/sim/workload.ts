/**
 * What closed-loop clients ask for. Echo operations are random payloads (their results are the
 * payloads, so any mix-up between requests shows in the checker). Kv operations mix puts and gets
 * over a small key space, so results depend on the order of other clients' writes and a replica whose
 * state diverged (or was installed wrong) returns visibly wrong values.
 */
import { kvGet, kvPut } from "../apps/index.js";
import type { SimulationApp } from "./options.js";
import type { Prng } from "./prng.js";

export interface OperationSource {
  next(): Uint8Array;
  /** Pause before the next request, 0..thinkMsMax. */
  thinkMs(thinkMsMax: number): number;
}

const ECHO_BYTES_MIN = 8;
const ECHO_BYTES_MAX = 64;
const KV_KEYS = 16;
const KV_VALUE_BYTES_MAX = 32;

export function createOperationSource(app: SimulationApp, prng: Prng): OperationSource {
  const next =
    app === "echo"
      ? () => prng.bytes(prng.int(ECHO_BYTES_MIN, ECHO_BYTES_MAX))
      : () => {
          const key = `key-${prng.int(0, KV_KEYS - 1)}`;
          return prng.chance(0.5) ? kvPut(key, prng.bytes(prng.int(1, KV_VALUE_BYTES_MAX))) : kvGet(key);
        };
  return { next, thinkMs: (thinkMsMax) => prng.int(0, thinkMsMax) };
}
