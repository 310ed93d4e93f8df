// The leader's view of one follower: how far its log matches, what to send next, and in
// which mode (probe: one message at a time until a match is found; replicate: pipelined
// within the inflight window; snapshot: waiting for a snapshot to be installed).
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0n;
  next: bigint;
  state: ProgressState = 'probe';
  pendingSnapshot = 0n;
  /** Heard from within the current election timeout (CheckQuorum, snapshot sending). */
  recentActive = false;
  /** recentActive of the previous window, so a check right after a reset still sees live peers. */
  wasActive = false;
  /** Lease mode: the latest leader tick this follower echoed in a heartbeat response. */
  leaseAckTick = 0;
  /** In probe: a MsgApp is in flight, wait for its answer (or a heartbeat response). */
  msgAppFlowPaused = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: bigint, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0n;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const ps = this.pendingSnapshot;
      this.resetState('probe');
      this.next = (this.match + 1n > ps + 1n ? this.match + 1n : ps + 1n);
    } else {
      this.resetState('probe');
      this.next = this.match + 1n;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1n;
  }

  becomeSnapshot(snapIndex: bigint): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapIndex;
  }

  /** Records that entries [next, next+count) of `bytes` were sent. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next += BigInt(count);
        this.inflights.add(this.next - 1n, bytes);
      }
    } else if (this.state === 'probe') {
      if (count > 0) this.msgAppFlowPaused = true;
    }
  }

  /** An acknowledgement of index n; returns whether match advanced. */
  maybeUpdate(n: bigint): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    if (this.next < n + 1n) this.next = n + 1n;
    return updated;
  }

  /**
   * A rejection of the MsgApp whose previous index was `rejected`; `matchHint` is the highest
   * index that may still match. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: bigint, matchHint: bigint): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1n;
      return true;
    }
    if (this.next - 1n !== rejected) return false;
    let next = rejected < matchHint + 1n ? rejected : matchHint + 1n;
    if (next < this.match + 1n) next = this.match + 1n;
    this.next = next;
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    if (this.state === 'snapshot') return true;
    if (this.state === 'replicate') return this.inflights.full();
    return this.msgAppFlowPaused;
  }

  /** A copy for a membership change computed ahead of time (the live one must not change). */
  clone(): Progress {
    const p = new Progress(this.next, this.inflights.capacity, this.isLearner);
    p.match = this.match;
    p.recentActive = this.recentActive;
    p.wasActive = this.wasActive;
    p.becomeProbe();
    return p;
  }
}
