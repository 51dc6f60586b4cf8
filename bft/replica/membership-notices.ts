/**
 * Telling clients and standbys about a new membership (paper section 3.3), part of the migration
 * role (migration-role.ts): our signed NEW-MEMBERSHIP notice after each round we execute, sent at
 * once to the standbys and to the clients we know, again to a client whose request shows it may
 * have missed it; and the CM's MEMBERSHIP-CERTIFICATE (docs/migration.md, "Membership
 * certificates"), kept when newer and pushed to clients and standbys with a stale membership.
 * Every per-client table is bounded by CLIENTS_MAX.
 *
 * Without migration settings nothing reaches it: no round executes and no certificate is taken.
 */
import { CLIENTS_MAX } from "../limits.js";
import type { MembershipCertificate, MigrationPair, NewMembership, Principal } from "../messages.js";
import { membershipCertificateValid, newMembershipSignedBytes } from "../migration/index.js";
import type { MigrationSettings } from "./api.js";
import type { Middleware } from "./middleware.js";
import type { ReplicaCore } from "./replica-core.js";

export class MembershipNotices {
  private readonly core: ReplicaCore;
  private readonly settings: MigrationSettings | null;
  private readonly middleware: Middleware | null;
  /** The NEW-MEMBERSHIP this replica sends lazily (only replicas that were members before the migration). */
  private membershipNotice: NewMembership | null = null;
  private readonly notifiedClients = new Set<number>();
  /** When we last re-sent the membership notice to a client (renotifyClient): at most CLIENTS_MAX. */
  private readonly noticeResentAtMs = new Map<number, number>();
  /**
   * The newest CM-signed membership we hold (docs/migration.md, "Membership certificates"),
   * relayed to clients and standbys that may have missed NEW-MEMBERSHIP notices.
   */
  private certificate: MembershipCertificate | null = null;
  /** Clients that sent us a request directly since `certificate` arrived: at most CLIENTS_MAX. */
  private readonly certificateHeard = new Set<number>();
  /** STATUS ticks since `certificate` arrived; it is pushed again on ticks 1, 2, 4, 8, ... */
  private certificateTicks = 0;

  constructor(
    core: ReplicaCore,
    migration: { readonly settings: MigrationSettings | null; readonly middleware: Middleware | null },
  ) {
    this.core = core;
    this.settings = migration.settings;
    this.middleware = migration.middleware;
  }

  /** The newest CM-signed membership we hold, if any. */
  get membershipCertificate(): MembershipCertificate | null {
    return this.certificate;
  }

  /** A client sent us a request directly (Replica.onRequest). */
  onClientRequest(clientId: number): void {
    this.renotifyClient(clientId);
    if (this.certificateHeard.size < CLIENTS_MAX) this.certificateHeard.add(clientId);
  }

  /** Each STATUS tick: the certificate is pushed again on ticks 1, 2, 4, 8, ... after it arrived. */
  onStatusTick(): void {
    if (this.certificate === null) return;
    this.certificateTicks += 1;
    if ((this.certificateTicks & (this.certificateTicks - 1)) === 0) this.pushCertificate();
  }

  /** Section 3.3: lazily to clients, at once when a new replica is primary; always to standbys. */
  announce(round: {
    readonly view: number;
    readonly seq: number;
    readonly pairs: readonly MigrationPair[];
  }): void {
    const middleware = this.middleware!;
    const seq = round.seq;
    const body = {
      view: round.view,
      seq,
      pairs: round.pairs,
      members: middleware.members.map((m) => ({ ...m })),
      replicaId: this.core.config.replicaId,
    };
    this.membershipNotice = {
      type: "NewMembership",
      ...body,
      signature: this.core.deps.migration!.sign(newMembershipSignedBytes(body)),
    };
    this.notifiedClients.clear();
    this.noticeResentAtMs.clear();
    for (const standby of middleware.registry.standbys())
      this.core.emit({
        kind: "send",
        to: { kind: "node", id: standby.nodeId },
        message: this.membershipNotice,
      });
    // Every known client at once, not only when the primary moved: MAC keys are per node, so a
    // client's requests fail authentication at each new target until it learns the membership,
    // and a target that rejects every PRE-PREPARE holding such requests cannot execute (it
    // lags until the next checkpoint). Found by the whole-system simulator (seed 3, --migrate).
    for (const clientId of this.core.clientIds()) this.maybeNotifyClient(clientId, seq + 1);
  }

  /**
   * Section 3.3, repair of the lazy rule: a client that missed a round's notices (no request of its
   * executed in between) holds stale MAC keys for the migrated ids; after two such rounds f+1 of
   * its authenticator entries are wrong, none of its requests executes and the lazy notice never
   * comes. So every request a client sends us directly gets the current notice, at most once per
   * status interval per client (found by the whole-system simulator, seed 2 of the migration runs).
   */
  private renotifyClient(clientId: number): void {
    const notice = this.membershipNotice;
    const certificate = this.certificate;
    if (notice === null && certificate === null) return;
    const lastMs = this.noticeResentAtMs.get(clientId);
    if (lastMs !== undefined && this.core.nowMs - lastMs < this.core.config.statusIntervalMs) return;
    if (lastMs === undefined && this.noticeResentAtMs.size >= CLIENTS_MAX) return;
    this.noticeResentAtMs.set(clientId, this.core.nowMs);
    // The certificate too: a client that missed several rounds cannot authenticate f+1 of our
    // notices for the latest one (its keys for the ids moved earlier are stale).
    const to = { kind: "client", id: clientId } as const;
    if (notice !== null) this.core.emit({ kind: "send", to, message: notice });
    if (certificate !== null) this.core.emit({ kind: "send", to, message: certificate });
  }

  /**
   * A MEMBERSHIP-CERTIFICATE from the CM or relayed by a peer: kept if the CM signed it and it is
   * newer than ours, then pushed to the clients and standbys (pushCertificate). The sender is not
   * authenticated (the wire skips the frame MAC for this type) and is trusted for nothing.
   */
  onCertificate(from: Principal, message: MembershipCertificate): void {
    const settings = this.settings!;
    if (
      !membershipCertificateValid(
        message,
        this.core.replicaCount,
        settings.cmPublicKeys,
        this.core.deps.migration!.verify,
      )
    )
      return void this.core.drop("badSignature", from, message.type);
    if (this.certificate !== null && message.seq <= this.certificate.seq)
      return void this.core.drop("staleCertificate", from, message.type);
    this.certificate = message;
    this.certificateHeard.clear();
    this.certificateTicks = 0;
    this.pushCertificate();
    this.authenticateCertifiedMembers();
    this.core.maybeFetchLaggingState(false);
  }

  /**
   * While our state is behind the round a CM certificate names, our wire authenticates the ids
   * that round moved by the certificate's nodes, not the retired ones: only the host's keys move
   * (the replicated membership changes when we reach the round). The retired nodes send nothing
   * after the round, while the new members' frames (their VIEW-CHANGEs and CHECKPOINTs) are what
   * a replica that missed the round needs to catch up. Migration CI seed 37: r1 and r3 missed the
   * round that promoted n5 and refused its frames, so their view change could not decide the
   * round's seq and n5 never joined it. The CM is trusted (paper section 2) and its signature is
   * checked (membershipCertificateValid). Called whenever something may have pointed the wire at
   * an older membership: the certificate's arrival, an executed round, an installed state.
   */
  authenticateCertifiedMembers(): void {
    const certificate = this.certificate;
    const middleware = this.middleware;
    if (certificate === null || middleware === null || certificate.seq <= this.core.lastExecutedSeq) return;
    if (certificate.seq <= (middleware.lastMigration?.seq ?? 0)) return;
    const moved = certificate.members.some((member) => middleware.nodeOf(member.replicaId) !== member.nodeId);
    if (!moved) return;
    this.core.emit({
      kind: "membershipChanged",
      members: certificate.members.map((member) => ({ ...member })),
      pairs: [],
    });
  }

  /**
   * Sends the certificate to every registered standby and to every known client that has not sent
   * us a request directly since it arrived (those get it from renotifyClient). A client or standby
   * whose membership is stale cannot reach us, so this push is its only way back; repeated on
   * STATUS ticks 1, 2, 4, 8, ... after the certificate, so a node cut off for a while still gets it
   * and the cost stays logarithmic in time.
   */
  private pushCertificate(): void {
    const certificate = this.certificate;
    if (certificate === null) return;
    for (const clientId of this.core.clientIds()) {
      if (!this.certificateHeard.has(clientId))
        this.core.emit({ kind: "send", to: { kind: "client", id: clientId }, message: certificate });
    }
    for (const standby of this.middleware!.registry.standbys())
      this.core.emit({ kind: "send", to: { kind: "node", id: standby.nodeId }, message: certificate });
  }

  /** Lazy notification (3.3): a client whose request executed after the MIGRATION-REQUEST. */
  maybeNotifyClient(clientId: number, seq: number): void {
    const notice = this.membershipNotice;
    if (notice === null || seq <= notice.seq || this.notifiedClients.has(clientId)) return;
    if (this.notifiedClients.size >= CLIENTS_MAX) return;
    this.notifiedClients.add(clientId);
    this.core.emit({ kind: "send", to: { kind: "client", id: clientId }, message: notice });
  }
}
