/**
 * Replica configuration: defaults from bft/limits.ts and a validator that rejects each bad value
 * with a clear message, once at start (like raft's Config.validate()).
 */
import { assert } from "../assert.js";
import { CHECKPOINT_INTERVAL_SEQS, FAULTS_MAX, LOG_WINDOW_SEQS, REQUEST_BATCH_MAX } from "../limits.js";
import type { ReplicaConfig } from "./api.js";

/** Timeouts beyond a day are surely a unit mistake (seconds passed as milliseconds, say). */
const TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000;

export function defaultReplicaConfig(f: number, replicaId: number): ReplicaConfig {
  return validateReplicaConfig({
    f,
    replicaId,
    checkpointIntervalSeqs: CHECKPOINT_INTERVAL_SEQS,
    logWindowSeqs: LOG_WINDOW_SEQS,
    batchSizeMax: REQUEST_BATCH_MAX,
    // Measured with bench:local (docs/protocol.md, Performance notes): with 8-16 closed-loop
    // clients, 1 or 2 batches in flight cost ~15-25% less CPU per request than 4, since requests
    // that queue behind an in-flight batch leave together and every batch costs ~30 frames. Two
    // keep one batch agreeing while the previous one executes.
    batchInflightMax: 2,
    viewChangeTimeoutMs: 2000,
    statusIntervalMs: 500,
  });
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`replica config: ${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

export function validateReplicaConfig(config: ReplicaConfig): ReplicaConfig {
  requireInteger("f", config.f, 1, FAULTS_MAX);
  requireInteger("replicaId", config.replicaId, 0, 3 * config.f);
  // The wire bounds VIEW-CHANGE and NEW-VIEW sizes by LOG_WINDOW_SEQS, so no replica may use a
  // larger window: its view-change messages would be rejected by every peer.
  requireInteger("checkpointIntervalSeqs", config.checkpointIntervalSeqs, 1, LOG_WINDOW_SEQS / 2);
  requireInteger("logWindowSeqs", config.logWindowSeqs, 2 * config.checkpointIntervalSeqs, LOG_WINDOW_SEQS);
  // The window must end on a checkpoint so the next stable checkpoint always lies inside it
  // (PBFT section 4.3), otherwise ordering could stall at the high watermark.
  if (config.logWindowSeqs % config.checkpointIntervalSeqs !== 0) {
    throw new Error(
      `replica config: logWindowSeqs (${config.logWindowSeqs}) must be a multiple of checkpointIntervalSeqs (${config.checkpointIntervalSeqs})`,
    );
  }
  requireInteger("batchSizeMax", config.batchSizeMax, 1, REQUEST_BATCH_MAX);
  requireInteger("batchInflightMax", config.batchInflightMax, 1, config.logWindowSeqs);
  requireInteger("viewChangeTimeoutMs", config.viewChangeTimeoutMs, 1, TIMEOUT_MS_MAX);
  requireInteger("statusIntervalMs", config.statusIntervalMs, 1, TIMEOUT_MS_MAX);
  if (config.migration !== undefined)
    requireInteger("migration.targetWaitMsMax", config.migration.targetWaitMsMax, 0, TIMEOUT_MS_MAX);
  assert(config.logWindowSeqs >= 2 * config.checkpointIntervalSeqs, "validated window holds two intervals");
  return config;
}
