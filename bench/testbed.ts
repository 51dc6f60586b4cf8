/**
 * bench:testbed: times the emulated hardware on this machine's Docker engine and prints CSV
 * (metric, run, value, unit), then min/median/max per metric on stderr.
 *
 * Per run: bring an f=1 testbed up from nothing (4 active + 2 standby nodes), bring it up again
 * (idempotent), reboot a node, swap a node's disk, send 20 MB through a port shaped to 100 Mbit/s,
 * and take it down. Needs `npm run setup` (Docker) first.
 *
 *   npm run bench:testbed -- [--runs 3] [--out bench/out/testbed.csv]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Command } from "commander";
import { defaultConfig, Testbed } from "../controller/index.js";
import { csvLine } from "./lib.js";

const options = new Command()
  .name("bench:testbed")
  .option("--runs <n>", "repetitions", "3")
  .option("--out <file>", "CSV output file", "bench/out/testbed.csv")
  .parse()
  .opts<{ runs: string; out: string }>();

const TRANSFER_BYTES = 20_000_000;
const config = defaultConfig({
  name: "mbft-bench",
  subnets: { nic1: "10.84.1.0/24", nic2: "10.84.2.0/24", nic3: "10.84.3.0/24" },
});

async function timed(work: () => Promise<unknown>): Promise<number> {
  const startMs = performance.now();
  await work();
  return performance.now() - startMs;
}

async function oneRun(
  run: number,
  emit: (metric: string, value: number, unit: string) => void,
): Promise<void> {
  const testbed = await Testbed.open({ config });
  try {
    emit("up_cold", await timed(() => testbed.up()), "ms");
    emit("up_again", await timed(() => testbed.up()), "ms");
    emit("reboot", await timed(() => testbed.reboot("n2")), "ms");
    emit("disk_swap", await timed(() => testbed.diskSwap("n3")), "ms");
    const address = testbed.plan("n1").addresses.nic2;
    await testbed.exec("n1", `net-serve ${address} 7003`, 60_000);
    await testbed.switch.rateLimit("n1/nic2", "100mbit");
    const sent = await testbed.exec<{ ok: boolean; elapsedMs: number }>(
      "n0",
      `net-send ${address} 7003 ${TRANSFER_BYTES} 30000`,
      60_000,
    );
    if (!sent.value.ok) throw new Error(`shaped transfer failed in run ${run}`);
    emit("shaped_100mbit_throughput", (TRANSFER_BYTES * 8) / sent.value.elapsedMs / 1000, "Mbit/s");
  } finally {
    emit("down", (await testbed.down()).elapsedMs, "ms");
  }
}

async function main(): Promise<void> {
  const runs = Number(options.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20)
    throw new Error(`--runs must be 1..20, got ${options.runs}`);
  const lines = [csvLine(["metric", "run", "value", "unit"])];
  const values = new Map<string, { unit: string; samples: number[] }>();
  console.log(lines[0]);
  for (let run = 1; run <= runs; run += 1) {
    await oneRun(run, (metric, value, unit) => {
      const line = csvLine([metric, run, value, unit]);
      lines.push(line);
      console.log(line);
      const entry = values.get(metric) ?? { unit, samples: [] };
      entry.samples.push(value);
      values.set(metric, entry);
    });
  }
  for (const [metric, { unit, samples }] of values) {
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.error(
      `${metric}: min ${sorted[0]!.toFixed(1)} median ${median.toFixed(1)} max ${sorted.at(-1)!.toFixed(1)} ${unit}`,
    );
  }
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${lines.join("\n")}\n`);
  console.error(`wrote ${options.out}`);
}

main().catch((error: unknown) => {
  const typed = error as { code?: string; hint?: string; message: string };
  console.error(
    `error${typed.code ? ` [${typed.code}]` : ""}: ${typed.message}${typed.hint ? `\n  hint: ${typed.hint}` : ""}`,
  );
  process.exit(1);
});
