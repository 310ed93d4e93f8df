// Rebuilds the tracker configuration from a ConfState (on start-up or snapshot install).
import type { ConfState } from '../../../proto/gen/raft.js';
import { Progress } from '../tracker/progress.js';
import type { TrackerConfig } from '../tracker/tracker.js';

export function restoreConfig(cs: ConfState, lastIndex: bigint, maxInflight: number): { config: TrackerConfig; progress: Map<bigint, Progress> } {
  const config: TrackerConfig = {
    voters: { incoming: new Set(cs.voters), outgoing: new Set(cs.votersOutgoing) },
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave && cs.votersOutgoing.length > 0,
  };
  const progress = new Map<bigint, Progress>();
  const add = (id: bigint, learner: boolean): void => {
    if (progress.has(id)) return;
    const pr = new Progress(lastIndex + 1n, maxInflight, learner);
    pr.recentActive = true;
    progress.set(id, pr);
  };
  for (const id of cs.voters) add(id, false);
  for (const id of cs.votersOutgoing) add(id, false);
  for (const id of cs.learners) add(id, true);
  // learnersNext are outgoing voters: already added as voters.
  return { config, progress };
}
