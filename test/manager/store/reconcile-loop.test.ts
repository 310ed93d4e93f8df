import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../../manager/clock.js';
import { MAX_FAILED_PASSES, MemoryStore, ReconcileLoop, SequenceConflictError, type ReconcileHooks } from '../../../manager/store/index.js';
import { makeNode } from './fixtures.js';

const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });

/** Hooks that count what the loop asks of them; flush() fails with what `fail` returns. */
function hooks(fail: (pass: number) => Error | undefined, load: () => void = () => undefined): ReconcileHooks & { passes: number; loads: number } {
  let dirty = true;
  const h = {
    passes: 0,
    loads: 0,
    load: () => {
      h.loads++;
      load();
    },
    event: () => void (dirty = true),
    dirty: () => dirty,
    flush: async () => {
      const err = fail(++h.passes);
      if (err) throw err;
      dirty = false;
    },
  };
  return h;
}

describe('ReconcileLoop', () => {
  it('ends run() with the error when reading the state throws (its supervisor restarts it)', async () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    const h = hooks(() => undefined, () => {
      throw new Error('store read failed');
    });
    const loop = new ReconcileLoop(store, new FakeClock(), h, quiet);
    await expect(loop.run(new AbortController().signal)).rejects.toThrow('store read failed');
  });

  it('gives up after MAX_FAILED_PASSES failed passes in a row instead of retrying forever', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const h = hooks(() => new Error('proposal refused'));
    const loop = new ReconcileLoop(store, clock, h, quiet);
    const ac = new AbortController();
    let outcome: unknown;
    const done = loop.run(ac.signal).then(() => (outcome = 'resolved'), (e: unknown) => (outcome = e));
    for (let i = 0; i < 20 && outcome === undefined; i++) await clock.advance(2_000);
    await done;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toBe(`reconcile pass failed ${MAX_FAILED_PASSES} times in a row: proposal refused`);
    expect(h.passes).toBe(MAX_FAILED_PASSES);
  });

  it('keeps going through failures that stop short of the limit, and through version conflicts', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const conflict = new SequenceConflictError('node', 'n1', 1n, 2n);
    // conflicts do not count, and a pass that works resets the count
    const plan = [conflict, conflict, conflict, conflict, conflict, ...Array(MAX_FAILED_PASSES - 1).fill(new Error('transient')), undefined];
    const h = hooks((n) => plan[n - 1]);
    const loop = new ReconcileLoop(store, clock, h, quiet);
    const ac = new AbortController();
    const done = loop.run(ac.signal);
    for (let i = 0; i < 20 && h.passes < plan.length; i++) await clock.advance(2_000);
    expect(h.passes).toBe(plan.length);
    await store.update((tx) => tx.nodes.create(makeNode('n1'))); // more work after the good pass
    await settle();
    expect(h.passes).toBe(plan.length + 1);
    ac.abort();
    await done;
  });
});
