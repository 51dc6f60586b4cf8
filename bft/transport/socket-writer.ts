/**
 * The bounded send queue of one connection, with write coalescing. Frames queue while the socket
 * connects, is absent (reconnecting) or is behind (its buffer above socketBufferBytesMax). Queued
 * frames are written once per event-loop turn (setImmediate), corked, so everything a host sends
 * in one turn leaves in as few syscalls as the kernel allows.
 *
 * Frames are queued by reference: a caller must not mutate a frame after sending it.
 */
import type { Socket } from "node:net";
import { assert } from "../assert.js";
import { COALESCE_BYTES_MAX, FRAME_BYTES_MAX, FRAME_PREFIX_BYTES, type TcpLimits } from "./limits.js";

/** The counters a writer updates; the transport owns them. */
export interface WriterCounters {
  framesOut: number;
  bytesOut: number;
  framesDroppedQueueFull: number;
}

export class SocketWriter {
  private frames: Uint8Array[] = [];
  private queuedBytes = 0;
  private socket: Socket | undefined;
  private flushScheduled = false;

  constructor(
    private readonly limits: TcpLimits,
    private readonly counters: WriterCounters,
  ) {}

  get queuedFrameCount(): number {
    return this.frames.length;
  }

  /** Queues a frame; false (and counted) when the queue is full. */
  enqueue(frame: Uint8Array): boolean {
    assert(frame.length <= FRAME_BYTES_MAX, "frame within FRAME_BYTES_MAX");
    const full =
      this.frames.length >= this.limits.sendQueueFramesMax ||
      this.queuedBytes + frame.length > this.limits.sendQueueBytesMax;
    if (full) {
      this.counters.framesDroppedQueueFull += 1;
      return false;
    }
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    this.scheduleFlush();
    return true;
  }

  /** Starts writing to a connected socket; queued frames go out on the next turn. */
  attach(socket: Socket): void {
    assert(this.socket === undefined, "writer attached to one socket at a time");
    this.socket = socket;
    socket.on("drain", () => this.scheduleFlush());
    this.scheduleFlush();
  }

  /** The socket is gone; frames stay queued for the next one. */
  detach(): void {
    this.socket = undefined;
  }

  /** Drops every queued frame; returns how many. */
  clear(): number {
    const dropped = this.frames.length;
    this.frames = [];
    this.queuedBytes = 0;
    return dropped;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.socket === undefined) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued frames until the queue is empty or the socket buffer is full ("drain" resumes). */
  flush(): void {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed || !socket.writable || this.frames.length === 0) return;
    // Frames up to COALESCE_BYTES_MAX are copied, prefix and all, into one buffer handed to the
    // socket in one write() call; larger frames go by reference. Every write() costs a stream
    // request and an iovec in the writev, so on small frames the copy is far cheaper.
    const budgetBytes = this.limits.socketBufferBytesMax - socket.writableLength;
    let count = 0;
    let countBytes = 0;
    while (count < this.frames.length && countBytes < budgetBytes) {
      countBytes += FRAME_PREFIX_BYTES + (this.frames[count] as Uint8Array).length;
      count += 1;
    }
    if (count === 0) return;
    socket.cork();
    let runStart = 0;
    let runBytes = 0;
    for (let index = 0; index < count; index += 1) {
      const frame = this.frames[index] as Uint8Array;
      if (frame.length <= COALESCE_BYTES_MAX) {
        runBytes += FRAME_PREFIX_BYTES + frame.length;
        continue;
      }
      if (runBytes > 0) socket.write(coalesce(this.frames, runStart, index, runBytes));
      const prefix = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
      prefix.writeUInt32BE(frame.length, 0);
      socket.write(prefix);
      socket.write(frame);
      runStart = index + 1;
      runBytes = 0;
    }
    if (runBytes > 0) socket.write(coalesce(this.frames, runStart, count, runBytes));
    socket.uncork();
    const writtenBytes = countBytes - count * FRAME_PREFIX_BYTES;
    this.frames = count === this.frames.length ? [] : this.frames.slice(count);
    this.queuedBytes -= writtenBytes;
    this.counters.framesOut += count;
    this.counters.bytesOut += countBytes;
    assert(this.queuedBytes >= 0, "queued bytes never negative");
  }
}

/** frames[start, end) with their length prefixes, in one buffer of `totalBytes`. */
function coalesce(frames: readonly Uint8Array[], start: number, end: number, totalBytes: number): Buffer {
  const out = Buffer.allocUnsafe(totalBytes);
  let offset = 0;
  for (let index = start; index < end; index += 1) {
    const frame = frames[index] as Uint8Array;
    out.writeUInt32BE(frame.length, offset);
    out.set(frame, offset + FRAME_PREFIX_BYTES);
    offset += FRAME_PREFIX_BYTES + frame.length;
  }
  assert(offset === totalBytes, "coalesced frames fill their buffer");
  return out;
}
