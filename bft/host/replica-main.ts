/**
 * A replica process: `replica-main --config replica.json` (or `--config '<json>'`, as the node agent
 * starts it). Logs JSON lines (pino) to stderr, appends history records to historyPath when set, and
 * exits cleanly on SIGTERM/SIGINT.
 *
 * `--recovering`: pass it whenever the replica ran before (a restart after a crash or a reboot). A
 * replica keeps nothing on disk, so a restarted one cannot know what it proposed as primary; with
 * the flag it joins as a backup and leads no view until a view change brings it into one properly
 * (bft/replica Replica.start). Leave it off only for a cluster's first start.
 *
 * The history file's format is in history-file.ts.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Command } from "commander";
import pino from "pino";
import type { Effect } from "../replica/index.js";
import { ConfigError, coreConfigOf, loadReplicaProcessConfig } from "./config.js";
import { recordLine, startedLine } from "./history-file.js";
import { keyMaterialOf } from "./keys.js";
import { startReplicaHost } from "./replica-host.js";

const program = new Command()
  .name("replica-main")
  .description("Run one PBFT replica over TCP")
  .requiredOption(
    "--config <file|json>",
    "replica configuration: a JSON file or JSON text (see bft/host/config.ts)",
  )
  .option(
    "--recovering",
    "this replica ran before and lost its memory (restart after a crash or reboot): join as a backup",
  )
  .option("--debug", "print stack traces on errors")
  .parse();

const options = program.opts<{ config: string; recovering?: boolean; debug?: boolean }>();
const log = pino({ level: process.env.LOG_LEVEL ?? "info" }, pino.destination(2));

async function main(): Promise<void> {
  const config = loadReplicaProcessConfig(options.config);
  const history = config.historyPath === undefined ? undefined : openHistory(config.historyPath);
  history?.write(
    `${startedLine({ replicaId: config.replicaId, pid: process.pid, nowMs: performance.now() })}\n`,
  );
  const host = await startReplicaHost({
    replica: coreConfigOf(config),
    keys: keyMaterialOf(config.keys),
    app: config.app,
    replicas: config.replicas,
    log: log.child({ replicaId: config.replicaId }),
    recovering: options.recovering === true,
    ...(history === undefined
      ? {}
      : { onRecord: (record: Effect, nowMs: number) => history.write(`${recordLine(record, nowMs)}\n`) }),
  });
  const stop = async (signal: string) => {
    log.info({ signal }, "stopping");
    await host.close();
    // end() only queues the flush: exiting before its callback would lose the last records.
    if (history !== undefined) await new Promise<void>((resolve) => history.end(resolve));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Let a supervisor ask for counters without a debugger: SIGUSR2 logs them.
  process.on("SIGUSR2", () =>
    log.info(
      {
        metrics: host.core.metrics,
        wireDropped: host.wire.dropped,
        unsealableDropped: Object.fromEntries(host.unsealableDropped),
      },
      "metrics",
    ),
  );
}

/** The history file, its directory created; a write error is fatal (a silent gap would pass checks). */
function openHistory(path: string) {
  mkdirSync(dirname(path), { recursive: true });
  const stream = createWriteStream(path, { flags: "a" });
  stream.on("error", (error) => {
    process.stderr.write(`error: history ${path}: ${error.message}\n`);
    process.exit(1);
  });
  return stream;
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
