// The runtime's launch limiter: at most n inside, urgent callers before the others, and a turn
// of the event loop between one holder and the next (I/O is not starved by a queue of work).
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../../agent/runtime/limiter.js';

describe('Limiter', () => {
  it('lets at most n in, serves urgent callers first, then in arrival order', async () => {
    const l = new Limiter(2);
    let inside = 0;
    let most = 0;
    const order: string[] = [];
    const job = (name: string) => async (): Promise<void> => {
      inside++;
      most = Math.max(most, inside);
      order.push(name);
      await new Promise((r) => setTimeout(r, 5));
      inside--;
    };
    await Promise.all([
      l.run(job('a')),
      l.run(job('b')),
      l.run(job('c')),
      l.run(job('d')),
      l.run(job('u1'), { urgent: true }),
      l.run(job('u2'), { urgent: true }),
    ]);
    expect(most).toBe(2);
    expect(order).toEqual(['a', 'b', 'u1', 'u2', 'c', 'd']);
  });

  it('gives the event loop a turn between holders whose work settles at once', async () => {
    const l = new Limiter(1);
    const seen: string[] = [];
    const io = new Promise<void>((r) => setImmediate(() => {
      seen.push('io');
      r();
    }));
    await Promise.all([1, 2, 3].map((i) => l.run(async () => void seen.push(`job${i}`))));
    await io;
    // without the turn, all three jobs would run as one chain of microtasks before the callback
    expect(seen.indexOf('io')).toBeLessThan(seen.indexOf('job3'));
  });

  it('releases the slot when the work throws', async () => {
    const l = new Limiter(1);
    await expect(l.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await l.run(async () => 'next')).toBe('next');
  });
});
