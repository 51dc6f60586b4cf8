/**
 * Node agent entry point: the first process (PID 1) of every testbed node.
 *
 * As PID 1 it gets no default signal handling from the kernel, so SIGTERM and SIGINT are handled
 * here: stop the supervised process, close the console, exit. Reaping: libuv reaps every child the
 * agent spawns; supervised processes run as process-group leaders and their whole group is killed
 * on stop, so no orphan is left to re-parent onto PID 1 (Node cannot call waitpid(-1) itself).
 */
import pino from "pino";
import { bootAgent } from "./agent.js";
import { agentConfigFromEnv } from "./config.js";

const log = pino({ base: { nodeId: process.env.MBFT_NODE_ID }, redact: ["privateKey", "*.privateKey"] });

async function main(): Promise<void> {
  const config = agentConfigFromEnv(process.env);
  const agent = await bootAgent(config);
  const status = agent.context.coprocessor.toJSON();
  log.info(
    { ...status, nic3: config.nic3Address, bootId: agent.context.bootId, pid: process.pid },
    "node agent ready",
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "node agent stopping");
    const forced = setTimeout(() => process.exit(1), 5000);
    forced.unref();
    void agent.shutdown().finally(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  log.fatal({ err: error }, "node agent failed to boot");
  process.exit(1);
});
