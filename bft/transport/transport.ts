/**
 * A transport moves opaque frames between principals. Authentication and decoding happen in
 * bft/wire, above it. Delivery is best effort: frames may be lost (the protocol retransmits).
 */
import type { Principal } from "../messages.js";

export interface Transport {
  /** Queues a frame for `to`. Never throws on a missing or broken peer; it drops and counts instead. */
  send(to: Principal, frame: Uint8Array): void;
  /** Registers the single frame handler. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  close(): Promise<void>;
}

/**
 * The connection a frame arrived on, opaque to the host. It stays a valid argument to bind() after
 * its connection closes (bind then does nothing).
 */
export interface FrameOrigin {
  readonly originBrand: "FrameOrigin";
}

/**
 * A transport that can answer a principal on the connection its frames arrive on, whatever the
 * connection's hello named. A client gateway serves many clients over one connection per replica:
 * the host binds each client to the connection its latest authenticated request came on, so the
 * replies to all of them leave together. Only a transport over real connections has origins; the
 * simulator's network implements the plain Transport.
 */
export interface RoutingTransport extends Transport {
  onFrame(handler: (frame: Uint8Array, origin: FrameOrigin) => void): void;
  /**
   * Routes later sends to `principal` (one without an address) over `origin`'s connection. Call it
   * only after the wire authenticated a frame from `principal` that arrived there: a replayed frame
   * can then at worst divert replies, like a false hello; it cannot forge any.
   */
  bind(principal: Principal, origin: FrameOrigin): void;
}

/** A principal's name in address maps and logs: "replica:0", "client:17". */
export function principalKey(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}
