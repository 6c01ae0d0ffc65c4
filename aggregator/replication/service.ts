/** @module What routes see of replication: a way to publish a federation's pending replicas soon, and the URL-fetch rule. */
import type { SafeFetchOptions } from './fetch-url.ts';

export interface Replication {
  /** Starts publishing the federation's pending replicas in the background (no-op without a replicator). */
  kick(federationId: string): void;
  /** How the aggregator fetches member-given URLs. */
  urlFetch: SafeFetchOptions;
}
