/**
 * V8 heap flags for every Node process that runs replicas or clients over TCP: the replica
 * processes a benchmark or a node agent starts, and the benchmarks' own processes. Heap sizing is
 * fixed when a process starts, so these go on node's command line (NODE_OPTIONS does not take them).
 *
 * Why: under V8's own heuristics a replica's heap stays small (15-20 MB) and the old generation's
 * limit is set just above what survived the last full collection, so the log's batches that
 * scavenges promote reach it again within a second. At 0 ms of execution and 8 clients a replica
 * ran a full mark-compact about every 0.6 s, with incremental marking (and its write barriers)
 * active most of the time, and hardly any scavenges. A fixed growing factor of 4 (the limit after a
 * full collection is four times what is live) leaves that work to scavenges; bench:local's CPU per
 * request at 0 ms fell by a sixth to a third (docs/protocol.md, Performance notes, seventh round).
 * The cost is memory: a heap up to four times its live size between full collections.
 */
export const HOST_NODE_FLAGS: readonly string[] = ["--heap-growing-percent=300"];

/** HOST_NODE_FLAGS that the running process was not started with. */
export function missingHostNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return HOST_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
