/**
 * Which of a node's queued timer events is still live. The simulator queues an event for every
 * setTimer and cannot take it back, so each set or cancel of a timer id gives it a new
 * generation, and an event fires only if it carries the current one.
 *
 * Generations only grow. Counting again from 1 after a timer fired (the simulators deleted the
 * entry then) reused the generation of an older event still in the queue, which then fired after
 * it had been replaced: in migration soak seed 61096 replaced view-change timers fired at 10.1 s
 * and 10.18 s, and the replica moved on to view 5 just before view 4's NEW-VIEW reached it. A
 * real host (bft/host/timers.ts) clears the timeout it replaces, so this never happens there.
 */
export class TimerGenerations<Id extends string> {
  private readonly current = new Map<Id, number>();

  /** A setTimer: the generation its queued event must carry. */
  set(timer: Id): number {
    const generation = (this.current.get(timer) ?? 0) + 1;
    this.current.set(timer, generation);
    return generation;
  }

  /** A cancelTimer: the queued event goes stale. */
  cancel(timer: Id): void {
    this.set(timer);
  }

  /** Whether a queued event is the live one; it is spent, so it fires at most once. */
  fire(timer: Id, generation: number): boolean {
    if (this.current.get(timer) !== generation) return false;
    this.cancel(timer);
    return true;
  }
}
