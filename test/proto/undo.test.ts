// Issue 12: the helper every undo goes through. "Already done" codes are success; any other
// failure is logged with what was undone and counted; reads rethrow what is not absence.
// The failures are real: a file on a read-only mount (EROFS), a path that is not there (ENOENT).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bestEffort, unless, unlessAborted, undoFailures } from '../../proto/undo.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-undo-'));
const ro = join(dir, 'ro');
const lines: Record<string, unknown>[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  }),
);

beforeAll(() => {
  execFileSync('mkdir', ['-p', ro]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'shoal-undo-test', ro]);
  writeFileSync(join(ro, 'kept'), 'x');
  execFileSync('mount', ['-o', 'remount,ro', ro]);
});
afterAll(() => {
  execFileSync('umount', [ro]);
  rmSync(dir, { recursive: true, force: true });
});

describe('bestEffort', () => {
  it('an undo that finds its object gone is success: not logged, not counted', async () => {
    const before = undoFailures();
    await bestEffort(unlink(join(dir, 'never-made')), ['ENOENT'], { what: 'remove never-made', log });
    expect(undoFailures()).toBe(before);
    expect(lines).toHaveLength(0);
  });

  it('an undo that fails otherwise (EROFS) is logged with what and ids, and counted', async () => {
    const before = undoFailures();
    const r = await bestEffort(unlink(join(ro, 'kept')), ['ENOENT'], { what: 'remove kept', log, ids: { task: 't1', service: 's1' } });
    expect(r).toBeUndefined();
    expect(undoFailures()).toBe(before + 1);
    expect(lines.at(-1)).toMatchObject({ level: 50, msg: 'undo failed: remove kept', task: 't1', service: 's1', code: 'EROFS' });
  });

  it('runs a function undo too, including one that throws synchronously', async () => {
    const before = undoFailures();
    await bestEffort(
      () => {
        throw Object.assign(new Error('busy'), { code: 'EBUSY' });
      },
      ['ENOENT'],
      { what: 'rmdir cgroup', log },
    );
    expect(undoFailures()).toBe(before + 1);
  });
});

describe('unless', () => {
  it('absence is undefined; any other failure is raised', async () => {
    expect(await unless(readFile(join(dir, 'absent')), ['ENOENT'])).toBeUndefined();
    await expect(unless(readFile(dir), ['ENOENT'])).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe('unlessAborted', () => {
  it('ends quietly when the signal aborted, and raises a failure that is not an abort', async () => {
    const ac = new AbortController();
    const waiting = unlessAborted(sleep(60_000, undefined, { signal: ac.signal }), ac.signal);
    ac.abort();
    await expect(waiting).resolves.toBeUndefined();
    await expect(unlessAborted(Promise.reject(new Error('store read failed')), new AbortController().signal)).rejects.toThrow('store read failed');
  });
});
