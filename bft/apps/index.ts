export type { Application, AppSnapshot } from "./app.js";
export { busyWait, createEchoApp, type EchoOptions } from "./echo.js";
export {
  createKvApp,
  KV_BAD_OPERATION,
  KV_KEY_BYTES_MAX,
  KV_NOT_FOUND,
  KV_OK,
  KV_STATE_BYTES_MAX,
  type KvOptions,
  kvDelete,
  kvGet,
  kvPut,
} from "./kv.js";

import type { Application } from "./app.js";
import { createEchoApp } from "./echo.js";
import { createKvApp } from "./kv.js";

export type AppName = "echo" | "kv";

export interface AppOptions {
  readonly app: AppName;
  readonly busyWaitMs?: number;
  readonly stateBytes?: number;
}

/** Builds an application by name: the one switch hosts, the simulator and benchmarks share. */
export function createApp(options: AppOptions): Application {
  if (options.app === "echo") return createEchoApp({ busyWaitMs: options.busyWaitMs ?? 0 });
  if (options.app === "kv") return createKvApp({ stateBytes: options.stateBytes ?? 0 });
  throw new Error(`unknown app "${String(options.app)}"; expected echo or kv`);
}
