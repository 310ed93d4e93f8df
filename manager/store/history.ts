// The recent past of the store: the object events of the last applied proposals, so a watcher
// closed for falling behind (or a client that reconnects) can resume from the version it last
// saw instead of re-reading everything. Bounded by events and encoded bytes; whole proposals
// are evicted, oldest first, and a resume from before them is refused (WatchCompactedError).
import { WatchCompactedError } from './errors.js';
import type { ObjectEvent } from './types.js';
import type { WatchLimits } from './watch.js';

/** One applied proposal: its events share out its encoded size. */
export interface HistoryEntry {
  readonly version: bigint;
  readonly events: readonly ObjectEvent[];
  readonly bytes: number;
}

/**
 * Twice a watcher's default bound: a reader closed for falling behind can resume if it comes
 * back before as many events again are written. 32 MiB of encoded changes at most.
 */
export const DEFAULT_HISTORY_LIMITS: Readonly<WatchLimits> = { maxEvents: 20_000, maxBytes: 32 * 1024 * 1024 };

export class EventHistory {
  /** Evicted slots before head are emptied at once, so what they held can be collected. */
  private entries: (HistoryEntry | undefined)[] = [];
  private head = 0;
  private events = 0;
  private bytes = 0;
  /** Every proposal after this version is held (or wrote nothing). */
  private floor: bigint;
  private readonly limits: WatchLimits;

  constructor(limits: Partial<WatchLimits> = {}, version = 0n) {
    this.limits = { ...DEFAULT_HISTORY_LIMITS, ...limits };
    this.floor = version;
  }

  /** The oldest version a watch can resume from. */
  get oldest(): bigint {
    return this.floor;
  }

  /** Events held (commit markers counted as one each). */
  get size(): number {
    return this.events;
  }

  record(version: bigint, events: readonly ObjectEvent[], bytes: number): void {
    this.entries.push({ version, events, bytes });
    this.events += events.length + 1;
    this.bytes += bytes;
    while (this.head < this.entries.length && (this.events > this.limits.maxEvents || this.bytes > this.limits.maxBytes)) {
      const e = this.entries[this.head]!;
      this.entries[this.head++] = undefined;
      this.events -= e.events.length + 1;
      this.bytes -= e.bytes;
      this.floor = e.version;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything is forgotten (a snapshot replaced the state at `version`). */
  clear(version: bigint): void {
    this.entries = [];
    this.head = 0;
    this.events = 0;
    this.bytes = 0;
    this.floor = version;
  }

  /** The proposals applied after `version`, oldest first; refused if some are no longer held. */
  since(version: bigint, current: bigint): HistoryEntry[] {
    if (version < this.floor || version > current) throw new WatchCompactedError(version, this.floor, current);
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.version <= version) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo) as HistoryEntry[];
  }
}
