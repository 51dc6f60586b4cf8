/**
 * Typed operating errors of the testbed controller, each with a stable code, an HTTP status for
 * the coming REST plane, and a hint the CLI prints under the message.
 */
import { OperatingError, type OperatingErrorOptions } from "../common/index.js";

export class TestbedError extends OperatingError {
  override readonly name = "TestbedError";

  constructor(options: OperatingErrorOptions) {
    super(options, 400);
  }
}

export const testbedErrors = {
  dockerUnreachable: (detail: string, cause?: unknown) =>
    new TestbedError({
      code: "TESTBED_DOCKER_UNREACHABLE",
      message: `the Docker engine is not reachable: ${detail}`,
      hint: "run `npm run setup` (installs docker.io, iptables, etcd-server and starts dockerd)",
      statusCode: 503,
      cause,
    }),
  badConfig: (field: string, detail: string) =>
    new TestbedError({
      code: "TESTBED_BAD_CONFIG",
      message: `bad testbed configuration: ${field} ${detail}`,
      hint: "see `testbed up --help` for the options and their ranges",
    }),
  unknownNode: (node: string, known: readonly string[]) =>
    new TestbedError({
      code: "TESTBED_UNKNOWN_NODE",
      message: `node ${node} not found`,
      hint: `known nodes: ${known.join(", ") || "none (is the testbed up? `testbed up`)"}`,
      statusCode: 404,
    }),
  notUp: (name: string) =>
    new TestbedError({
      code: "TESTBED_NOT_UP",
      message: `testbed ${name} is not up`,
      hint: "bring it up with `testbed up`",
      statusCode: 409,
    }),
  nodeNotReady: (node: string, timeoutMs: number, detail: string) =>
    new TestbedError({
      code: "TESTBED_NODE_NOT_READY",
      message: `node ${node} not ready after ${timeoutMs}ms: ${detail}`,
      hint: "look at the node's log with `docker logs <container>`; `testbed status` shows every node",
      statusCode: 504,
    }),
  agentCommandFailed: (node: string, command: string, detail: string) =>
    new TestbedError({
      code: "TESTBED_AGENT_COMMAND_FAILED",
      message: `node ${node}: \`${command}\` failed: ${detail}`,
      hint: "the node may be down, damaged, or its management port shut; check `testbed status`",
      statusCode: 502,
    }),
  replicaNotStarted: (node: string, detail: string) =>
    new TestbedError({
      code: "TESTBED_REPLICA_NOT_STARTED",
      message: `node ${node}: the replica did not start: ${detail}`,
      hint: "`testbed status` shows the replica's last log lines; `stop` it before starting another",
      statusCode: 502,
    }),
  networkStuck: (name: string, cause?: unknown) =>
    new TestbedError({
      code: "TESTBED_NETWORK_STUCK",
      message: `network ${name} has no containers but Docker still counts endpoints on it`,
      hint: "a known Docker 20.10 bug (moby issues 42119, 43286); restart the Docker engine, then `testbed down`",
      statusCode: 500,
      cause,
    }),
  dockerFailed: (what: string, detail: string, cause?: unknown) =>
    new TestbedError({
      code: "TESTBED_DOCKER_FAILED",
      message: `docker ${what} failed: ${detail}`,
      hint: "`testbed down` removes leftovers; re-run with --debug for the engine's full answer",
      statusCode: 500,
      cause,
    }),
};
