/**
 * The paper's micro-benchmark service (section 4): the reply echoes the request payload after a
 * busy-wait that stands in for real work (1 ms in the paper). Its only state is the number of
 * operations executed, so checkpoints and state transfer have something to agree on.
 */
import { createHash } from "node:crypto";
import type { Application, AppSnapshot } from "./app.js";

export interface EchoOptions {
  /** Busy-wait per operation; the paper injects 1 ms. Simulations pass 0. */
  readonly busyWaitMs: number;
}

const SNAPSHOT_BYTES = 9;
const SNAPSHOT_VERSION = 1;

export function createEchoApp(options: EchoOptions): Application {
  if (!(options.busyWaitMs >= 0) || !Number.isFinite(options.busyWaitMs)) {
    throw new Error(`busyWaitMs must be a finite number >= 0, got ${options.busyWaitMs}`);
  }
  let executedCount = 0;
  return {
    execute(operation: Uint8Array): Uint8Array {
      if (options.busyWaitMs > 0) busyWait(options.busyWaitMs);
      executedCount += 1;
      return operation;
    },
    checkpoint(): AppSnapshot {
      const bytes = encode(executedCount);
      return { digest: digestOf(bytes), sizeBytes: bytes.length, bytes: () => bytes };
    },
    restore(bytes: Uint8Array): boolean {
      const count = decode(bytes);
      if (count === undefined) return false;
      executedCount = count;
      return true;
    },
    snapshotDigest(bytes: Uint8Array): Uint8Array | undefined {
      return decode(bytes) === undefined ? undefined : digestOf(bytes);
    },
  };
}

/**
 * Spins until both this process's CPU time and the wall clock have advanced by `durationMs`. The
 * paper's injected processing delay stands in for real work, which costs CPU whether or not the
 * scheduler lets it run; a spin on the wall clock alone would not: on the testbed four replicas
 * share two cores, and a replica descheduled in mid-spin would finish its "work" without doing it,
 * so throughput could pass the execution-bound ceiling (docs/protocol.md, Performance notes, fifth
 * round). Node 20 reads only the whole process's CPU time (its helper threads, the garbage
 * collector's among them, count too), so the wall clock bounds the spin from below as well.
 */
export function busyWait(durationMs: number): void {
  const spanMicros = durationMs * 1000;
  const cpuEnd = cpuMicros() + spanMicros;
  const wallEnd = performance.now() * 1000 + spanMicros;
  while (cpuMicros() < cpuEnd || performance.now() * 1000 < wallEnd) {
    // spin
  }
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function encode(count: number): Uint8Array {
  const bytes = Buffer.alloc(SNAPSHOT_BYTES);
  bytes.writeUInt8(SNAPSHOT_VERSION, 0);
  bytes.writeBigUInt64BE(BigInt(count), 1);
  return bytes;
}

function decode(bytes: Uint8Array): number | undefined {
  if (bytes.length !== SNAPSHOT_BYTES || bytes[0] !== SNAPSHOT_VERSION) return undefined;
  const count = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readBigUInt64BE(1);
  return count <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(count) : undefined;
}

function digestOf(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}
