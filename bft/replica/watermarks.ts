/**
 * Sequence-number windows (PBFT section 4.3): a replica accepts protocol messages for seq with
 * h < seq <= h + L, where h is its last stable checkpoint. The window bounds the log and stops a
 * faulty primary from exhausting the sequence space.
 */
import { assert } from "../assert.js";

export function inWindow(seq: number, lowSeq: number, windowSeqs: number): boolean {
  assert(Number.isSafeInteger(lowSeq) && lowSeq >= 0, "low watermark is a safe integer");
  assert(windowSeqs > 0, "window is positive");
  return Number.isSafeInteger(seq) && seq > lowSeq && seq <= lowSeq + windowSeqs;
}

export function highWatermarkOf(lowSeq: number, windowSeqs: number): number {
  assert(lowSeq >= 0 && windowSeqs > 0, "watermark arguments in range");
  return lowSeq + windowSeqs;
}

/** A checkpoint is taken after executing every K-th sequence number (PBFT section 4.3). */
export function isCheckpointSeq(seq: number, checkpointIntervalSeqs: number): boolean {
  assert(checkpointIntervalSeqs > 0, "checkpoint interval is positive");
  return Number.isSafeInteger(seq) && seq >= 0 && seq % checkpointIntervalSeqs === 0;
}
