// The linearizability checker must accept linearizable histories and reject the others.
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type Operation } from './checker.js';

const put = (client: number, value: string, call: number, ret: number, key = 'k'): Operation => ({ client, key, kind: 'put', value, call, ret });
const get = (client: number, value: string, call: number, ret: number, key = 'k'): Operation => ({ client, key, kind: 'get', value, call, ret });
const cas = (client: number, expect: string, value: string, ok: boolean | undefined, call: number, ret: number, key = 'k'): Operation =>
  ({ client, key, kind: 'cas', expect, value, ok, call, ret });

describe('linearizability checker', () => {
  it('accepts a sequential history', () => {
    expect(checkLinearizable([put(1, 'a', 0, 1), get(2, 'a', 2, 3), cas(1, 'a', 'b', true, 4, 5), get(2, 'b', 6, 7)]).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    expect(checkLinearizable([put(1, 'a', 0, 1), get(2, '', 2, 3)]).ok).toBe(false);
  });

  it('accepts either order for overlapping operations', () => {
    expect(checkLinearizable([put(1, 'a', 0, 10), get(2, '', 1, 2), get(3, 'a', 3, 4)]).ok).toBe(true);
  });

  it('rejects a read that goes back in time (new then old value)', () => {
    const h = [put(1, 'a', 0, 1), put(1, 'b', 2, 20), get(2, 'b', 3, 4), get(3, 'a', 5, 6)];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  it('rejects two successful CAS from the same expected value', () => {
    const h = [put(1, 'x', 0, 1), cas(2, 'x', 'y', true, 2, 10), cas(3, 'x', 'z', true, 3, 11)];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  it('lets a timed-out write take effect or not', () => {
    expect(checkLinearizable([put(1, 'a', 0, Infinity), get(2, 'a', 5, 6)]).ok).toBe(true);
    expect(checkLinearizable([put(1, 'a', 0, Infinity), get(2, '', 5, 6)]).ok).toBe(true);
    // but not both ways: once seen, it cannot vanish
    expect(checkLinearizable([put(1, 'a', 0, Infinity), get(2, 'a', 5, 6), get(2, '', 7, 8)]).ok).toBe(false);
  });

  it('a failed cas observes the value it found', () => {
    const casF = (expect: string, current: string, call: number, ret: number): Operation => ({ client: 5, key: 'k', kind: 'cas', expect, value: 'z', ok: false, current, call, ret });
    expect(checkLinearizable([put(1, 'a', 0, 1), casF('x', 'a', 2, 3)]).ok).toBe(true);
    expect(checkLinearizable([put(1, 'a', 0, 1), casF('x', 'b', 2, 3)]).ok).toBe(false);
  });

  it('stays fast with many timed-out writes, and still catches what they cannot explain', () => {
    const h: Operation[] = [];
    for (let i = 0; i < 200; i++) h.push(put(i, `u${i}`, i, Infinity));
    h.push(get(996, 'u7', 290, 291), put(999, 'seen', 300, 301), get(998, 'seen', 302, 303));
    const r = checkLinearizable(h);
    expect(r.ok).toBe(true); // u7 took effect before 291, "seen" later
    expect(r.explored).toBeLessThan(10_000);
    h.push(get(997, 'u7', 304, 305));
    expect(checkLinearizable(h).ok).toBe(false); // u7 cannot come back after "seen" was read
  });

  it('checks keys independently', () => {
    const h = [put(1, 'a', 0, 1, 'k1'), get(2, '', 2, 3, 'k2'), get(2, 'a', 4, 5, 'k1')];
    expect(checkLinearizable(h).ok).toBe(true);
    const bad = [put(1, 'a', 0, 1, 'k1'), get(2, 'a', 2, 3, 'k2')];
    const r = checkLinearizable(bad);
    expect(r.ok).toBe(false);
    expect(r.key).toBe('k2');
  });

  it('handles a larger concurrent history in reasonable search', () => {
    const h: Operation[] = [];
    // 12 concurrent writers of distinct values, then a read of one of them.
    for (let i = 0; i < 12; i++) h.push(put(i, `v${i}`, i, 100 + i));
    h.push(get(99, 'v7', 200, 201));
    const r = checkLinearizable(h);
    expect(r.ok).toBe(true);
    h.push(get(99, 'v3', 202, 203));
    expect(checkLinearizable(h).ok).toBe(false);
  });
});
