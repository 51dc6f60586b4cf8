/**
 * Proves the simulator's command lines behave as documented: bad options exit 2 with
 * `error [SIM_BAD_OPTION]` and a hint and no stack trace; a clean run exits 0 with the summary and
 * "checker: ok"; a failing run exits 1 and prints seed=<n> with the exact command that reproduces it;
 * the soak runner summarizes its seeds, also when a signal stops it early. How: spawn the real
 * scripts with node's tsx loader.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";

function run(
  script: "cli" | "soak",
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", `bft/sim/${script}.ts`, ...args], {
    cwd: process.cwd(),
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("sim CLI option errors", () => {
  it.each([
    [["--f", "5"], /f must be 1\.\.3, got 5/],
    [["--clients", "-3"], /--clients must be at least 1, got -3/],
    [["--byzantine", "bogus"], /unknown Byzantine kind "bogus"/],
    [["--f", "1", "--byzantine", "silent,flood"], /2 Byzantine replicas exceed f=1/],
    [["--duration", "10x"], /cannot read duration "10x"/],
    [["--app", "redis"], /--app must be one of echo, kv/],
  ])("%j is rejected with a clear message", (args, message) => {
    const result = run("cli", args as string[]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error \[SIM_BAD_OPTION\]: /);
    expect(result.stderr).toMatch(message as RegExp);
    expect(result.stderr).toMatch(/hint: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("sim CLI runs", () => {
  it("prints a summary and checker: ok for a clean run", () => {
    const result = run("cli", ["--seed", "3", "--clients", "2", "--duration", "2s", "--faults", "none"]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/seed=3 f=1 replicas=4 clients=2/);
    expect(result.stdout).toMatch(/requests completed/);
    expect(result.stdout).toMatch(/checker: ok/);
  });

  it("on a failure prints seed=<n> and the command that reproduces it, and exits 1", () => {
    // A 1 ms liveness bound cannot be met (every hop takes 1-5 ms), so the checker must object.
    const args = [
      "--seed",
      "11",
      "--clients",
      "2",
      "--duration",
      "1s",
      "--faults",
      "none",
      "--liveness-bound",
      "1ms",
    ];
    const result = run("cli", [...args, "--quiet"]);
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/\[liveness\]/);
    expect(result.stderr).toMatch(/FAILED seed=11: violation/);
    expect(result.stderr).toContain(
      "reproduce: npm run sim -- --seed 11 --f 1 --clients 2 --duration 1s --app echo --faults none --liveness-bound 1ms",
    );
  });
});

describe("soak runner", () => {
  it("runs a range of seeds and summarizes", () => {
    const result = run("soak", [
      "--seeds",
      "2",
      "--from",
      "5",
      "--f",
      "1",
      "--clients",
      "2",
      "--duration",
      "1s",
    ]);
    expect(result.stdout).toMatch(/soak: 2 seeds from 5/);
    expect([0, 1]).toContain(result.status);
  });

  it("stopped by Ctrl-C under npm, finishes the seed in progress, summarizes and says where to resume", async () => {
    // As a terminal does: SIGINT to the whole process group (npm, sh, tsx and the soak), where npm
    // and tsx may pass it on again.
    const child = spawn(
      "npm",
      ["run", "--silent", "sim:soak", "--", "--seeds", "1000", "--from", "7", "--f", "1", "--duration", "1s"],
      { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = once(child, "exit");
    // The first progress line (after 5 s of seeds) says the loop, and so its handler, is running.
    const started = Date.now();
    while (!/seeds \d+\/1000/.test(stdout) && Date.now() - started < 60_000)
      await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(-child.pid!, "SIGINT");
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    const summary = /soak: interrupted after (\d+) of 1000 seeds from 7, 0 failed/.exec(stdout);
    expect(summary, stdout).not.toBeNull();
    const ran = Number(summary![1]);
    expect(ran).toBeGreaterThan(0);
    expect(stdout).toContain(`resume with --from ${7 + ran} --seeds ${1000 - ran}`);
    // npm itself ends by the signal; the soak below it exits 130.
    expect(code === 130 || signal === "SIGINT", `code ${code}, signal ${signal}`).toBe(true);
  });

  it("rejects bad options", () => {
    const result = run("soak", ["--seeds", "0"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--seeds must be at least 1/);
  });
});
