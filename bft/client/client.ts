/**
 * The PBFT client as a pure state machine (PBFT section 4.1, TOCS 2002).
 *
 * One request is outstanding at a time (closed loop, as the paper's benchmark clients). The request
 * goes to the primary of the last view the client heard of; when no result arrives within the
 * retransmission timeout it is multicast to every replica, and the timeout doubles (bounded) so a
 * view change has time to finish. A result is accepted after f+1 replies with the same timestamp and
 * the same result from distinct replicas: at least one of them is correct, so the result is the one
 * the correct replicas computed.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { OPERATION_BYTES_MAX, RETRY_COUNT_MAX } from "../limits.js";
import type {
  MemberAddress,
  MembershipCertificate,
  Message,
  NewMembership,
  Principal,
  Request,
} from "../messages.js";
import { membershipCertificateValid, type Verify } from "../migration/membership-certificate.js";

/** Unanswered retransmissions after which a held MEMBERSHIP-CERTIFICATE is applied. */
export const CERTIFICATE_RETRIES = 2;

export interface ClientConfig {
  readonly clientId: number;
  readonly f: number;
  /** First retransmission timeout; doubles on each retransmission up to retransmitTimeoutMsMax. */
  readonly retransmitTimeoutMs: number;
  readonly retransmitTimeoutMsMax: number;
}

export interface ClientDeps {
  /** One MAC per replica over the request digest (bft/wire). */
  authenticateRequest(request: Omit<Request, "auth">): Uint8Array;
  /**
   * With migration: the CM's public keys (those replicas check LEAVE-REQUEST and ON-DEMAND with)
   * and Ed25519 verification, for MEMBERSHIP-CERTIFICATE. Absent: certificates are dropped.
   */
  readonly membershipCertificates?: { readonly cmPublicKeys: readonly Uint8Array[]; readonly verify: Verify };
}

export type ClientTimerId = "retransmit";

export type ClientInput =
  | { readonly kind: "message"; readonly from: Principal; readonly message: Message }
  | { readonly kind: "timer"; readonly timer: ClientTimerId };

export type ClientEffect =
  | { readonly kind: "send"; readonly to: Principal; readonly message: Request }
  /** To every replica. */
  | { readonly kind: "broadcast"; readonly message: Request }
  | { readonly kind: "setTimer"; readonly timer: ClientTimerId; readonly afterMs: number }
  | { readonly kind: "cancelTimer"; readonly timer: ClientTimerId }
  /** History record: the client accepted `result` for the request with `timestamp`. */
  | {
      readonly kind: "completed";
      readonly clientId: number;
      readonly timestamp: number;
      readonly operation: Uint8Array;
      readonly result: Uint8Array;
      readonly latencyMs: number;
    }
  /** The request was retransmitted RETRY_COUNT_MAX times without a result; the client gave up on it. */
  | { readonly kind: "abandoned"; readonly clientId: number; readonly timestamp: number }
  /**
   * f+1 replicas of the old membership sent the same NEW-MEMBERSHIP (paper section 3.3): the host
   * points its wire (Wire.setMember) and transport at the new nodes before the next send.
   */
  | {
      readonly kind: "membershipChanged";
      readonly seq: number;
      readonly members: readonly MemberAddress[];
    };

export interface ClientMetrics {
  completed: number;
  retransmissions: number;
  abandoned: number;
  repliesDropped: number;
  membershipsApplied: number;
  /** Memberships applied from a MEMBERSHIP-CERTIFICATE (also counted in membershipsApplied). */
  certificatesApplied: number;
}

interface Outstanding {
  /** Re-authenticated after a membership change (MAC keys are per node). */
  request: Request;
  /** A NEW-MEMBERSHIP was applied since the request was authenticated. */
  membershipChanged: boolean;
  readonly sentAtMs: number;
  /** Replies by replica id for this request; a replica's later reply replaces its earlier one. */
  readonly replies: (Uint8Array | undefined)[];
  retransmitTimeoutMs: number;
  retryCount: number;
}

export function defaultClientConfig(clientId: number, f: number): ClientConfig {
  return { clientId, f, retransmitTimeoutMs: 500, retransmitTimeoutMsMax: 8000 };
}

export function validateClientConfig(config: ClientConfig): ClientConfig {
  const { clientId, f, retransmitTimeoutMs, retransmitTimeoutMsMax } = config;
  if (!Number.isSafeInteger(clientId) || clientId < 0)
    throw new Error(`clientId must be a non-negative integer, got ${clientId}`);
  if (!Number.isInteger(f) || f < 1 || f > 3) throw new Error(`f must be 1, 2 or 3, got ${f}`);
  if (!(retransmitTimeoutMs > 0))
    throw new Error(`retransmitTimeoutMs must be positive, got ${retransmitTimeoutMs}`);
  if (!(retransmitTimeoutMsMax >= retransmitTimeoutMs)) {
    throw new Error(
      `retransmitTimeoutMsMax (${retransmitTimeoutMsMax}) must be >= retransmitTimeoutMs (${retransmitTimeoutMs})`,
    );
  }
  return config;
}

export class Client {
  readonly metrics: ClientMetrics = {
    completed: 0,
    retransmissions: 0,
    abandoned: 0,
    repliesDropped: 0,
    membershipsApplied: 0,
    certificatesApplied: 0,
  };
  /** Seq of the last migration applied; NEW-MEMBERSHIPs at or below it are stale. */
  private membershipSeq = 0;
  /** Latest NEW-MEMBERSHIP key per replica id of the current membership: at most 3f+1. */
  private readonly membershipVotes = new Map<number, { key: string; message: NewMembership }>();
  private readonly n: number;
  /** The newest valid MEMBERSHIP-CERTIFICATE not applied yet (see applyCertificate). */
  private certificate: MembershipCertificate | null = null;
  /** Last view a reply named; the client sends to its primary. */
  private view = 0;
  private lastTimestamp = 0;
  private outstanding: Outstanding | undefined;

  constructor(
    private readonly config: ClientConfig,
    private readonly deps: ClientDeps,
  ) {
    validateClientConfig(config);
    this.n = 3 * config.f + 1;
  }

  get busy(): boolean {
    return this.outstanding !== undefined;
  }

  get clientId(): number {
    return this.config.clientId;
  }

  /** Primary of the view the client last heard of. */
  get primary(): number {
    return this.view % this.n;
  }

  submit(operation: Uint8Array, nowMs: number): ClientEffect[] {
    assert(this.outstanding === undefined, "one request outstanding at a time");
    assert(operation.length <= OPERATION_BYTES_MAX, "operation within OPERATION_BYTES_MAX");
    this.lastTimestamp += 1;
    const body = {
      type: "Request" as const,
      clientId: this.config.clientId,
      timestamp: this.lastTimestamp,
      operation,
    };
    const request: Request = { ...body, auth: this.deps.authenticateRequest(body) };
    this.outstanding = {
      request,
      membershipChanged: false,
      sentAtMs: nowMs,
      replies: new Array<Uint8Array | undefined>(this.n),
      retransmitTimeoutMs: this.config.retransmitTimeoutMs,
      retryCount: 0,
    };
    return [
      { kind: "send", to: { kind: "replica", id: this.primary }, message: request },
      { kind: "setTimer", timer: "retransmit", afterMs: this.config.retransmitTimeoutMs },
    ];
  }

  /**
   * Whether a message could still change anything, asked before its MAC is checked (Wire.open's
   * `wanted`): a reply is useless unless it answers the outstanding request, and the client needs
   * only f+1 of the n replies, so the rest skip their MAC check. Pure: nothing here is
   * authenticated yet.
   */
  wants(from: Principal, message: Message): boolean {
    if (message.type !== "Reply") return true;
    const outstanding = this.outstanding;
    return (
      outstanding !== undefined &&
      from.kind === "replica" &&
      message.timestamp === outstanding.request.timestamp &&
      message.clientId === this.config.clientId
    );
  }

  step(input: ClientInput, nowMs: number): ClientEffect[] {
    if (input.kind === "timer") return this.onRetransmitTimer();
    if (input.from.kind === "replica" && input.message.type === "NewMembership") {
      return this.onNewMembership(input.from.id, input.message);
    }
    if (input.message.type === "MembershipCertificate") return this.onCertificate(input.message);
    if (input.from.kind !== "replica" || input.message.type !== "Reply") {
      this.metrics.repliesDropped += 1;
      return [];
    }
    return this.onReply(input.from.id, input.message, nowMs);
  }

  private onReply(from: number, reply: Extract<Message, { type: "Reply" }>, nowMs: number): ClientEffect[] {
    const outstanding = this.outstanding;
    const valid =
      outstanding !== undefined &&
      from < this.n &&
      reply.replicaId === from &&
      reply.clientId === this.config.clientId &&
      reply.timestamp === outstanding.request.timestamp;
    if (!valid) {
      this.metrics.repliesDropped += 1;
      return [];
    }
    outstanding.replies[from] = reply.result;
    // Track the newest view any replica reports; a lying replica can only misdirect the next first
    // send, which the retransmission to all replicas repairs.
    if (reply.view > this.view) this.view = reply.view;
    const matching = countMatching(outstanding.replies, reply.result);
    if (matching < this.config.f + 1) return [];
    this.outstanding = undefined;
    this.metrics.completed += 1;
    return [
      { kind: "cancelTimer", timer: "retransmit" },
      {
        kind: "completed",
        clientId: this.config.clientId,
        timestamp: outstanding.request.timestamp,
        operation: outstanding.request.operation,
        result: reply.result,
        latencyMs: nowMs - outstanding.sentAtMs,
      },
    ];
  }

  /**
   * Section 3.3. The wire authenticated the sender as the node that runs replica `from` in our
   * current membership, so f+1 matching notices from distinct ids include one correct old member;
   * notices from a retired node fail the wire's MAC check once the membership moved on.
   */
  private onNewMembership(from: number, message: NewMembership): ClientEffect[] {
    if (
      from >= this.n ||
      message.replicaId !== from ||
      message.seq <= this.membershipSeq ||
      message.members.length !== this.n
    ) {
      this.metrics.repliesDropped += 1;
      return [];
    }
    const key = `${message.seq}|${message.members.map((m) => `${m.replicaId}:${m.nodeId}@${m.address}`).join(",")}`;
    this.membershipVotes.set(from, { key, message });
    assert(this.membershipVotes.size <= this.n, "one membership vote per replica");
    let matching = 0;
    for (const vote of this.membershipVotes.values()) if (vote.key === key) matching += 1;
    if (matching < this.config.f + 1) return [];
    if (message.view > this.view) this.view = message.view;
    return this.applyMembership(message.seq, message.members);
  }

  /**
   * A MEMBERSHIP-CERTIFICATE (docs/migration.md, "Membership certificates"): the CM's signature is
   * the whole trust, so it needs none of our (possibly stale) MAC keys and the relaying sender does
   * not matter. Applied when newer than the membership we hold.
   */
  private onCertificate(message: MembershipCertificate): ClientEffect[] {
    const check = this.deps.membershipCertificates;
    if (
      check === undefined ||
      message.seq <= Math.max(this.membershipSeq, this.certificate?.seq ?? 0) ||
      !membershipCertificateValid(message, this.n, check.cmPublicKeys, check.verify)
    ) {
      this.metrics.repliesDropped += 1;
      return [];
    }
    this.certificate = message;
    const outstanding = this.outstanding;
    if (outstanding === undefined || outstanding.retryCount < CERTIFICATE_RETRIES) return [];
    return this.applyCertificate();
  }

  /**
   * The held certificate, once the outstanding request went unanswered CERTIFICATE_RETRIES times:
   * the fallback for a client the NEW-MEMBERSHIP notices cannot reach. Applied at once it moved
   * clients to a round's targets as soon as the CM heard of the round, before f+1 replicas
   * announced it, and cost liveness in migration CI seeds 37, 107 and 141.
   */
  private applyCertificate(): ClientEffect[] {
    const certificate = this.certificate;
    this.certificate = null;
    if (certificate === null || certificate.seq <= this.membershipSeq) return [];
    this.metrics.certificatesApplied += 1;
    return this.applyMembership(certificate.seq, certificate.members);
  }

  private applyMembership(seq: number, members: readonly MemberAddress[]): ClientEffect[] {
    this.membershipSeq = seq;
    this.membershipVotes.clear();
    this.metrics.membershipsApplied += 1;
    const effects: ClientEffect[] = [{ kind: "membershipChanged", seq, members }];
    const outstanding = this.outstanding;
    if (outstanding !== undefined) {
      // Resend soon, re-authenticated (the retransmission timer fires after the host re-keyed its
      // wire), and from the first timeout again: the earlier sends went to nodes that no longer
      // run the migrated ids, and after a long backoff a client misses the next rounds' notices
      // too and can no longer authenticate f+1 of the replicas at all (migration seed 5).
      outstanding.membershipChanged = true;
      outstanding.retransmitTimeoutMs = this.config.retransmitTimeoutMs / 2;
      effects.push({ kind: "setTimer", timer: "retransmit", afterMs: 0 });
    }
    return effects;
  }

  private onRetransmitTimer(): ClientEffect[] {
    const outstanding = this.outstanding;
    if (outstanding === undefined) return [];
    outstanding.retryCount += 1;
    if (outstanding.retryCount > RETRY_COUNT_MAX) {
      this.outstanding = undefined;
      this.metrics.abandoned += 1;
      return [
        { kind: "abandoned", clientId: this.config.clientId, timestamp: outstanding.request.timestamp },
      ];
    }
    if (outstanding.retryCount >= CERTIFICATE_RETRIES && (this.certificate?.seq ?? 0) > this.membershipSeq)
      return this.applyCertificate();
    this.metrics.retransmissions += 1;
    if (outstanding.membershipChanged) {
      // The host has re-keyed its wire since (membershipChanged effect): the old authenticator's
      // entries for migrated replicas would fail at their new nodes forever.
      const { auth: _auth, ...body } = outstanding.request;
      outstanding.request = { ...body, auth: this.deps.authenticateRequest(body) };
      outstanding.membershipChanged = false;
    }
    outstanding.retransmitTimeoutMs = Math.min(
      outstanding.retransmitTimeoutMs * 2,
      this.config.retransmitTimeoutMsMax,
    );
    return [
      { kind: "broadcast", message: outstanding.request },
      { kind: "setTimer", timer: "retransmit", afterMs: outstanding.retransmitTimeoutMs },
    ];
  }
}

function countMatching(replies: readonly (Uint8Array | undefined)[], result: Uint8Array): number {
  let count = 0;
  for (const candidate of replies) if (candidate !== undefined && bytesEqual(candidate, result)) count += 1;
  return count;
}
