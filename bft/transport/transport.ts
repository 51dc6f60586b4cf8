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

/** A principal's name in address maps and logs: "replica:0", "client:17". */
export function principalKey(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}
