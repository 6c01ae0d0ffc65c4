/** @module Round and stage names, shared by the aggregator, the clients and the docs. */
import type { RecordPrivacyConfig } from './privacy/config.ts';
import type { SecAggRequest, SecAggRoundConfig, SecAggStage } from './secagg-wire.ts';

/** Stages of a plaintext round, in order. Secure aggregation inserts its own stages before `evaluate`. */
export const PLAIN_STAGES = ['fit', 'evaluate'] as const;

/** Stages of a secure-aggregation round (Bonawitz et al.), in order. */
export const SECURE_STAGES = ['advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask', 'evaluate'] as const;

export type Stage = (typeof PLAIN_STAGES)[number] | (typeof SECURE_STAGES)[number];

/** A round is open while it runs a stage, then committed (new model) or failed (reason recorded). */
export const ROUND_STATUSES = ['open', 'committed', 'failed'] as const;
export type RoundStatus = (typeof ROUND_STATUSES)[number];

/** Whether the round's open stage is past its deadline at time `t` (no deadline: never). */
export const pastDeadline = (round: { stageDeadline: number | null }, t: number): boolean => round.stageDeadline !== null && t >= round.stageDeadline;

/** Where one member stands in one round. */
export const MEMBER_ROUND_STATUSES = ['selected', 'submitted', 'evaluated', 'dropped', 'declined'] as const;
export type MemberRoundStatus = (typeof MEMBER_ROUND_STATUSES)[number];

/** What a member learns when it polls the current round. */
export interface RoundAnnouncement {
  federationId: string;
  round: number;
  status: RoundStatus;
  stage: Stage | null;
  /** The model this round trains from: its version number and content hash. */
  modelVersion: number;
  modelHash: string;
  /** Unix ms when the current stage closes. */
  deadline: number | null;
  /** This member's own state in the round, or null when it was not selected. */
  memberStatus: MemberRoundStatus | null;
  /** How many selected members have finished the current stage, of how many. */
  progress: { done: number; of: number };
  /** Members still in the round (selected, not declined or dropped): what a member's minimum cohort is checked against. */
  cohort?: number;
  /** The record-level DP the federation asks members to apply (null: none), so a member can check it against its policy. */
  privacy?: RecordPrivacyConfig | null;
  /** After evaluate opens: the model to evaluate (the one this round committed). */
  evaluateModel?: { version: number; hash: string; artifact?: SealedModelRef };
  /** When the federation publishes to stores: the sealed artifact of `modelVersion` and where it is. */
  modelArtifact?: SealedModelRef;
  failureReason?: string | null;
  /** Secure rounds: the public round configuration, and this member's request for the open stage. */
  secagg?: SecAggAnnouncement;
}

/** The member's round view as sent: a secure round's `config` is left out when the member said it holds it (see SecAggAnnouncement.configHash). */
export type RoundAnnouncementWire = Omit<RoundAnnouncement, 'secagg'> & { secagg?: Omit<SecAggAnnouncement, 'config'> & { config?: SecAggRoundConfig } };

/** What a member of a secure round needs to run the open stage. */
export interface SecAggAnnouncement {
  config: SecAggRoundConfig;
  /**
   * Names `config` (BLAKE2b-256 of its JSON as sent). A member that holds it polls with
   * `?have=<configHash>` and is answered without `config` (O(members) bytes that every member
   * would otherwise receive at every stage); the member runtime puts its copy back.
   */
  configHash: string;
  /** What the aggregator asks of this member in the open stage (null at advertise_keys, or when it takes no part). */
  request: SecAggRequest | null;
  /** True once the aggregator holds this member's message for the open stage. */
  answered: boolean;
}

/** Secure-aggregation stages a member answers (all SECURE_STAGES but evaluate). */
export const isSecAggStage = (stage: string | null): stage is SecAggStage => stage !== null && stage !== 'evaluate' && (SECURE_STAGES as readonly string[]).includes(stage);

/** A model version's sealed artifact: fetch `objects/<sealedHash>` from any store, open it with
 *  content key `keyId`, check the aggregator's signature, then check the plaintext hash. */
export interface SealedModelRef {
  sealedHash: string;
  sealedSize: number;
  keyId: string;
  /** The stores the federation publishes to. */
  stores: string[];
}
