/**
 * The primary's FIFO of requests waiting for a batch slot: a ring buffer of fixed capacity
 * (CLIENT_QUEUE_MAX), so a flood of requests costs no allocation and push/shift are O(1).
 */
import { assert } from "../assert.js";
import type { Request } from "../messages.js";

export class RequestQueue {
  private readonly ring: (Request | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "queue capacity is positive");
    this.ring = new Array<Request | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  push(request: Request): void {
    assert(!this.full(), "push onto a full queue");
    this.ring[(this.head + this.count) % this.capacity] = request;
    this.count++;
  }

  shift(): Request | undefined {
    if (this.count === 0) return undefined;
    const request = this.ring[this.head];
    assert(request !== undefined, "occupied ring slot");
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return request;
  }

  clear(): void {
    while (this.count > 0) this.shift();
    assert(this.count === 0, "cleared");
  }
}
