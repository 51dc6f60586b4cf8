/**
 * Limits of the TCP transport. Each is a default for TcpTransportOptions.limits, validated once
 * when a transport is created.
 */
import { assert } from "../assert.js";
import { MESSAGE_BYTES_MAX } from "../limits.js";

export interface TcpLimits {
  /** Frames queued for one peer while its connection is down or its socket buffer is full. */
  readonly sendQueueFramesMax: number;
  /** Bytes queued for one peer; beyond either bound new frames are dropped and counted. */
  readonly sendQueueBytesMax: number;
  /** Bytes handed to one socket before the writer waits for "drain" (the kernel is behind). */
  readonly socketBufferBytesMax: number;
  /** Reconnect backoff doubles from min to max after each failed or lost connection. */
  readonly reconnectBackoffMsMin: number;
  readonly reconnectBackoffMsMax: number;
  /** An outbound connect that has not completed by then is abandoned (e.g. a shut switch port). */
  readonly connectTimeoutMs: number;
  /** An inbound connection that has not sent its hello by then is closed. */
  readonly helloTimeoutMs: number;
  /** Inbound connections accepted at once; more are refused by the server. */
  readonly inboundConnectionsMax: number;
  /**
   * Principals routed over inbound connections at once (hellos and bind()s). A gateway carries
   * many clients on one connection; a route is forgotten when its connection closes.
   */
  readonly routesMax: number;
  /** close() waits this long for sockets to end gracefully, then destroys them. */
  readonly closeTimeoutMs: number;
}

export const TCP_LIMITS_DEFAULT: TcpLimits = {
  sendQueueFramesMax: 8192,
  sendQueueBytesMax: 64 * 1024 * 1024,
  socketBufferBytesMax: 4 * 1024 * 1024,
  reconnectBackoffMsMin: 25,
  reconnectBackoffMsMax: 1000,
  connectTimeoutMs: 3000,
  helloTimeoutMs: 5000,
  inboundConnectionsMax: 4096,
  routesMax: 65536,
  closeTimeoutMs: 1000,
};

/** Length prefix of every frame on a connection: u32 big-endian. */
export const FRAME_PREFIX_BYTES = 4;
/** Frames above this are refused: the connection that announces one is closed. */
export const FRAME_BYTES_MAX = MESSAGE_BYTES_MAX;

/**
 * Frames at most this large are copied, with their prefixes, into one buffer per flush; larger
 * ones are written by reference. Below it the copy costs less than a separate write request and
 * iovec per frame; above it the copy would cost more than it saves.
 */
export const COALESCE_BYTES_MAX = 16 * 1024;
// A frame above FRAME_BYTES_MAX is never sent, so a larger threshold would copy every frame.
assert(COALESCE_BYTES_MAX < FRAME_BYTES_MAX, "large frames are written by reference");

/** Returns the first problem with `limits`, or undefined. */
export function tcpLimitsProblem(limits: TcpLimits): string | undefined {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) return `${name} must be a positive integer, got ${value}`;
  }
  if (limits.sendQueueBytesMax < FRAME_BYTES_MAX) {
    return `sendQueueBytesMax (${limits.sendQueueBytesMax}) must hold one largest frame (${FRAME_BYTES_MAX} bytes)`;
  }
  if (limits.reconnectBackoffMsMax < limits.reconnectBackoffMsMin) {
    return `reconnectBackoffMsMax (${limits.reconnectBackoffMsMax}) is below reconnectBackoffMsMin`;
  }
  return undefined;
}

// The defaults must pass their own validation: a single largest frame always fits the queue.
assert(tcpLimitsProblem(TCP_LIMITS_DEFAULT) === undefined, "default TCP limits are valid");
