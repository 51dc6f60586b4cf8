/**
 * A replica process's configuration file, validated once at start with a clear message per bad
 * value. The same file drives a local process (benchmarks) and a replica on a testbed node.
 */
import { readFileSync } from "node:fs";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { defaultReplicaConfig, type ReplicaConfig, validateReplicaConfig } from "../replica/index.js";

const Address = Type.Object(
  { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) },
  { additionalProperties: false },
);

export const ReplicaProcessConfigSchema = Type.Object(
  {
    f: Type.Integer({ minimum: 1, maximum: 3 }),
    replicaId: Type.Integer({ minimum: 0, maximum: 9 }),
    clusterSecret: Type.String({ minLength: 1 }),
    app: Type.Object(
      {
        app: Type.Union([Type.Literal("echo"), Type.Literal("kv")]),
        busyWaitMs: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
        stateBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 * 1024 * 1024 })),
      },
      { additionalProperties: false },
    ),
    replicas: Type.Array(
      Type.Object({ id: Type.Integer({ minimum: 0, maximum: 9 }), peer: Address, client: Address }, { additionalProperties: false }),
      { minItems: 4, maxItems: 10 },
    ),
    /** Overrides of the core's defaults (timeouts, batching). */
    core: Type.Optional(
      Type.Object(
        {
          checkpointIntervalSeqs: Type.Optional(Type.Integer()),
          logWindowSeqs: Type.Optional(Type.Integer()),
          batchSizeMax: Type.Optional(Type.Integer()),
          batchInflightMax: Type.Optional(Type.Integer()),
          viewChangeTimeoutMs: Type.Optional(Type.Integer()),
          statusIntervalMs: Type.Optional(Type.Integer()),
        },
        { additionalProperties: false },
      ),
    ),
    /** Where to append history records (JSON lines); none when absent. */
    historyPath: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export type ReplicaProcessConfig = Static<typeof ReplicaProcessConfigSchema>;

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export function parseReplicaProcessConfig(value: unknown, source: string): ReplicaProcessConfig {
  if (!Value.Check(ReplicaProcessConfigSchema, value)) {
    const problems = [...Value.Errors(ReplicaProcessConfigSchema, value)]
      .slice(0, 5)
      .map((error) => `${error.path || "/"}: ${error.message}`);
    throw new ConfigError(`${source}: ${problems.join("; ")}`, "see bft/host/config.ts for the schema");
  }
  const n = 3 * value.f + 1;
  const ids = value.replicas.map((endpoint) => endpoint.id).sort((a, b) => a - b);
  if (ids.length !== n || ids.some((id, index) => id !== index)) {
    throw new ConfigError(`${source}: replicas must list ids 0..${n - 1} exactly once for f=${value.f}`, "one entry per replica");
  }
  if (value.replicaId >= n) throw new ConfigError(`${source}: replicaId ${value.replicaId} is not below n=${n}`, "replica ids are 0..3f");
  try {
    coreConfigOf(value);
  } catch (error) {
    throw new ConfigError(`${source}: ${(error as Error).message}`, "fix the core overrides");
  }
  return value;
}

export function loadReplicaProcessConfig(path: string): ReplicaProcessConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, "pass --config <file.json>");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path} is not valid JSON: ${(error as Error).message}`, "check the file's syntax");
  }
  return parseReplicaProcessConfig(value, path);
}

export function coreConfigOf(config: ReplicaProcessConfig): ReplicaConfig {
  return validateReplicaConfig({ ...defaultReplicaConfig(config.f, config.replicaId), ...config.core });
}
