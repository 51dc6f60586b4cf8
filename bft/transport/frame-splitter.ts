/**
 * Cuts a TCP byte stream into length-prefixed frames (u32 big-endian length, then the frame).
 * A frame that arrives inside one chunk is delivered as a subarray of it (no copy); one that spans
 * chunks is copied once, when complete, so a large frame costs O(size) and not O(size * chunks).
 */
import { assert } from "../assert.js";
import { FRAME_PREFIX_BYTES } from "./limits.js";

export class FrameSplitter {
  private readonly chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Length of the frame being received, or -1 while waiting for its prefix. */
  private frameBytes = -1;
  private stopped = false;

  constructor(
    private readonly frameBytesMax: number,
    private readonly onFrame: (frame: Uint8Array) => void,
  ) {
    assert(frameBytesMax > 0, "frame limit is positive");
  }

  /** Stops delivery (the connection is going away); later pushes are ignored. */
  stop(): void {
    this.stopped = true;
    this.chunks.length = 0;
    this.bufferedBytes = 0;
  }

  /** Returns false when the peer announced a frame above the limit: the caller closes the connection. */
  push(chunk: Uint8Array): boolean {
    if (this.stopped) return true;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    while (!this.stopped) {
      if (this.frameBytes < 0) {
        if (this.bufferedBytes < FRAME_PREFIX_BYTES) return true;
        const prefix = this.take(FRAME_PREFIX_BYTES);
        const length = new DataView(prefix.buffer, prefix.byteOffset, FRAME_PREFIX_BYTES).getUint32(0);
        if (length > this.frameBytesMax) {
          this.stop();
          return false;
        }
        this.frameBytes = length;
      }
      if (this.bufferedBytes < this.frameBytes) return true;
      const frame = this.take(this.frameBytes);
      this.frameBytes = -1;
      this.onFrame(frame);
    }
    return true;
  }

  private take(byteCount: number): Uint8Array {
    assert(byteCount <= this.bufferedBytes, "take only buffered bytes");
    const first = this.chunks[0];
    if (first !== undefined && first.length >= byteCount) {
      this.bufferedBytes -= byteCount;
      if (first.length === byteCount) this.chunks.shift();
      else this.chunks[0] = first.subarray(byteCount);
      return first.subarray(0, byteCount);
    }
    const out = new Uint8Array(byteCount);
    let filled = 0;
    while (filled < byteCount) {
      const chunk = this.chunks[0];
      assert(chunk !== undefined, "buffered bytes are in chunks");
      const used = Math.min(chunk.length, byteCount - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.bufferedBytes -= byteCount;
    return out;
  }
}
