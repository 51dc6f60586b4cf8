import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import {
  parseClientCounts,
  parseDurationMs,
  parseList,
  parsePositiveDurationMs,
  parsePositiveInt,
  parsePositiveList,
} from "../../bench/lib.js";

/** True while a process with this pid exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

/**
 * A benchmark process that starts a long-lived child under endWithThisProcess, prints the child's
 * pid, then ends as `how` says.
 */
function benchmarkLike(how: "signal" | "throw" | "exit") {
  const script = `
    import { spawn } from "node:child_process";
    import { endWithThisProcess } from "./bench/lib.ts";
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    endWithThisProcess([child]);
    console.log(child.pid);
    const how = ${JSON.stringify(how)};
    if (how === "throw") setTimeout(() => { throw new Error("boom"); }, 100);
    else if (how === "exit") setTimeout(() => process.exit(3), 100);
    else setTimeout(() => {}, 60000);
  `;
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "ignore"],
  });
}

async function childPidOf(parent: ReturnType<typeof benchmarkLike>): Promise<number> {
  const [chunk] = (await once(parent.stdout!, "data")) as [Buffer];
  const pid = Number(chunk.toString().trim());
  expect(Number.isSafeInteger(pid) && pid > 0).toBe(true);
  return pid;
}

describe("bench/lib: a benchmark's replica processes end with it", () => {
  for (const how of ["signal", "throw", "exit"] as const) {
    it(`when the benchmark ends by ${how}`, async () => {
      const parent = benchmarkLike(how);
      const exited = once(parent, "exit");
      const childPid = await childPidOf(parent);
      try {
        expect(alive(childPid)).toBe(true);
        if (how === "signal") parent.kill("SIGTERM");
        const [code, signal] = (await exited) as [number | null, string | null];
        expect(signal).toBeNull(); // SIGTERM turned into an orderly exit that ran the cleanups
        expect(code).toBe(how === "signal" ? 143 : how === "exit" ? 3 : 1);
        expect(await until(() => !alive(childPid), 5000)).toBe(true);
      } finally {
        if (alive(childPid)) process.kill(childPid, "SIGKILL");
      }
    });
  }
});

describe("bench/lib: option parsing", () => {
  it("reads client counts and refuses zero, fractions and junk", () => {
    expect(parseClientCounts("1,2, 16")).toEqual([1, 2, 16]);
    for (const bad of ["0", "1,0", "2.5", "x", "-1", ""])
      expect(() => parseClientCounts(bad), bad).toThrow(/clients/);
  });

  it("reads non-negative lists and durations", () => {
    expect(parseList("0,1.5", "exec")).toEqual([0, 1.5]);
    expect(() => parseList("1,-1", "exec")).toThrow(/exec/);
    expect(parseDurationMs("10s")).toBe(10_000);
    expect(parseDurationMs("2m")).toBe(120_000);
    expect(parseDurationMs("250")).toBe(250);
    expect(() => parseDurationMs("5x")).toThrow(/duration/);
  });

  it("reads positive integers, lists and durations and refuses the rest", () => {
    expect(parsePositiveInt("40000", "--requests")).toBe(40_000);
    for (const bad of ["0", "-2", "1.5", "", " ", "x", "1e400"])
      expect(() => parsePositiveInt(bad, "--requests"), bad).toThrow(/--requests/);
    expect(parsePositiveList("0.5,50", "--sizes")).toEqual([0.5, 50]);
    expect(() => parsePositiveList("1,0", "--sizes")).toThrow(/--sizes/);
    expect(parsePositiveDurationMs("1s", "--duration")).toBe(1000);
    expect(() => parsePositiveDurationMs("0s", "--duration")).toThrow(/--duration must be positive/);
  });
});
