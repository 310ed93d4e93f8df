import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../manager/clock.js';

describe('FakeClock', () => {
  it('fires timers in time order, only when advanced past them, and lets awaiting code chain timers', async () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@300'), 300);
    clock.setTimeout(() => fired.push('a@100'), 100);
    const cancelled = clock.setTimeout(() => fired.push('never'), 200);
    cancelled.cancel();
    void (async () => {
      await clock.sleep(150);
      fired.push(`slept@${clock.now() - 1_000}`);
      await clock.sleep(100);
      fired.push(`slept-again@${clock.now() - 1_000}`);
    })();
    await clock.advance(99);
    expect(fired).toEqual([]);
    await clock.advance(400);
    expect(fired).toEqual(['a@100', 'slept@150', 'slept-again@250', 'b@300']);
    expect(clock.now()).toBe(1_499);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects a sleep when its signal aborts', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const p = clock.sleep(1_000, ac.signal);
    ac.abort(new Error('stopped'));
    await expect(p).rejects.toThrow('stopped');
    expect(clock.pendingTimers).toBe(0);
  });
});
