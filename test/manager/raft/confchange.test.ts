// Membership transitions over random sequences of changes: every accepted configuration keeps
// the invariants, refusals are ConfChangeErrors that leave the configuration untouched, and
// one-item changes never alter more than one voter.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfChangeError, type ConfChangeItem, ConfChangeType } from '../../../manager/raft/index.js';
import { Changer } from '../../../manager/raft/confchange/changer.js';
import { restoreConfig } from '../../../manager/raft/confchange/restore.js';
import { configToConfState, type TrackerConfig } from '../../../manager/raft/tracker/tracker.js';
import type { Progress } from '../../../manager/raft/tracker/progress.js';

const arbItem = fc.record({
  type: fc.constantFrom(ConfChangeType.CONF_ADD_VOTER, ConfChangeType.CONF_ADD_LEARNER, ConfChangeType.CONF_REMOVE),
  nodeId: fc.integer({ min: 1, max: 6 }).map(BigInt),
});
const arbStep = fc.array(arbItem, { minLength: 0, maxLength: 3 });

function checkInvariants(c: TrackerConfig, progress: Map<bigint, Progress>): void {
  const voters = new Set([...c.voters.incoming, ...c.voters.outgoing]);
  for (const id of c.learners) expect(voters.has(id)).toBe(false);
  for (const id of c.learnersNext) expect(c.voters.outgoing.has(id)).toBe(true);
  expect(c.voters.incoming.size).toBeGreaterThan(0);
  const members = new Set([...voters, ...c.learners]);
  expect(new Set(progress.keys())).toEqual(members);
  for (const [id, pr] of progress) expect(pr.isLearner).toBe(c.learners.has(id));
  if (c.voters.outgoing.size === 0) expect(c.autoLeave).toBe(false);
}

describe('membership changes', () => {
  it('keep their invariants over random sequences', () => {
    fc.assert(fc.property(fc.array(arbStep, { maxLength: 25 }), (steps) => {
      let { config, progress } = restoreConfig(
        { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, 10n, 4);
      for (const items of steps) {
        const before = JSON.stringify(configToConfState(config), (_, v) => (typeof v === 'bigint' ? String(v) : v));
        const ch = new Changer(config, progress, 10n, 4);
        try {
          const joint = config.voters.outgoing.size > 0;
          const r = items.length === 0 ? (joint ? ch.leaveJoint() : undefined)
            : items.length === 1 && !joint ? ch.simple(items as ConfChangeItem[])
              : ch.enterJoint(true, items as ConfChangeItem[]);
          if (!r) continue;
          if (items.length === 1 && !joint) {
            let diff = 0;
            for (const id of r.config.voters.incoming) if (!config.voters.incoming.has(id)) diff++;
            for (const id of config.voters.incoming) if (!r.config.voters.incoming.has(id)) diff++;
            expect(diff).toBeLessThanOrEqual(1);
          }
          config = r.config;
          progress = r.progress;
          checkInvariants(config, progress);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfChangeError);
          const after = JSON.stringify(configToConfState(config), (_, v) => (typeof v === 'bigint' ? String(v) : v));
          expect(after).toBe(before); // a refused change leaves nothing behind
        }
      }
    }), { numRuns: 300 });
  });

  it('demoting a voter in a joint change keeps it voting until the joint state is left', () => {
    const { config, progress } = restoreConfig(
      { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, 5n, 4);
    const j = new Changer(config, progress, 5n, 4).enterJoint(true, [
      { type: ConfChangeType.CONF_ADD_LEARNER, nodeId: 3n }, { type: ConfChangeType.CONF_ADD_VOTER, nodeId: 4n },
    ]);
    expect(configToConfState(j.config)).toMatchObject({ voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], learnersNext: [3n], learners: [] });
    expect(j.progress.get(3n)!.isLearner).toBe(false);
    const left = new Changer(j.config, j.progress, 5n, 4).leaveJoint();
    expect(configToConfState(left.config)).toMatchObject({ voters: [1n, 2n, 4n], votersOutgoing: [], learners: [3n] });
    expect(left.progress.get(3n)!.isLearner).toBe(true);
    // the live configuration was not touched by computing the next ones
    expect(configToConfState(config).voters).toEqual([1n, 2n, 3n]);
    expect(progress.get(3n)!.isLearner).toBe(false);
  });
});
