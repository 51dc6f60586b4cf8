/**
 * The migration protocol's messages (Zhao & Zhang, section 3). They now live in bft/messages.ts
 * with the PBFT messages (one Message union for the codec and the wire); this module re-exports
 * them so migration code keeps importing from its own folder.
 */
export type {
  Evidence,
  InitMigration,
  JoinApproved,
  JoinRequest,
  KeyExchange,
  LeaveRequest,
  MemberAddress,
  MigrateNow,
  MigrationDone,
  MigrationMessage,
  MigrationMessageType,
  MigrationPair,
  MigrationRequest,
  MigrationTrigger,
  NewMembership,
  NewView,
  NodeAddress,
  OnDemandMigration,
  OrderedSpecial,
  PrePrepare,
  Request,
  ViewChange,
} from "../messages.js";
