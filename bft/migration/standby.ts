/**
 * A standby node's registration with the active replicas (paper section 3.1, Figure 2), as a
 * pure state machine: `step(input, nowMs) -> effects`. The host carries out the effects and feeds
 * results back as inputs; nothing here does I/O, reads a clock or draws randomness.
 *
 *   sanitized ─▶ incrementCounter ─▶ counterIncremented(l) ─▶ JOIN-REQUEST(l) to all replicas
 *     ─▶ 2f+1 JOIN-APPROVED with the same l and n_r from distinct replicas ─▶ registered
 *     ─▶ key exchange with every active replica.
 *
 * Each sanitization restarts registration with a higher l (the coprocessor counter only grows),
 * which is what lets replicas reject stale or replayed JOIN-REQUESTs. The JOIN-REQUEST is
 * retransmitted on a timer until registration completes, JOIN_RETRANSMIT_COUNT_MAX times at most.
 *
 * JOIN-APPROVED arrives before any MAC key is shared, so the host must check the replica's
 * signature (or authenticator) and pass the authenticated replica id as `from`.
 */
import { assert, unreachable } from "../assert.js";
import { PUBLIC_KEY_BYTES } from "../coprocessor/index.js";
import { FAULTS_MAX } from "../limits.js";
import type { JoinApproved, JoinRequest } from "../messages.js";
import { MigrationConfigError, requireIntegerInRange, requirePositiveFinite } from "./errors.js";
import { ADDRESS_CHARS_MAX, JOIN_RETRANSMIT_COUNT_MAX, NODES_MAX } from "./limits.js";
import { joinRequestSignedBytes } from "./signing.js";

export interface StandbyConfig {
  readonly nodeId: number;
  readonly f: number;
  /** This node's NIC2 address, sent in JOIN-REQUEST. */
  readonly address: string;
  /** This node's coprocessor public key (raw Ed25519). */
  readonly publicKey: Uint8Array;
  /** Period between JOIN-REQUEST retransmissions while registering. */
  readonly retransmitIntervalMs: number;
}

/** Deterministic helpers: the coprocessor's signing (synchronous). */
export interface StandbyDeps {
  sign(bytes: Uint8Array): Uint8Array;
}

export type StandbyTimerId = "joinRetransmit";

export type StandbyInput =
  /** The CM reports a finished sanitization (and admission): register afresh. */
  | { readonly kind: "sanitized" }
  /** Result of an `incrementCounter` effect: the coprocessor's new counter value. */
  | { readonly kind: "counterIncremented"; readonly counter: number }
  /** A JOIN-APPROVED whose sender the host authenticated as replica `from`. */
  | { readonly kind: "joinApproved"; readonly from: number; readonly message: JoinApproved }
  | { readonly kind: "timer"; readonly timer: StandbyTimerId }
  /** The node was promoted to run an active replica: registration is over. */
  | { readonly kind: "promoted" };

/**
 * Effects, carried out in array order. Rules: `incrementCounter` completes (durably) before its
 * result is fed back; `broadcast` precedes the `setTimer` that retransmits it; `registered`
 * precedes `startKeyExchange`; `cancelTimer` comes before anything that starts a new attempt.
 */
export type StandbyEffect =
  /** Ask the coprocessor to bump its counter; the result returns as `counterIncremented`. */
  | { readonly kind: "incrementCounter" }
  /** Send to every active replica over NIC2. */
  | { readonly kind: "broadcast"; readonly message: JoinRequest }
  | { readonly kind: "setTimer"; readonly timer: StandbyTimerId; readonly afterMs: number }
  | { readonly kind: "cancelTimer"; readonly timer: StandbyTimerId }
  /** Registration complete with 2f+1 approvals for (l, n_r); the host tells the CM. */
  | { readonly kind: "registered"; readonly counter: number; readonly seq: number; readonly atMs: number }
  /** Start the signed key exchange with every active replica (section 3.1, last step). */
  | { readonly kind: "startKeyExchange"; readonly counter: number }
  /** Retransmissions exhausted; the host tells the CM, which will sanitize and retry. */
  | {
      readonly kind: "registrationFailed";
      readonly counter: number;
      readonly reason: "retransmitsExhausted";
    };

export type StandbyPhase =
  | { readonly phase: "idle" }
  | { readonly phase: "awaitingCounter" }
  | { readonly phase: "joining"; readonly counter: number; readonly retransmitCount: number }
  | { readonly phase: "registered"; readonly counter: number; readonly seq: number }
  | { readonly phase: "failed"; readonly counter: number }
  | { readonly phase: "promoted" };

/** Peer input dropped, by reason (Byzantine replicas or late messages; never an assertion). */
export interface StandbyDropCounts {
  staleApproval: number;
  misaddressedApproval: number;
  conflictingApproval: number;
  unexpectedApproval: number;
}

export function validateStandbyConfig(config: StandbyConfig): StandbyConfig {
  requireIntegerInRange("nodeId", config.nodeId, 0, NODES_MAX - 1);
  requireIntegerInRange("f", config.f, 1, FAULTS_MAX);
  requirePositiveFinite("retransmitIntervalMs", config.retransmitIntervalMs, "ms");
  if (config.address.length === 0 || config.address.length > ADDRESS_CHARS_MAX) {
    throw new MigrationConfigError(
      `address must be 1..${ADDRESS_CHARS_MAX} characters, got ${config.address.length}`,
      "set the node's NIC2 address as host:port",
    );
  }
  if (config.publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new MigrationConfigError(
      `publicKey must be ${PUBLIC_KEY_BYTES} bytes, got ${config.publicKey.length}`,
      "pass the coprocessor's publicKey()",
    );
  }
  return config;
}

export class StandbyRegistration {
  readonly config: StandbyConfig;
  readonly drops: StandbyDropCounts = {
    staleApproval: 0,
    misaddressedApproval: 0,
    conflictingApproval: 0,
    unexpectedApproval: 0,
  };
  readonly #deps: StandbyDeps;
  #phase: StandbyPhase = { phase: "idle" };
  /** Highest counter the coprocessor has reported to this instance. */
  #lastCounter: number | null = null;
  #request: JoinRequest | null = null;
  /** replica id -> n_r it approved for the current l; at most 3f+1 entries. */
  readonly #approvals = new Map<number, number>();

  constructor(config: StandbyConfig, deps: StandbyDeps) {
    this.config = validateStandbyConfig(config);
    this.#deps = deps;
  }

  get phase(): StandbyPhase {
    return this.#phase;
  }

  step(input: StandbyInput, nowMs: number): StandbyEffect[] {
    assert(Number.isFinite(nowMs), "nowMs is finite");
    switch (input.kind) {
      case "sanitized":
        return this.#onSanitized();
      case "counterIncremented":
        return this.#onCounterIncremented(input.counter);
      case "joinApproved":
        return this.#onJoinApproved(input.from, input.message, nowMs);
      case "timer":
        return this.#onRetransmitTimer();
      case "promoted":
        return this.#onPromoted();
      default:
        return unreachable(input);
    }
  }

  #onSanitized(): StandbyEffect[] {
    if (this.#phase.phase === "promoted") return [];
    const effects: StandbyEffect[] = [];
    if (this.#phase.phase === "joining") effects.push({ kind: "cancelTimer", timer: "joinRetransmit" });
    this.#resetAttempt();
    this.#phase = { phase: "awaitingCounter" };
    effects.push({ kind: "incrementCounter" });
    return effects;
  }

  #onCounterIncremented(counter: number): StandbyEffect[] {
    // The coprocessor is ours and trusted: a counter that does not grow is a bug, not an attack.
    assert(Number.isSafeInteger(counter) && counter > 0, "coprocessor counter is a positive integer");
    assert(this.#lastCounter === null || counter > this.#lastCounter, "coprocessor counter strictly grows");
    this.#lastCounter = counter;
    if (this.#phase.phase === "promoted") return [];
    const effects: StandbyEffect[] = [];
    if (this.#phase.phase === "joining") effects.push({ kind: "cancelTimer", timer: "joinRetransmit" });
    this.#resetAttempt();
    const fields = {
      counter,
      nodeId: this.config.nodeId,
      publicKey: this.config.publicKey,
      address: this.config.address,
    };
    const signature = this.#deps.sign(joinRequestSignedBytes(fields));
    this.#request = { type: "JoinRequest", ...fields, signature };
    this.#phase = { phase: "joining", counter, retransmitCount: 0 };
    effects.push(
      { kind: "broadcast", message: this.#request },
      { kind: "setTimer", timer: "joinRetransmit", afterMs: this.config.retransmitIntervalMs },
    );
    return effects;
  }

  #onJoinApproved(from: number, message: JoinApproved, nowMs: number): StandbyEffect[] {
    const phase = this.#phase;
    if (phase.phase !== "joining") {
      this.drops.unexpectedApproval += 1;
      return [];
    }
    const replicaCount = 3 * this.config.f + 1;
    if (
      message.nodeId !== this.config.nodeId ||
      message.replicaId !== from ||
      !Number.isSafeInteger(from) ||
      from < 0 ||
      from >= replicaCount ||
      !Number.isSafeInteger(message.seq) ||
      message.seq < 0
    ) {
      this.drops.misaddressedApproval += 1;
      return [];
    }
    if (message.counter !== phase.counter) {
      this.drops.staleApproval += 1;
      return [];
    }
    const previous = this.#approvals.get(from);
    if (previous !== undefined) {
      // A correct replica orders one JOIN-REQUEST per l; keep its first n_r, count any other.
      if (previous !== message.seq) this.drops.conflictingApproval += 1;
      return [];
    }
    this.#approvals.set(from, message.seq);
    assert(this.#approvals.size <= replicaCount, "one approval per replica");
    const quorum = 2 * this.config.f + 1;
    const matching = [...this.#approvals.values()].filter((seq) => seq === message.seq).length;
    if (matching < quorum) return [];
    this.#phase = { phase: "registered", counter: phase.counter, seq: message.seq };
    return [
      { kind: "cancelTimer", timer: "joinRetransmit" },
      { kind: "registered", counter: phase.counter, seq: message.seq, atMs: nowMs },
      { kind: "startKeyExchange", counter: phase.counter },
    ];
  }

  #onRetransmitTimer(): StandbyEffect[] {
    const phase = this.#phase;
    if (phase.phase !== "joining") return [];
    assert(this.#request !== null && this.#request.counter === phase.counter, "joining has its request");
    if (phase.retransmitCount >= JOIN_RETRANSMIT_COUNT_MAX) {
      this.#phase = { phase: "failed", counter: phase.counter };
      return [{ kind: "registrationFailed", counter: phase.counter, reason: "retransmitsExhausted" }];
    }
    this.#phase = { ...phase, retransmitCount: phase.retransmitCount + 1 };
    return [
      { kind: "broadcast", message: this.#request },
      { kind: "setTimer", timer: "joinRetransmit", afterMs: this.config.retransmitIntervalMs },
    ];
  }

  #onPromoted(): StandbyEffect[] {
    const effects: StandbyEffect[] =
      this.#phase.phase === "joining" ? [{ kind: "cancelTimer", timer: "joinRetransmit" }] : [];
    this.#resetAttempt();
    this.#phase = { phase: "promoted" };
    return effects;
  }

  #resetAttempt(): void {
    this.#approvals.clear();
    this.#request = null;
  }
}
