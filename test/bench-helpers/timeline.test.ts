// The converge bench's timeline: stages read from pino lines of several logs, kept to a phase's
// window, in stage order, with torn or foreign lines skipped; CPU of a live process from /proc.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatStages, processCpuMs, readLogLines, stageTimes } from './timeline.js';

const dir = mkdtempSync(join(tmpdir(), 'shoalcv-timeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (time: number, msg: string, extra: object = {}): string => JSON.stringify({ level: 30, time, msg, ...extra });

describe('timeline', () => {
  it('finds each stage first and last inside the window, across logs', () => {
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    writeFileSync(a, [line(900, 'container started'), line(1010, 'reconciled service'), line(1050, 'task state changed', { state: 256 }), line(1200, 'container started'), '{"time":12', 'not json'].join('\n'));
    writeFileSync(b, [line(1060, 'task state changed', { state: 256 }), line(1100, 'container started'), line(1150, 'task state changed', { state: 512 }), line(2500, 'container started')].join('\n'));
    const lines = readLogLines([a, b, join(dir, 'missing.log')]);
    expect(lines).toHaveLength(8);
    const st = stageTimes(lines, 1000, 2000);
    expect(st).toEqual([
      { name: 'orchestrator reconciled', count: 1, firstMs: 10, lastMs: 10 },
      { name: 'agent accepted', count: 2, firstMs: 50, lastMs: 60 },
      { name: 'container started', count: 2, firstMs: 100, lastMs: 200 },
      { name: 'agent RUNNING', count: 1, firstMs: 150, lastMs: 150 },
    ]);
    expect(formatStages('create', 1000, st).split('\n')[2]).toMatch(/agent accepted\s+x2\s+50 \.\.\s+60 ms/);
  });

  it('reads the CPU a process used, and 0 for one that is gone', () => {
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += i;
    expect(x).toBeGreaterThan(0);
    expect(processCpuMs(process.pid)).toBeGreaterThan(0);
    expect(processCpuMs(2 ** 22 + 12345)).toBe(0);
  });
});
