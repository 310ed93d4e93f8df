// Watch queues are bounded: a reader that stops reading while the store keeps changing is closed
// with the version to resume from (or, for components, given one reset), its memory is dropped,
// other watchers are unaffected, and the store's history lets a closed reader resume.
import { describe, expect, it } from 'vitest';
import { Task, TaskState } from '../../../proto/gen/types.js';
import {
  DEFAULT_WATCH_LIMITS,
  MemoryStore,
  WatchCompactedError,
  WatchFellBehindError,
  type ObjectEvent,
  type StoreEvent,
  type Watcher,
} from '../../../manager/store/index.js';
import { makeNode } from './fixtures.js';

const TASKS = 100;

function task(i: number): Task {
  return Task.fromPartial({ id: `t${i}`, serviceId: 's1', slot: i + 1, desiredState: TaskState.RUNNING, status: { state: TaskState.PENDING, message: 'pending' } });
}

async function seed(store: MemoryStore): Promise<void> {
  await store.update((tx) => {
    for (let i = 0; i < TASKS; i++) tx.tasks.create(task(i));
  });
}

/** One proposal that rewrites every task's status message: TASKS task updates. */
async function round(store: MemoryStore, n: number, message = `round ${n}`): Promise<void> {
  await store.update((tx) => {
    for (const t of tx.tasks.all()) tx.tasks.update({ ...t, status: { ...t.status!, message } });
  });
}

function drain(w: Watcher): StoreEvent[] {
  const out: StoreEvent[] = [];
  for (let e = w.poll(); e; e = w.poll()) out.push(e);
  return out;
}

describe('bounded store watches', () => {
  it('closes a watcher that never reads while 100,000 task updates are written; its queue stays bounded, others are unaffected', async () => {
    const store = new MemoryStore();
    await seed(store);
    const stuck = store.watch({ filter: (e) => e.kind === 'task' });
    const reader = store.watch({ filter: (e) => e.kind === 'task' });
    const nodesOnly = store.watch({ filter: (e) => e.kind === 'node' });
    let fellBehind: WatchFellBehindError | undefined;
    const told = store.watch({ filter: (e) => e.kind === 'task', onFellBehind: (err) => (fellBehind = err) });
    let maxPending = 0;
    let seen = 0;
    let lastCommit = 0n;
    const rounds = 100_000 / TASKS;
    for (let n = 0; n < rounds; n++) {
      await round(store, n);
      maxPending = Math.max(maxPending, stuck.pending, told.pending);
      for (const e of drain(reader)) {
        if (e.type === 'update') seen++;
        if (e.type === 'commit') lastCommit = e.version;
      }
    }
    expect(maxPending).toBeLessThanOrEqual(DEFAULT_WATCH_LIMITS.maxEvents + 1);
    expect(stuck.isClosed).toBe(true);
    expect(stuck.pending).toBe(0);
    const err = await stuck.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WatchFellBehindError);
    expect((err as Error).message).toMatch(/watch fell more than 10000 events behind and was closed; resume from version 1\b/);
    expect((err as WatchFellBehindError).resumeVersion).toBe(1n);
    expect(fellBehind?.resumeVersion).toBe(1n);
    // the reader got every update; the store went on to the end
    expect(seen).toBe(100_000);
    expect(lastCommit).toBe(store.version);
    expect(store.version).toBe(BigInt(rounds + 1));
    // a filtered watcher whose kind never changed holds one commit marker, not 1,000
    expect(nodesOnly.isClosed).toBe(false);
    expect(nodesOnly.pending).toBe(1);
    expect(drain(nodesOnly)).toEqual([{ type: 'commit', version: store.version }]);
  });

  it('lets a closed watcher resume from its version: every event after it, in order, then live ones', async () => {
    const store = new MemoryStore({ watchLimits: { maxEvents: 250 }, historyLimits: { maxEvents: 2_000 } });
    await seed(store);
    const w = store.watch({ filter: (e) => e.kind === 'task' && e.object.id === 't7' });
    const slow = store.watch();
    await round(store, 0);
    await round(store, 1);
    expect(drain(slow).filter((e) => e.type === 'commit').length).toBe(2);
    for (let n = 2; n < 6; n++) await round(store, n);
    expect(slow.isClosed).toBe(true);
    const err = slow.error!;
    expect(err).toBeInstanceOf(WatchFellBehindError);
    expect(err.resumeVersion).toBe(3n); // seed at 1, rounds 0 and 1 at 2 and 3 taken
    const resumed = store.watch({ fromVersion: err.resumeVersion });
    await round(store, 6);
    const events = drain(resumed);
    const commits = events.filter((e) => e.type === 'commit').map((e) => (e as { version: bigint }).version);
    expect(commits).toEqual([4n, 5n, 6n, 7n, 8n]);
    const messages = events.filter((e): e is ObjectEvent => e.type === 'update').filter((e) => e.object.id === 't7').map((e) => (e.object as Task).status?.message);
    expect(messages).toEqual(['round 2', 'round 3', 'round 4', 'round 5', 'round 6']);
    expect(resumed.isClosed).toBe(false);
    // the filtered watcher (one task of 100) never came near its bound
    expect(w.isClosed).toBe(false);
    expect(drain(w).filter((e) => e.type === 'update')).toHaveLength(7);
  });

  it('refuses to resume from a version the history no longer holds, or one the store has not reached', async () => {
    const store = new MemoryStore({ historyLimits: { maxEvents: 3 * (TASKS + 1) } });
    await seed(store);
    for (let n = 0; n < 5; n++) await round(store, n);
    expect(store.historyRange.oldest).toBe(3n);
    expect(() => store.watch({ fromVersion: 2n })).toThrow(WatchCompactedError);
    expect(() => store.watch({ fromVersion: 2n })).toThrow(/history is compacted up to version 3; re-list and watch from the start/);
    expect(() => store.watch({ fromVersion: 99n })).toThrow(/this store is at version 6/);
    const w = store.watch({ fromVersion: 3n });
    expect(drain(w).filter((e) => e.type === 'commit')).toHaveLength(3);
    // a snapshot restore forgets the history: nothing before it can be replayed
    const copy = new MemoryStore();
    copy.restore(store.snapshot());
    expect(() => copy.watch({ fromVersion: 5n })).toThrow(WatchCompactedError);
    expect(drain(copy.watch({ fromVersion: 6n }))).toEqual([]);
  });

  it("gives a component's watcher one reset instead of an unbounded queue, then live events", async () => {
    const store = new MemoryStore({ watchLimits: { maxEvents: 500 } });
    await seed(store);
    const w = store.watch({ onOverflow: 'reset' });
    for (let n = 0; n < 20; n++) {
      await round(store, n);
      expect(w.pending).toBeLessThanOrEqual(501);
    }
    expect(w.isClosed).toBe(false);
    expect(w.overflows).toBeGreaterThan(0);
    const events = drain(w);
    expect(events[0]?.type).toBe('reset');
    expect(events.filter((e) => e.type === 'reset')).toHaveLength(1);
    expect(events[events.length - 1]).toEqual({ type: 'commit', version: store.version });
    await store.update((tx) => tx.nodes.create(makeNode('n1')));
    expect(drain(w).map((e) => e.type)).toEqual(['create', 'commit']);
  });

  it('bounds a queue by the bytes of the changes it holds, not only their count', async () => {
    const store = new MemoryStore({ watchLimits: { maxBytes: 2 * 1024 * 1024 } });
    await seed(store);
    const w = store.watch();
    const big = 'x'.repeat(100_000);
    for (let n = 0; n < 40 && !w.isClosed; n++) {
      await store.update((tx) => {
        const t = tx.tasks.get(`t${n}`)!;
        tx.tasks.update({ ...t, status: { ...t.status!, err: `${big}${n}` } });
      });
      expect(w.pendingBytes).toBeLessThanOrEqual(2 * 1024 * 1024 + 200_000);
    }
    expect(w.isClosed).toBe(true);
    expect(w.error?.message).toMatch(/fell more than 2097152 bytes of changes behind/);
  });
});
