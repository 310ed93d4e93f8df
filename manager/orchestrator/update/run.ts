// One rolling update (or rollback) of one service, kept in the leader's memory: which slots it
// already replaced, which new tasks it is still watching, how many failed. A new leader starts
// a fresh run from what the store shows (tasks from an older template are still outdated).
import type { EffectiveUpdateConfig } from './config.js';

export interface UpdateRun {
  /** The service's spec_version this run brings every slot to. */
  readonly version: bigint;
  readonly rollback: boolean;
  /** update_status.started_at_ms when the run began (tells a new rollback from an old one). */
  readonly statusStartedAt: bigint;
  readonly config: EffectiveUpdateConfig;
  /** Slots that were outdated when the run began (the denominator of the failure ratio). */
  readonly total: number;
  failures: number;
  /** "task <id>: <why>" of the latest failure, for the status message. */
  lastFailure: string;
  /** Slot keys replaced in this run: a slot whose new task failed is not tried again. */
  readonly attempted: Set<string>;
  /** The current batch: slot key -> the new task being brought up. */
  readonly batch: Map<string, string>;
  /** New tasks within their monitor period: task id -> when first seen RUNNING (ms). */
  readonly monitoring: Map<string, number | undefined>;
  /** Slots of the current batch not yet replaced (a big batch spans transactions). */
  fill: number;
  /** When the next batch may start (the delay after the previous one). */
  nextBatchAt: number;
}

export function newRun(version: bigint, rollback: boolean, config: EffectiveUpdateConfig, total: number, nowMs: number, statusStartedAt: bigint): UpdateRun {
  return {
    version,
    rollback,
    statusStartedAt,
    config,
    total: Math.max(1, total),
    failures: 0,
    lastFailure: '',
    attempted: new Set(),
    batch: new Map(),
    monitoring: new Map(),
    fill: 0,
    nextBatchAt: nowMs,
  };
}
