/**
 * A replica process: `replica-main --config replica.json`. Logs JSON lines (pino) to stderr,
 * appends history records to historyPath when set, and exits cleanly on SIGTERM/SIGINT.
 */
import { createWriteStream } from "node:fs";
import { Command } from "commander";
import pino from "pino";
import { toHex } from "../bytes.js";
import type { Effect } from "../replica/index.js";
import { ConfigError, coreConfigOf, loadReplicaProcessConfig } from "./config.js";
import { clusterSecretFrom } from "./keys.js";
import { startReplicaHost } from "./replica-host.js";

const program = new Command()
  .name("replica-main")
  .description("Run one PBFT replica over TCP")
  .requiredOption("--config <file>", "replica configuration (JSON, see bft/host/config.ts)")
  .option("--debug", "print stack traces on errors")
  .parse();

const options = program.opts<{ config: string; debug?: boolean }>();
const log = pino({ level: process.env.LOG_LEVEL ?? "info" }, pino.destination(2));

async function main(): Promise<void> {
  const config = loadReplicaProcessConfig(options.config);
  const history = config.historyPath === undefined ? undefined : createWriteStream(config.historyPath, { flags: "a" });
  const host = await startReplicaHost({
    replica: coreConfigOf(config),
    clusterSecret: clusterSecretFrom(config.clusterSecret),
    app: config.app,
    replicas: config.replicas,
    log: log.child({ replicaId: config.replicaId }),
    ...(history === undefined ? {} : { onRecord: (record: Effect, nowMs: number) => history.write(`${recordLine(record, nowMs)}\n`) }),
  });
  const stop = async (signal: string) => {
    log.info({ signal }, "stopping");
    await host.close();
    history?.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Let a supervisor ask for counters without a debugger: SIGUSR2 logs them.
  process.on("SIGUSR2", () => log.info({ metrics: host.core.metrics, wireDropped: host.wire.dropped }, "metrics"));
}

/** History records as JSON: byte fields as hex. */
export function recordLine(record: Effect, nowMs: number): string {
  return JSON.stringify({ nowMs, ...record }, (_key, value) => (value instanceof Uint8Array ? toHex(value) : value));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n  hint: ${error.hint}\n`);
  } else {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    if (options.debug) process.stderr.write(`${(error as Error).stack}\n`);
  }
  process.exit(1);
});
