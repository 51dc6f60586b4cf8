/**
 * The simulators' timer bookkeeping (bft/sim/timer-generations.ts): a queued timer event fires
 * only if no set or cancel of its id came after it, and once. The regression: a replica's
 * view-change timer, set and then replaced, fired anyway once a later timer of the same id had
 * fired and a new one was set (migration soak seed 61096).
 */
import { describe, expect, it } from "vitest";
import { TimerGenerations } from "../../bft/sim/timer-generations.js";

describe("TimerGenerations", () => {
  it("fires only the latest set of a timer id, and only once", () => {
    const timers = new TimerGenerations<"viewChange" | "status">();
    const first = timers.set("viewChange");
    const second = timers.set("viewChange");
    const status = timers.set("status");
    expect(timers.fire("viewChange", first)).toBe(false);
    expect(timers.fire("viewChange", second)).toBe(true);
    expect(timers.fire("viewChange", second)).toBe(false);
    expect(timers.fire("status", status)).toBe(true);
  });

  it("a cancel makes the queued event stale", () => {
    const timers = new TimerGenerations<"viewChange">();
    const set = timers.set("viewChange");
    timers.cancel("viewChange");
    expect(timers.fire("viewChange", set)).toBe(false);
  });

  it("an event replaced long ago stays stale after later timers fired and new ones were set", () => {
    const timers = new TimerGenerations<"viewChange">();
    const replaced = timers.set("viewChange"); // 6.1 s in seed 61096, due at 10.1 s
    const live = timers.set("viewChange");
    expect(timers.fire("viewChange", live)).toBe(true); // 8.1 s
    const next = timers.set("viewChange"); // 8.2 s, due at 10.2 s
    expect(timers.fire("viewChange", replaced)).toBe(false); // 10.1 s: must not fire
    expect(timers.fire("viewChange", next)).toBe(true);
  });
});
