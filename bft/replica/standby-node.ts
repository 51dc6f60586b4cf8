/**
 * A standby node's core (paper sections 3.1 and 3.2): registration with the active replicas
 * (StandbyRegistration), then, when it is chosen as a migration target, "collect 2f+1 consistent
 * MIGRATE-NOW messages ... obtain a stable checkpoint, apply it ... and participate as an active
 * replica". A pure state machine like the replica: `step(input, nowMs) -> effects`.
 *
 *   registered ─ 2f+1 MIGRATE-NOW(n, C, P ∋ us) ─▶ fetching (StateFetch from the designated
 *   sender first, then the other non-source replicas) ─ state matches C ─▶ promoted
 *
 * The fetched copy is checked against the certified digest C before anything uses it; a wrong
 * copy (a Byzantine designated sender) makes the fetch ask the next replica. On `promoted` the
 * host builds Replica.promoted(...) from the effect's verified state and sends MIGRATION-DONE.
 *
 * Keys (docs/migration.md, "Key exchange"): after registration (`startKeyExchange`) the node
 * exchanges signed keys with the node of every member (KeyExchangeTable), again with members
 * that NEW-MEMBERSHIP adds, and re-sends unanswered initiations on the `keyExchange` timer; a
 * restarted target (`rekey`) does so under a new coprocessor counter. FETCH-STATE, STATE-CHUNK and
 * MIGRATION-DONE need those keys. The table goes to the promoted replica with `promoted`.
 *
 * Membership: the node keeps the current replica id -> node map (starting from its config) and
 * updates it from f+1 matching NEW-MEMBERSHIPs of the current members (section 3.3), so it knows
 * whose keys sign MIGRATE-NOW and which replicas are sources. A crash loses everything here: a
 * restarted target starts afresh and is driven again by the MIGRATE-NOW the replicas retransmit.
 */
import type { Application } from "../apps/app.js";
import { assert, unreachable } from "../assert.js";
import { bytesEqual, hexOf } from "../bytes.js";
import type { KeyAgreement } from "../coprocessor/index.js";
import type {
  JoinApproved,
  MemberAddress,
  MembershipCertificate,
  Message,
  MigrateNow,
  MigrationPair,
  NewMembership,
  Principal,
} from "../messages.js";
import {
  CM_VOUCH_AFTER_MS,
  joinApprovedSignedBytes,
  type KeyExchangeEffect,
  KeyExchangeTable,
  membershipCertificateValid,
  migrateNowSignedBytes,
  newMembershipSignedBytes,
  type RosterEntry,
  type StandbyConfig,
  type StandbyEffect,
  type StandbyInput,
  StandbyRegistration,
  type StandbyTimerId,
} from "../migration/index.js";
import type { CoreDeps } from "./api.js";
import { ClientTable } from "./client-table.js";
import { quorumOf, replicaCountOf, weakQuorumOf } from "./quorum.js";
import { stateMatchesDigest } from "./state-encoding.js";
import { type FetchRequest, StateFetch } from "./state-transfer.js";

export interface StandbyNodeConfig {
  readonly registration: StandbyConfig;
  /** Every node with its coprocessor key. */
  readonly roster: readonly RosterEntry[];
  /** The membership the node starts with, by ascending replica id. */
  readonly members: readonly MemberAddress[];
  /**
   * Seq of the migration round `members` reflects (0: the deployment's). From the CM, which
   * admits the node with the membership of the rounds it applied: a MIGRATE-NOW of a round at or
   * below it that names this node for an id `members` gives to another node is stale.
   */
  readonly membershipSeq?: number;
  /** The CM replicas' public keys, for MEMBERSHIP-CERTIFICATE. */
  readonly cmPublicKeys: readonly Uint8Array[];
  /** A state source silent this long is replaced by the next one. */
  readonly fetchTimeoutMs: number;
}

export interface StandbyNodeDeps {
  /** Coprocessor signature (JOIN-REQUEST). */
  sign(bytes: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
  digest: CoreDeps["digest"];
  /** The application code (read-only memory): checks a fetched copy without installing it. */
  readonly app: Pick<Application, "snapshotDigest">;
  /** X25519 for KEY-EXCHANGE; absent: the host's wire uses derived keys only (no exchange). */
  readonly keyAgreement?: KeyAgreement | undefined;
}

export type StandbyNodeTimerId = StandbyTimerId | "fetch" | "keyExchange";

export type StandbyNodeInput =
  | Exclude<StandbyInput, { kind: "joinApproved" } | { kind: "timer" }>
  /**
   * The node restarted without memory while registered (a target that crashed mid-transfer):
   * exchange keys afresh under `counter`, a coprocessor counter the host just incremented.
   */
  | { readonly kind: "rekey"; readonly counter: number }
  /** A message whose sender the wire authenticated. */
  | { readonly kind: "message"; readonly from: Principal; readonly message: Message }
  | { readonly kind: "timer"; readonly timer: StandbyNodeTimerId };

export type StandbyNodeEffect =
  | Exclude<StandbyEffect, { kind: "setTimer" } | { kind: "cancelTimer" } | { kind: "startKeyExchange" }>
  /** Install (key) or remove (null) the session key with `nodeId` in the node's SessionKeyStore. */
  | { readonly kind: "peerKey"; readonly nodeId: number; readonly key: Uint8Array | null }
  | { readonly kind: "setTimer"; readonly timer: StandbyNodeTimerId; readonly afterMs: number }
  | { readonly kind: "cancelTimer"; readonly timer: StandbyNodeTimerId }
  | { readonly kind: "send"; readonly to: Principal; readonly message: Message }
  /** Replica ids moved to other nodes: the host updates its wire's membership. */
  | { readonly kind: "membershipChanged"; readonly members: readonly MemberAddress[] }
  /**
   * The verified migration checkpoint: the host runs Replica.promoted(config with replicaId,
   * deps, this) and then carries out the following MIGRATION-DONE broadcast as the node.
   */
  | {
      readonly kind: "promoted";
      readonly replicaId: number;
      readonly view: number;
      readonly seq: number;
      readonly stateDigest: Uint8Array;
      readonly stateBytes: Uint8Array;
      /** The node's key-exchange table, for Replica.promoted (the node keeps its keys). */
      readonly keyExchange: KeyExchangeTable | null;
    };

export interface StandbyNodeMetrics {
  /** JOIN-APPROVEDs whose signature is not the sender's node's (or that name another replica). */
  approvalsDropped: number;
  migrateNowDropped: number;
  membershipDropped: number;
  /** Memberships applied from a MEMBERSHIP-CERTIFICATE. */
  certificatesApplied: number;
  chunksIgnored: number;
  badCopies: number;
  fetchRotations: number;
}

interface Target {
  readonly replicaId: number;
  /** The view the promoted replica starts in (certifiedView); later MIGRATE-NOWs may raise it. */
  view: number;
  readonly migrateNow: MigrateNow;
  readonly fetch: StateFetch;
}

export class StandbyNode {
  readonly metrics: StandbyNodeMetrics = {
    approvalsDropped: 0,
    migrateNowDropped: 0,
    membershipDropped: 0,
    certificatesApplied: 0,
    chunksIgnored: 0,
    badCopies: 0,
    fetchRotations: 0,
  };
  readonly registration: StandbyRegistration;
  private readonly f: number;
  private readonly nodeId: number;
  private readonly roster = new Map<number, Uint8Array>();
  private members: MemberAddress[];
  private membershipSeq = 0;
  /** Latest MIGRATE-NOW per replica id: at most 3f+1. */
  private readonly migrateNows: (MigrateNow | undefined)[];
  private readonly memberships: (NewMembership | undefined)[];
  private target: Target | null = null;
  /** The newest valid MEMBERSHIP-CERTIFICATE naming this node (the CM's word on our round), and when it came. */
  private ourCertificate: { readonly message: MembershipCertificate; readonly atMs: number } | null = null;
  private done = false;
  private keys: KeyExchangeTable | null = null;

  constructor(
    private readonly config: StandbyNodeConfig,
    private readonly deps: StandbyNodeDeps,
  ) {
    this.registration = new StandbyRegistration(config.registration, deps);
    this.f = config.registration.f;
    this.nodeId = config.registration.nodeId;
    const replicaCount = replicaCountOf(this.f);
    assert(config.members.length === replicaCount, "a member per replica id");
    assert(config.fetchTimeoutMs > 0, "fetch timeout is positive");
    for (const entry of config.roster) this.roster.set(entry.nodeId, entry.publicKey);
    this.members = config.members.map((member) => ({ ...member }));
    this.membershipSeq = config.membershipSeq ?? 0;
    assert(Number.isSafeInteger(this.membershipSeq) && this.membershipSeq >= 0, "membership seq is a seq");
    this.migrateNows = new Array<MigrateNow | undefined>(replicaCount).fill(undefined);
    this.memberships = new Array<NewMembership | undefined>(replicaCount).fill(undefined);
  }

  get promoted(): boolean {
    return this.done;
  }

  get fetching(): { readonly seq: number; readonly source: number; readonly badCopies: number } | null {
    const target = this.target;
    return target === null
      ? null
      : { seq: target.fetch.seq, source: target.fetch.source, badCopies: target.fetch.badCopies };
  }

  get membership(): readonly MemberAddress[] {
    return this.members;
  }

  /** The key-exchange table once the node has started exchanging keys, for tests. */
  get keyExchange(): KeyExchangeTable | null {
    return this.keys;
  }

  step(input: StandbyNodeInput, nowMs: number): StandbyNodeEffect[] {
    assert(Number.isFinite(nowMs), "nowMs is finite");
    if (this.done) return [];
    switch (input.kind) {
      case "timer":
        if (input.timer === "fetch") return this.onFetchTimer();
        if (input.timer === "keyExchange") return this.maintainKeys();
        return this.fromRegistration(this.registration.step({ kind: "timer", timer: input.timer }, nowMs));
      case "message":
        return this.onMessage(input.from, input.message, nowMs);
      case "rekey":
        return this.startKeyExchange(input.counter);
      case "sanitized":
      case "counterIncremented":
      case "promoted":
        return this.fromRegistration(this.registration.step(input, nowMs));
      default:
        return unreachable(input, "standby input");
    }
  }

  /** Registration's effects, with its `startKeyExchange` carried out here. */
  private fromRegistration(effects: readonly StandbyEffect[]): StandbyNodeEffect[] {
    const out: StandbyNodeEffect[] = [];
    for (const effect of effects) {
      if (effect.kind !== "startKeyExchange") out.push(effect);
      // Approvals that complete registration after we started exchanging as a certified target
      // (keysForTarget) name the same counter: keep that table. A later l is a new registration.
      else if (this.keys === null || effect.counter > this.keys.counter)
        out.push(...this.startKeyExchange(effect.counter));
    }
    return out;
  }

  /** A new table under `counter` (the old one's keys died with a sanitization or crash). */
  private startKeyExchange(counter: number): StandbyNodeEffect[] {
    const keyAgreement = this.deps.keyAgreement;
    if (keyAgreement === undefined) return [];
    assert(this.keys === null || counter > this.keys.counter, "key exchange counters grow");
    this.keys = new KeyExchangeTable(
      { nodeId: this.nodeId, counter, roster: this.config.roster, replicaCount: this.members.length },
      { sign: (bytes) => this.deps.sign(bytes), verify: this.deps.verify, keyAgreement },
    );
    return this.maintainKeys();
  }

  /** Keys with every member's node; the timer re-sends initiations until all are answered. */
  private maintainKeys(): StandbyNodeEffect[] {
    const keys = this.keys;
    if (keys === null) return [];
    const peers = this.members.map((member) => ({
      nodeId: member.nodeId,
      to: { kind: "replica", id: member.replicaId } satisfies Principal,
    }));
    const effects = this.keyEffects(keys.maintain(peers, null));
    if (peers.some((peer) => peer.nodeId !== this.nodeId && !keys.hasKey(peer.nodeId)))
      effects.push({
        kind: "setTimer",
        timer: "keyExchange",
        afterMs: this.config.registration.retransmitIntervalMs,
      });
    return effects;
  }

  private keyEffects(effects: readonly KeyExchangeEffect[]): StandbyNodeEffect[] {
    return effects.map((effect) =>
      effect.kind === "send"
        ? { kind: "send", to: effect.to, message: effect.message }
        : { kind: "peerKey", nodeId: effect.nodeId, key: effect.key },
    );
  }

  private onMessage(from: Principal, message: Message, nowMs: number): StandbyNodeEffect[] {
    // From the CM or relayed by any replica: the CM's signature is all that is trusted.
    if (message.type === "MembershipCertificate") return this.onCertificate(message, nowMs);
    if (from.kind !== "replica" || from.id >= this.members.length) return [];
    switch (message.type) {
      case "JoinApproved":
        return this.onJoinApproved(from.id, message, nowMs);
      case "KeyExchange":
        return this.keys === null ? [] : this.keyEffects(this.keys.onMessage(from, message, null));
      case "MigrateNow":
        return this.onMigrateNow(message, nowMs);
      case "StateChunk":
        return this.onStateChunk(from.id, message);
      case "NewMembership":
        return this.onNewMembership(from.id, message);
      default:
        return [];
    }
  }

  /** Signed by the coprocessor of the node that runs replica `replicaId` in our membership view. */
  private signedBy(replicaId: number, bytes: Uint8Array, signature: Uint8Array): boolean {
    const member = this.members[replicaId];
    const key = member === undefined ? undefined : this.roster.get(member.nodeId);
    return key !== undefined && this.deps.verify(key, bytes, signature);
  }

  /** Section 3.1: counted toward the 2f+1 only when the sender's node signed it. */
  private onJoinApproved(from: number, message: JoinApproved, nowMs: number): StandbyNodeEffect[] {
    const { type: _type, signature, ...fields } = message;
    if (message.replicaId !== from || !this.signedBy(from, joinApprovedSignedBytes(fields), signature)) {
      this.metrics.approvalsDropped++;
      return [];
    }
    return this.fromRegistration(this.registration.step({ kind: "joinApproved", from, message }, nowMs));
  }

  /**
   * Sent by its signer, or relayed by another replica (a source's one-shot copy the target missed):
   * either way only the signature of the node that runs `message.replicaId` in our membership
   * counts, so 2f+1 still means 2f+1 distinct replicas (paper section 3.2). f+1 of them suffice
   * when the CM's MEMBERSHIP-CERTIFICATE vouches for the same round (`cmVouches`).
   */
  private onMigrateNow(message: MigrateNow, nowMs: number): StandbyNodeEffect[] {
    const { type: _type, signature, ...fields } = message;
    const signer = message.replicaId;
    const ours = message.pairs.find((pair) => pair.targetNodeId === this.nodeId);
    if (
      !Number.isInteger(signer) ||
      signer < 0 ||
      signer >= this.members.length ||
      ours === undefined ||
      !this.signedBy(signer, migrateNowSignedBytes(fields), signature)
    ) {
      this.metrics.migrateNowDropped++;
      return [];
    }
    if (this.staleRound(message.seq, ours)) {
      this.metrics.migrateNowDropped++;
      return [];
    }
    const target = this.target;
    if (target !== null && target.fetch.seq > message.seq) return [];
    const known = this.migrateNows[signer];
    if (known !== undefined && known.seq > message.seq) return []; // a stale relayed copy
    this.migrateNows[signer] = message;
    const matching = this.matchingVotes(message);
    if (
      matching.length < quorumOf(this.f) &&
      !(matching.length >= weakQuorumOf(this.f) && this.cmVouches(message, nowMs))
    )
      return [];
    return this.certified(message, ours, matching);
  }

  /** The MIGRATE-NOWs we hold that agree with `message` on n, C and P (its own included once held). */
  private matchingVotes(message: MigrateNow): MigrateNow[] {
    const key = migrateNowKey(message);
    return this.migrateNows.filter(
      (vote): vote is MigrateNow => vote !== undefined && migrateNowKey(vote) === key,
    );
  }

  /**
   * The CM's MEMBERSHIP-CERTIFICATE names the round `message` names: the same n and C, and every
   * pair's target node running its id. The paper's target waits for 2f+1 MIGRATE-NOWs, but of the
   * old membership's 3f+1 replicas f are the round's sources and f may be Byzantine and silent, so
   * only f+1 are sure to send one, and a source that had not executed the round when the others
   * moved its id to us can never catch up: they no longer answer its node, and the CM cuts it off
   * (migration soak seed 61137, f=1: r1 silent, source n3 one COMMIT short, target n4 with two
   * MIGRATE-NOWs for good, the id and so the service down). The CM is trusted and signs a round
   * only on f+1 matching MIGRATE-NOWs, one of them a correct replica's, and f+1 matching ones here
   * include a correct replica too: either alone certifies that a correct replica executed the
   * round at n with checkpoint digest C, which is what the 2f+1 stand for. Only once we have held
   * the certificate for CM_VOUCH_AFTER_MS: a target whose 2f+1 arrive is certified by them, on
   * the paper's path. (Starting on f+1 at once first made a 10-minute run, f=1 seed 4, stop after
   * 8 rounds; that was a superseded MIGRATION-REQUEST, MigrationRole.dropSupersededRequest, and
   * with it fixed both settings measure alike: docs/migration.md.)
   */
  private cmVouches(message: MigrateNow, nowMs: number): boolean {
    const held = this.ourCertificate;
    if (held === null || nowMs - held.atMs < CM_VOUCH_AFTER_MS) return false;
    const certificate = held.message;
    return (
      certificate.seq === message.seq &&
      bytesEqual(certificate.checkpointDigest, message.checkpointDigest) &&
      message.pairs.every((pair) => certificate.members[pair.replicaId]?.nodeId === pair.targetNodeId)
    );
  }

  /** `matching` (2f+1, or f+1 the CM vouches for) certify the round: fetch its state, or raise our view. */
  private certified(
    message: MigrateNow,
    ours: MigrationPair,
    matching: readonly MigrateNow[],
  ): StandbyNodeEffect[] {
    const key = migrateNowKey(message);
    const target = this.target;
    const view = certifiedView(matching, this.f);
    if (target !== null && target.fetch.seq === message.seq) {
      // Replicas that changed view since resend MIGRATE-NOW naming the new one: start there.
      if (migrateNowKey(target.migrateNow) === key && view > target.view) target.view = view;
      return [];
    }
    // Replicas executed the MIGRATION-REQUEST at n with checkpoint digest C: C is certified.
    const sources = new Set(message.pairs.map((pair) => pair.replicaId));
    const senders = [];
    for (let id = 0; id < this.members.length; id++) if (!sources.has(id)) senders.push(id);
    const fetch = new StateFetch({
      seq: message.seq,
      stateDigest: message.checkpointDigest,
      sources: senders, // ascending: the designated sender (lowest non-source id) first
      requesterId: ours.replicaId,
    });
    this.target = { replicaId: ours.replicaId, view, migrateNow: message, fetch };
    return [...this.keysForTarget(), ...this.sendFetch(fetch.request())];
  }

  /**
   * Chosen as a target before our registration completed: the replicas executed our JOIN (a round
   * picks its targets from the registered standbys) but 2f of their JOIN-APPROVEDs never reached
   * us, and once the round executed they refuse our JOIN-REQUEST (`nodeActive`) and approve no
   * more. Without keys FETCH-STATE cannot be MACed and the round's id stays without a replica for
   * good (migration CI seed 198: the approvals went into a partition; long run seed 4, f=1: round
   * l=3's target n1 had two approvals and four MIGRATE-NOWs). The 2f+1 MIGRATE-NOWs that
   * certified the round are signed by the nodes of 2f+1 replicas that executed it, as much as
   * 2f+1 JOIN-APPROVEDs would say, so we exchange keys under the counter of our JOIN-REQUEST, as
   * registration would have. Each side checks the other's roster signature, and replicas accept
   * an exchange from any roster node anyway: this grants nothing they would not.
   */
  private keysForTarget(): StandbyNodeEffect[] {
    if (this.keys !== null || this.target === null) return [];
    const phase = this.registration.phase;
    if (phase.phase !== "joining" && phase.phase !== "failed") return [];
    return this.startKeyExchange(phase.counter);
  }

  /**
   * A round at or below the membership we know whose id that membership gives to another node: a
   * later round moved the id on (e.g. an on-demand round replaced us while we were down), so
   * promoting now would run the id on two nodes, ours from an old checkpoint. Long runs hit this
   * when a target crashed mid-transfer came back to its round's retransmitted MIGRATE-NOWs after
   * the CM had the id migrated away; the node was later promoted again for another id.
   */
  private staleRound(seq: number, ours: MigrationPair): boolean {
    return seq <= this.membershipSeq && this.members[ours.replicaId]?.nodeId !== this.nodeId;
  }

  private sendFetch(request: FetchRequest): StandbyNodeEffect[] {
    return [
      { kind: "send", to: { kind: "replica", id: request.to }, message: request.message },
      { kind: "setTimer", timer: "fetch", afterMs: this.config.fetchTimeoutMs },
    ];
  }

  private onFetchTimer(): StandbyNodeEffect[] {
    if (this.target === null) return [];
    this.metrics.fetchRotations++;
    return [...this.keysForTarget(), ...this.sendFetch(this.target.fetch.rotate())];
  }

  private onStateChunk(from: number, chunk: Extract<Message, { type: "StateChunk" }>): StandbyNodeEffect[] {
    const target = this.target;
    if (target === null || chunk.replicaId !== from) {
      this.metrics.chunksIgnored++;
      return [];
    }
    const result = target.fetch.onChunk(from, chunk);
    if (result.kind === "ignored") {
      this.metrics.chunksIgnored++;
      return [];
    }
    if (result.kind === "next") return this.sendFetch(result.request);
    if (!this.verifiedCopy(result.bytes, target.fetch.stateDigest)) {
      this.metrics.badCopies++;
      return this.sendFetch(target.fetch.rejectCopy());
    }
    this.done = true;
    const effects: StandbyNodeEffect[] = [
      { kind: "cancelTimer", timer: "fetch" },
      { kind: "cancelTimer", timer: "keyExchange" },
    ];
    effects.push(...this.fromRegistration(this.registration.step({ kind: "promoted" }, 0)));
    effects.push(
      {
        kind: "promoted",
        replicaId: target.replicaId,
        view: target.view,
        seq: target.fetch.seq,
        stateDigest: target.fetch.stateDigest,
        stateBytes: result.bytes,
        keyExchange: this.keys,
      },
      ...Array.from(
        { length: this.members.length },
        (_, id): StandbyNodeEffect => ({
          kind: "send",
          to: { kind: "replica", id },
          message: {
            type: "MigrationDone",
            seq: target.fetch.seq,
            nodeId: this.nodeId,
            replicaId: target.replicaId,
          },
        }),
      ).filter((effect) => effect.kind === "send" && effect.to.id !== target.replicaId),
    );
    return effects;
  }

  /** The copy decodes, hashes to the certified C, and the app code confirms its app digest. */
  private verifiedCopy(bytes: Uint8Array, stateDigest: Uint8Array): boolean {
    const parts = stateMatchesDigest(bytes, stateDigest, this.deps);
    if (parts === null || ClientTable.decode(parts.clientTableBytes) === null) return false;
    const appDigest = this.deps.app.snapshotDigest(parts.appBytes);
    return appDigest !== undefined && bytesEqual(appDigest, parts.appDigest);
  }

  /**
   * A MEMBERSHIP-CERTIFICATE newer than our membership (docs/migration.md, "Membership
   * certificates"): needs none of the nodes we think run the ids, so a standby that missed every
   * NEW-MEMBERSHIP of a round in which all of them moved relearns the membership from it. One
   * that names this node is left alone: we are a target of that round, learn it from the
   * MIGRATE-NOWs (checked against the sources' nodes) and get the membership with the state
   * (applying it first lost the promotion in migration CI seeds 3, 22, 24 and 64).
   */
  private onCertificate(message: MembershipCertificate, nowMs: number): StandbyNodeEffect[] {
    if (
      message.seq <= this.membershipSeq ||
      !membershipCertificateValid(message, this.members.length, this.config.cmPublicKeys, this.deps.verify)
    ) {
      this.metrics.membershipDropped++;
      return [];
    }
    if (message.members.some((member) => member.nodeId === this.nodeId)) {
      // A copy of the certificate we hold keeps the time we first had it.
      const held = this.ourCertificate;
      const copy =
        held !== null &&
        held.message.seq === message.seq &&
        bytesEqual(held.message.checkpointDigest, message.checkpointDigest);
      if (!copy && message.seq >= (held?.message.seq ?? 0)) this.ourCertificate = { message, atMs: nowMs };
      return this.certifyHeldVotes(nowMs);
    }
    this.metrics.certificatesApplied++;
    return this.applyMembership(message.seq, message.members);
  }

  /** After a certificate naming us arrives: f+1 MIGRATE-NOWs we hold may now certify its round. */
  private certifyHeldVotes(nowMs: number): StandbyNodeEffect[] {
    if (this.target !== null) return [];
    for (const vote of this.migrateNows) {
      if (vote === undefined || !this.cmVouches(vote, nowMs)) continue;
      const ours = vote.pairs.find((pair) => pair.targetNodeId === this.nodeId);
      if (ours === undefined || this.staleRound(vote.seq, ours)) continue;
      const matching = this.matchingVotes(vote);
      if (matching.length >= weakQuorumOf(this.f)) return this.certified(vote, ours, matching);
    }
    return [];
  }

  private applyMembership(seq: number, members: readonly MemberAddress[]): StandbyNodeEffect[] {
    this.membershipSeq = seq;
    this.members = members.map((member) => ({ ...member }));
    this.memberships.fill(undefined);
    // New members' nodes need keys before this node can fetch state from them.
    return [{ kind: "membershipChanged", members: this.members }, ...this.maintainKeys()];
  }

  /** Section 3.3: f+1 matching NEW-MEMBERSHIPs from current members move replica ids to new nodes. */
  private onNewMembership(from: number, message: NewMembership): StandbyNodeEffect[] {
    const { type: _type, signature, ...fields } = message;
    if (
      message.replicaId !== from ||
      message.seq <= this.membershipSeq ||
      message.members.length !== this.members.length ||
      !this.signedBy(from, newMembershipSignedBytes(fields), signature)
    ) {
      this.metrics.membershipDropped++;
      return [];
    }
    this.memberships[from] = message;
    const key = membershipKey(message);
    const matching = this.memberships.filter(
      (vote) => vote !== undefined && membershipKey(vote) === key,
    ).length;
    if (matching < weakQuorumOf(this.f)) return [];
    return this.applyMembership(message.seq, message.members);
  }
}

/**
 * The view a promoted target starts in, from 2f+1 or more MIGRATE-NOWs that agree on n, C and P:
 * the (f+1)-th highest view they name. Each sender names the view it was in (replicas that
 * executed in different views, or resent after a view change, differ); f+1 of them name this view
 * or a higher one and f+1 this one or a lower one, so a correct replica stands on each side and f
 * Byzantine senders can neither push the target into a view nobody reached nor hold it back. From
 * f+1 that the CM vouches for it is the lowest they name: still no higher than a correct
 * replica's, but f Byzantine senders can hold the target back, and it then catches up on views as
 * any replica that fell behind does.
 */
function certifiedView(matching: readonly MigrateNow[], f: number): number {
  const views = matching.map((vote) => vote.view).sort((a, b) => b - a);
  const view = views[f];
  assert(view !== undefined, "a quorum names at least f+1 views");
  return view;
}

function migrateNowKey(message: MigrateNow): string {
  const pairs = message.pairs.map((p) => `${p.replicaId}:${p.sourceNodeId}>${p.targetNodeId}`).join(",");
  return `${message.seq}|${hexOf(message.checkpointDigest)}|${pairs}`;
}

export function membershipKey(message: NewMembership): string {
  const pairs = message.pairs.map((p) => `${p.replicaId}:${p.sourceNodeId}>${p.targetNodeId}`).join(",");
  const members = message.members.map((m) => `${m.replicaId}:${m.nodeId}@${m.address}`).join(",");
  return `${message.seq}|${pairs}|${members}`;
}
