/** Limits of the node agent; every buffer and retry loop is sized from one of these. */
import { assert } from "../bft/assert.js";

/** Bytes one remote command line may hold (start-replica carries a JSON config). */
export const COMMAND_BYTES_MAX = 256 * 1024;
/** Bytes a `read` command returns; larger files are truncated. */
export const READ_BYTES_MAX = 64 * 1024;
/** Bytes one `net-send` diagnostic transfers at most. */
export const DIAG_SEND_BYTES_MAX = 256 * 1024 * 1024;
/** Diagnostic listeners open at once. */
export const DIAG_LISTENERS_MAX = 8;
/** Lines of a supervised process's output kept for `status`. */
export const PROCESS_LOG_LINES_MAX = 200;
/** Restarts of a crashed supervised process before the agent gives up. */
export const PROCESS_RESTARTS_MAX = 5;
export const PROCESS_RESTART_DELAY_MS = 500;
/** Grace between SIGTERM and SIGKILL when stopping a supervised process. */
export const PROCESS_STOP_GRACE_MS = 3000;
/** Concurrent SSH sessions. */
export const SSH_SESSIONS_MAX = 32;

assert(READ_BYTES_MAX < COMMAND_BYTES_MAX, "a read reply fits in what a command may carry");
assert(PROCESS_RESTART_DELAY_MS * PROCESS_RESTARTS_MAX < 60_000, "a crash loop gives up within a minute");
