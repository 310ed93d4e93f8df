// StepDown's leader task on a fake clock, with the Raft node reduced to what a step-down needs
// (status and transferLeadership): the 3-manager behaviour over real Raft is in step-down.test.ts
// and test/e2e/supervision.test.ts; here the timing: retries while alone, then hands over.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Node, NodeRole } from '../../../proto/gen/types.js';
import { FakeClock } from '../../../manager/clock.js';
import { StepDown, type LeaderHandover } from '../../../manager/node/step-down.js';
import { MemoryStore } from '../../../manager/store/index.js';
import type { ComponentHealth } from '../../../manager/supervisor.js';

const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });

function raftWith(voters: bigint[]): LeaderHandover & { voters: bigint[]; transfers: bigint[] } {
  const r = {
    voters,
    transfers: [] as bigint[],
    leader: 1n,
    status: () => ({ id: 1n, leader: r.leader, confState: { voters: r.voters } }),
    transferLeadership: async (to: bigint) => {
      r.transfers.push(to);
      r.leader = to;
    },
  };
  return r;
}

async function storeWithManagers(clock: FakeClock, degraded: Record<number, string> = {}): Promise<MemoryStore> {
  const store = new MemoryStore({ clock });
  await store.update((tx) => {
    for (const i of [1, 2, 3]) {
      tx.nodes.create(Node.fromPartial({ id: `node-${i}`, role: NodeRole.MANAGER, managerStatus: { raftId: BigInt(i), reachability: 2, degraded: degraded[i] ?? '' } }));
    }
  });
  return store;
}

const policy = { maxFailures: 3, windowMs: 8_000 }; // checks every 2 s
const failingScheduler: ComponentHealth[] = [{ name: 'scheduler', state: 'restarting', recentFailures: 3, restarts: 3, lastError: 'store read failed' }];

describe('StepDown.watch', () => {
  it('while alone it stays leader and marks itself degraded; when a voter appears it hands over to it', async () => {
    const clock = new FakeClock();
    const store = await storeWithManagers(clock);
    const raft = raftWith([1n]);
    const sd = new StepDown({ store, raft, nodeId: 'node-1', log: quiet });
    const ac = new AbortController();
    const done = sd.watch(clock, policy, () => failingScheduler, ac.signal);
    await clock.advance(2_000);
    expect(raft.transfers).toEqual([]);
    expect(sd.degraded()).toBe('scheduler failed 3 times within 8 s: store read failed');
    expect(store.view((tx) => tx.nodes.get('node-1')!.managerStatus!.degraded)).toBe(sd.degraded());
    await clock.advance(4_000);
    expect(raft.transfers).toEqual([]);
    raft.voters = [1n, 2n, 3n]; // the others have joined
    await clock.advance(2_000);
    expect(raft.transfers).toEqual([2n]);
    ac.abort();
    await done;
  });

  it('hands over to a healthy manager before a degraded one', async () => {
    const clock = new FakeClock();
    const store = await storeWithManagers(clock, { 2: 'allocator failed 5 times within 60 s: x' });
    const raft = raftWith([1n, 2n, 3n]);
    const sd = new StepDown({ store, raft, nodeId: 'node-1', log: quiet });
    const ac = new AbortController();
    const done = sd.watch(clock, policy, () => failingScheduler, ac.signal);
    await clock.advance(2_000);
    expect(raft.transfers).toEqual([3n]);
    ac.abort();
    await done;
  });

  it('clears the mark once the components have run a whole window of the term without failing', async () => {
    const clock = new FakeClock();
    const store = await storeWithManagers(clock, { 1: 'scheduler failed 5 times within 60 s: x' });
    const raft = raftWith([1n, 2n, 3n]);
    const sd = new StepDown({ store, raft, nodeId: 'node-1', log: quiet });
    let health: ComponentHealth[] = [{ name: 'scheduler', state: 'running', recentFailures: 1, restarts: 1 }];
    const ac = new AbortController();
    const done = sd.watch(clock, policy, () => health, ac.signal);
    await clock.advance(8_000);
    expect(sd.degraded()).toBe('scheduler failed 5 times within 60 s: x'); // one failure in the window
    health = [{ name: 'scheduler', state: 'running', recentFailures: 0, restarts: 1 }];
    await clock.advance(2_000);
    expect(sd.degraded()).toBeUndefined();
    expect(store.view((tx) => tx.nodes.get('node-1')!.managerStatus!.degraded)).toBe('');
    expect(raft.transfers).toEqual([]);
    ac.abort();
    await done;
  });
});
