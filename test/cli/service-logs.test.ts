// `shoal service logs` as a user runs it: the real CLI process against a real control API on a
// unix socket, whose subscribeLogs stands in for the leader's dispatcher (the dispatcher path is
// covered by test/manager/controlapi/logs.test.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Task, TaskState } from '../../proto/gen/types.js';
import type { LogsLine, SubscribeLogs } from '../../manager/controlapi/index.js';
import { startControl, type ControlHarness } from '../manager/controlapi/harness.js';
import { makeService } from '../manager/store/fixtures.js';
import { expectOneLineError, runShoal } from './service-harness.js';

let dir: string;
let control: ControlHarness;
const asked: { taskIds: string[]; follow: boolean; tail: number }[] = [];

const line = (taskId: string, nodeId: string, text: string, stream: 'stdout' | 'stderr' = 'stdout'): LogsLine => ({ taskId, nodeId, timeMs: Date.UTC(2026, 0, 2, 3, 4, 5), stream, data: Buffer.from(`${text}\n`) });

const subscribeLogs: SubscribeLogs = (req, signal) => {
  asked.push(req);
  async function* lines(): AsyncGenerator<LogsLine> {
    yield line('task1aaaaaaaaaaaaaaaa', 'node1', 'hello from one');
    yield line('task2bbbbbbbbbbbbbbbb', 'node2', 'trouble in two', 'stderr');
    if (!req.follow) return;
    yield line('task1aaaaaaaaaaaaaaaa', 'node1', 'followed line');
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  }
  return { unreachable: [], lines: lines() };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoallg-'));
  control = await startControl({ bind: `unix:${join(dir, 'shoal.sock')}`, components: false, deps: { subscribeLogs } });
  await control.store.update((tx) => {
    tx.services.create(makeService('svcweb', 'web', { replicas: 2 }));
    tx.tasks.create(Task.fromPartial({ id: 'task1aaaaaaaaaaaaaaaa', serviceId: 'svcweb', serviceName: 'web', slot: 1, nodeId: 'node1', desiredState: TaskState.RUNNING }));
    tx.tasks.create(Task.fromPartial({ id: 'task2bbbbbbbbbbbbbbbb', serviceId: 'svcweb', serviceName: 'web', slot: 2, nodeId: 'node2', desiredState: TaskState.RUNNING }));
  });
});

afterAll(async () => {
  await control?.close();
  rmSync(dir, { recursive: true, force: true });
});

const shoal = (args: string[]) => runShoal(args, { SHOAL_RUN: dir });

describe('shoal service logs', () => {
  it("prints each task's lines with Docker's prefix, stderr lines on stderr", async () => {
    const r = await shoal(['service', 'logs', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('web.1.task1aaaaaaa@alpha | hello from one\n');
    expect(r.stderr).toBe('web.2.task2bbbbbbb@beta  | trouble in two\n');
    expect(asked.at(-1)).toEqual({ taskIds: expect.arrayContaining(['task1aaaaaaaaaaaaaaaa', 'task2bbbbbbbbbbbbbbbb']), follow: false, tail: -1 });
  });

  it('passes --tail and prints timestamps with -t', async () => {
    const r = await shoal(['service', 'logs', '--tail', '5', '-t', 'svcweb']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('2026-01-02T03:04:05.000Z web.1.task1aaaaaaa@alpha | hello from one\n');
    expect(asked.at(-1)).toMatchObject({ follow: false, tail: 5 });
  });

  it('refuses an unknown service with one clear line', async () => {
    expectOneLineError(await shoal(['service', 'logs', 'nope']), /service "nope" not found.*shoal service ls/);
  });

  it('refuses a bad --tail before calling anything', async () => {
    const r = await shoal(['service', 'logs', '--tail', 'lots', 'web']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--tail/);
  });

  it('-f keeps following until Ctrl-C, then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'service', 'logs', '-f', 'web'], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, SHOAL_DEBUG: '', SHOAL_HOST: '', SHOAL_RUN: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('followed line')) resolve();
        });
        child.on('close', () => reject(new Error(`exited before the followed line: ${out}`)));
      });
      const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      child.kill('SIGINT');
      expect(await code).toBe(0);
      expect(asked.at(-1)).toMatchObject({ follow: true });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
