// The set of members with their Progress, the current (possibly joint) configuration, and
// the votes of an election in progress.
import type { ConfState } from '../../../proto/gen/raft.js';
import { jointActive, jointCommitted, type JointVoters, jointVoteResult } from '../quorum/joint.js';
import type { VoteResult } from '../quorum/majority.js';
import type { Progress } from './progress.js';

export interface TrackerConfig {
  voters: JointVoters;
  learners: Set<bigint>;
  /** Voters demoted to learners by a joint change; they become learners when it is left. */
  learnersNext: Set<bigint>;
  autoLeave: boolean;
}

export function emptyConfig(): TrackerConfig {
  return { voters: { incoming: new Set(), outgoing: new Set() }, learners: new Set(), learnersNext: new Set(), autoLeave: false };
}

export function cloneConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: { incoming: new Set(c.voters.incoming), outgoing: new Set(c.voters.outgoing) },
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

const sorted = (s: Set<bigint>): bigint[] => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function configToConfState(c: TrackerConfig): ConfState {
  return {
    voters: sorted(c.voters.incoming),
    learners: sorted(c.learners),
    votersOutgoing: sorted(c.voters.outgoing),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export class ProgressTracker {
  config: TrackerConfig = emptyConfig();
  progress = new Map<bigint, Progress>();
  votes = new Map<bigint, boolean>();
  /** Progress entries in id order, rebuilt on membership change (iteration order is stable). */
  private ids: bigint[] = [];

  constructor(readonly maxInflight: number) {}

  setConfig(config: TrackerConfig, progress: Map<bigint, Progress>): void {
    this.config = config;
    this.progress = progress;
    this.ids = sorted(new Set(progress.keys()));
  }

  /** Member ids in ascending order (deterministic message order). */
  memberIds(): readonly bigint[] { return this.ids; }

  isJoint(): boolean { return this.config.voters.outgoing.size > 0; }

  isVoter(id: bigint): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  confState(): ConfState { return configToConfState(this.config); }

  committed(): bigint {
    return jointCommitted(this.config.voters, (id) => this.progress.get(id)?.match);
  }

  quorumActive(self: bigint): boolean {
    return jointActive(this.config.voters, (id) => id === self || (this.progress.get(id)?.recentActive ?? false));
  }

  resetVotes(): void { this.votes = new Map(); }

  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, v] of this.votes) {
      if (!this.isVoter(id)) continue;
      if (v) granted++; else rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.voters, this.votes) };
  }
}
