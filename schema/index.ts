/** @module Every table, for drizzle-kit and the database factory. */
export * from './federations.ts';
export * from './rounds.ts';
export * from './audit.ts';
export * from './replication.ts';
