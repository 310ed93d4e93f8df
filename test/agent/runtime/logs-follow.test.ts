// Following a log that rotates faster than the reader polls: no record may be lost. The
// supervisor's rotation (rename live -> .1 -> .2, new live file) is replayed by hand on real
// files, so the double rotation between two polls happens every time, not only under load.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { readLogs } from '../../../agent/runtime/logs.js';

// A hook run once just before the reader's next stat of a path: it puts the writer's moves exactly
// between the reader's read that found the end of the file and its look for a rotation.
const race = vi.hoisted(() => ({ path: '', beforeStat: undefined as (() => void) | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const stat = ((path: string, opts?: object) => {
    if (race.beforeStat && String(path) === race.path) {
      const run = race.beforeStat;
      race.beforeStat = undefined;
      run();
    }
    return real.stat(path, opts);
  }) as typeof real.stat;
  return { ...real, stat, default: { ...real, stat } };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const record = (text: string): string => JSON.stringify({ time: new Date().toISOString(), stream: 'stdout', text }) + '\n';

function rotate(live: string, maxFiles: number, next: string): void {
  for (let i = maxFiles - 1; i >= 1; i--) {
    try {
      renameSync(i === 1 ? live : `${live}.${i - 1}`, `${live}.${i}`);
    } catch {
      // that older file does not exist yet
    }
  }
  writeFileSync(live, next);
}

it('follow reads every file that rotated between two polls, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoalpf-logs-'));
  dirs.push(dir);
  const live = join(dir, 'container.log');
  writeFileSync(live, record('one\n'));
  let done = false;
  const texts: string[] = [];
  for await (const e of readLogs(dir, 5, { follow: true, finished: async () => done })) {
    texts.push(e.text);
    if (texts.length === 1) {
      // two rotations before the reader looks again (it polls every 100 ms)
      rotate(live, 5, record('two\n'));
      rotate(live, 5, record('three\n'));
      writeFileSync(live, record('four\n'), { flag: 'a' });
      done = true;
    }
  }
  expect(texts).toEqual(['one\n', 'two\n', 'three\n', 'four\n']);
});

it('follow finishes the old file when the writer appended to it just before rotating', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoalpf-logs-'));
  dirs.push(dir);
  const live = join(dir, 'container.log');
  writeFileSync(live, record('one\n'));
  let done = false;
  const texts: string[] = [];
  for await (const e of readLogs(dir, 5, { follow: true, finished: async () => done })) {
    texts.push(e.text);
    if (texts.length === 1) {
      race.path = live;
      race.beforeStat = () => {
        writeFileSync(live, record('two\n'), { flag: 'a' }); // after the reader's read found the end
        rotate(live, 5, record('three\n'));
        done = true;
      };
    }
  }
  expect(race.beforeStat).toBeUndefined(); // the race was staged
  expect(texts).toEqual(['one\n', 'two\n', 'three\n']);
});
