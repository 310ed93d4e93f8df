// The log layers: MemoryLogStorage bounds and compaction, RaftLog conflict handling.
import { describe, expect, it } from 'vitest';
import { CompactedError, MemoryLogStorage, UnavailableError, type Entry } from '../../../manager/raft/index.js';
import { RaftLog } from '../../../manager/raft/log/raft-log.js';
import { Inflights } from '../../../manager/raft/tracker/inflights.js';

const ent = (term: number, index: number, data = ''): Entry => ({ term: BigInt(term), index: BigInt(index), type: 0, data: Buffer.from(data) });
const terms = (es: Entry[]): string => es.map((e) => `${e.term}/${e.index}`).join(' ');

function logWith(termsByIndex: number[]): RaftLog {
  const st = new MemoryLogStorage();
  st.append(termsByIndex.map((t, i) => ent(t, i + 1)));
  return new RaftLog(st);
}

describe('MemoryLogStorage', () => {
  it('serves ranges, refuses compacted and unavailable ones, truncates conflicts', () => {
    const st = new MemoryLogStorage();
    st.append([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4)]);
    expect(terms(st.entries(2n, 4n, 1e9))).toBe('1/2 2/3');
    expect(st.entries(1n, 5n, 1).length).toBe(1); // size limit keeps at least one
    st.append([ent(3, 3)]);
    expect(st.lastIndex()).toBe(3n);
    expect(st.term(3n)).toBe(3n);
    st.createSnapshot(2n, undefined, Buffer.from('sm'));
    st.compact(2n);
    expect(st.firstIndex()).toBe(3n);
    expect(() => st.term(1n)).toThrow(CompactedError);
    expect(() => st.entries(2n, 3n, 1e9)).toThrow(CompactedError);
    expect(() => st.term(9n)).toThrow(UnavailableError);
    expect(st.term(2n)).toBe(1n); // the compaction point keeps its term
  });
});

describe('RaftLog', () => {
  it('findConflict returns the first differing or new index', () => {
    const l = logWith([1, 1, 2]);
    expect(l.findConflict([ent(1, 1), ent(1, 2)])).toBe(0n);
    expect(l.findConflict([ent(1, 2), ent(3, 3)])).toBe(3n);
    expect(l.findConflict([ent(2, 3), ent(2, 4)])).toBe(4n);
  });

  it('findConflictByTerm skips a whole term', () => {
    const l = logWith([1, 1, 2, 2, 2, 5, 5]);
    expect(l.findConflictByTerm(7n, 3n)).toEqual({ index: 5n, term: 2n });
    expect(l.findConflictByTerm(7n, 5n)).toEqual({ index: 7n, term: 5n });
    expect(l.findConflictByTerm(4n, 1n)).toEqual({ index: 2n, term: 1n });
    expect(l.findConflictByTerm(3n, 0n)).toEqual({ index: 0n, term: 0n });
  });

  it('maybeAppend truncates a conflicting suffix but never committed entries', () => {
    const l = logWith([1, 1, 1, 1]);
    l.commitTo(2n);
    expect(l.maybeAppend(2n, 1n, 3n, [ent(2, 3)])).toBe(3n);
    expect(l.lastIndex()).toBe(3n);
    expect(terms(l.unstableEntries())).toBe('2/3');
    expect(l.committed).toBe(3n);
    expect(l.maybeAppend(3n, 9n, 3n, [ent(9, 4)])).toBeUndefined(); // mismatch at prev
    expect(() => l.maybeAppend(1n, 1n, 3n, [ent(5, 2)])).toThrow(/conflicts with committed/);
  });

  it('isUpToDate compares last term, then length', () => {
    const l = logWith([1, 2, 2]);
    expect(l.isUpToDate(3n, 2n)).toBe(true);
    expect(l.isUpToDate(2n, 2n)).toBe(false);
    expect(l.isUpToDate(1n, 3n)).toBe(true);
    expect(l.isUpToDate(9n, 1n)).toBe(false);
  });

  it('maybeCommit only counts entries of the current term (Figure 8)', () => {
    const l = logWith([1, 1, 2]);
    expect(l.maybeCommit(2n, 2n)).toBe(false);
    expect(l.maybeCommit(3n, 2n)).toBe(true);
    expect(l.committed).toBe(3n);
  });
});

describe('Inflights', () => {
  it('bounds the window and frees in order', () => {
    const f = new Inflights(3);
    f.add(5n, 10); f.add(7n, 10); f.add(9n, 10);
    expect(f.full()).toBe(true);
    expect(() => f.add(11n, 1)).toThrow();
    f.freeLE(7n);
    expect(f.count).toBe(1);
    f.add(11n, 1); f.add(12n, 1);
    expect(f.full()).toBe(true);
    f.freeFirstOne();
    expect(f.count).toBe(2);
    f.freeLE(100n);
    expect(f.count).toBe(0);
  });
});
