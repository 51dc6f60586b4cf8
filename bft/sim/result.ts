/** What one simulation run yields: its verdict, counts, and the recorded history it was checked on. */
import type { CheckReport, History } from "../checker/index.js";
import type { FaultPlan } from "./fault-plan.js";
import type { SimulationOptions } from "./options.js";

export interface SimulationFailure {
  /** violation: the checker rejected the history. exception: a core or the simulator threw. */
  readonly kind: "violation" | "exception";
  readonly message: string;
  readonly stack?: string;
  /** Simulated time of the failure (exceptions) or of the end of the run (violations). */
  readonly atMs: number;
}

export interface SimulationResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly options: SimulationOptions;
  readonly plan: FaultPlan;
  readonly failure: SimulationFailure | undefined;
  readonly report: CheckReport;
  readonly simulatedMs: number;
  readonly wallMs: number;
  readonly requestsCompleted: number;
  readonly requestsAbandoned: number;
  /** Completed requests per simulated second of client load (durationMs). */
  readonly throughputPerSecond: number;
  /** Highest view a correct replica entered: the number of view changes the cluster went through. */
  readonly viewMax: number;
  /** Checkpoints installed by state transfer on correct replicas. */
  readonly stateTransfers: number;
  readonly crashes: number;
  readonly framesSent: number;
  readonly framesDelivered: number;
  /** Frames lost, by reason: network reasons, and `wire:<reason>` for frames Wire.open rejected. */
  readonly dropped: Readonly<Record<string, number>>;
  readonly eventsProcessed: number;
  /** SHA-256 of the history's JSON: equal for equal seeds and options. */
  readonly historyDigest: string;
  readonly history: History;
}
