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
import { FRAME_BYTES_MAX, FRAME_PREFIX_BYTES, type TcpLimits } from "./limits.js";

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
    let written = 0;
    let writtenBytes = 0;
    socket.cork();
    for (const frame of this.frames) {
      if (socket.writableLength >= this.limits.socketBufferBytesMax) break;
      const prefix = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
      prefix.writeUInt32BE(frame.length, 0);
      socket.write(prefix);
      socket.write(frame);
      written += 1;
      writtenBytes += frame.length;
    }
    socket.uncork();
    this.frames = written === this.frames.length ? [] : this.frames.slice(written);
    this.queuedBytes -= writtenBytes;
    this.counters.framesOut += written;
    this.counters.bytesOut += writtenBytes + written * FRAME_PREFIX_BYTES;
    assert(this.queuedBytes >= 0, "queued bytes never negative");
  }
}
