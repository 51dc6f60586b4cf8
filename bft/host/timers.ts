/** Real timers for a core's TimerId effects: one pending timer per id, setTimer replaces it. */
export class TimerTable<Id extends string> {
  private readonly pending = new Map<Id, NodeJS.Timeout>();

  constructor(private readonly fire: (timer: Id) => void) {}

  set(timer: Id, afterMs: number): void {
    this.cancel(timer);
    const handle = setTimeout(() => {
      this.pending.delete(timer);
      this.fire(timer);
    }, afterMs);
    this.pending.set(timer, handle);
  }

  cancel(timer: Id): void {
    const handle = this.pending.get(timer);
    if (handle === undefined) return;
    clearTimeout(handle);
    this.pending.delete(timer);
  }

  clear(): void {
    for (const handle of this.pending.values()) clearTimeout(handle);
    this.pending.clear();
  }
}
