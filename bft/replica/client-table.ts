/**
 * The last-reply table (PBFT section 4.1, exactly-once semantics): for each client, the timestamp
 * of its last executed request and the reply. It is part of the replicated state, so it is
 * checkpointed and transferred with the application, with a deterministic encoding.
 *
 * Bounded by CLIENTS_MAX: the least recently executed client is evicted. Every correct replica
 * executes the same sequence, so every one evicts the same client; Map iteration order (insertion
 * order, refreshed on update) is that recency order, and the encoding preserves it.
 */
import { assert } from "../assert.js";
import { CLIENTS_MAX, RESULT_BYTES_MAX } from "../limits.js";

export interface ClientEntry {
  readonly timestamp: number;
  readonly result: Uint8Array;
}

const CLIENT_TABLE_VERSION = 1;
const ENTRY_HEADER_BYTES = 8 + 8 + 4;

export class ClientTable {
  private readonly entries = new Map<number, ClientEntry>();

  constructor(readonly clientsMax: number = CLIENTS_MAX) {
    assert(Number.isSafeInteger(clientsMax) && clientsMax > 0, "clientsMax is positive");
  }

  get size(): number {
    return this.entries.size;
  }

  /** Client ids with an entry, ascending (for notifying every known client). */
  clientIds(): number[] {
    return [...this.entries.keys()].sort((a, b) => a - b);
  }

  get(clientId: number): ClientEntry | undefined {
    return this.entries.get(clientId);
  }

  /** Records an executed request; timestamps only move forward per client. */
  record(clientId: number, timestamp: number, result: Uint8Array): void {
    const previous = this.entries.get(clientId);
    assert(previous === undefined || previous.timestamp < timestamp, "client timestamps increase");
    if (previous !== undefined) this.entries.delete(clientId);
    this.entries.set(clientId, { timestamp, result });
    if (this.entries.size > this.clientsMax) {
      const oldest = this.entries.keys().next().value;
      assert(oldest !== undefined && oldest !== clientId, "evict someone else");
      this.entries.delete(oldest);
    }
    assert(this.entries.size <= this.clientsMax, "client table bounded");
  }

  encode(): Uint8Array {
    let totalBytes = 1 + 4;
    for (const entry of this.entries.values()) totalBytes += ENTRY_HEADER_BYTES + entry.result.length;
    const out = new Uint8Array(totalBytes);
    const view = new DataView(out.buffer);
    out[0] = CLIENT_TABLE_VERSION;
    view.setUint32(1, this.entries.size);
    let offset = 5;
    for (const [clientId, entry] of this.entries) {
      view.setFloat64(offset, clientId);
      view.setFloat64(offset + 8, entry.timestamp);
      view.setUint32(offset + 16, entry.result.length);
      out.set(entry.result, offset + ENTRY_HEADER_BYTES);
      offset += ENTRY_HEADER_BYTES + entry.result.length;
    }
    assert(offset === totalBytes, "encoding filled the buffer");
    return out;
  }

  /** Decodes bytes that may come from a Byzantine replica: returns null on anything malformed. */
  static decode(bytes: Uint8Array, clientsMax: number = CLIENTS_MAX): ClientTable | null {
    if (bytes.length < 5 || bytes[0] !== CLIENT_TABLE_VERSION) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = view.getUint32(1);
    if (count > clientsMax) return null;
    const table = new ClientTable(clientsMax);
    let offset = 5;
    for (let index = 0; index < count; index++) {
      if (offset + ENTRY_HEADER_BYTES > bytes.length) return null;
      const clientId = view.getFloat64(offset);
      const timestamp = view.getFloat64(offset + 8);
      const resultBytes = view.getUint32(offset + 16);
      if (!isSafeNonNegative(clientId) || !isSafeNonNegative(timestamp)) return null;
      if (resultBytes > RESULT_BYTES_MAX || offset + ENTRY_HEADER_BYTES + resultBytes > bytes.length)
        return null;
      if (table.entries.has(clientId)) return null;
      const start = offset + ENTRY_HEADER_BYTES;
      table.entries.set(clientId, { timestamp, result: bytes.slice(start, start + resultBytes) });
      offset = start + resultBytes;
    }
    if (offset !== bytes.length) return null;
    assert(table.size === count, "decoded every entry");
    return table;
  }
}

function isSafeNonNegative(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
