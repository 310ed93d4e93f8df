// Issue 12: an undo that fails is logged with what it undid and counted, never dropped. The
// failure is real: a cgroup kept busy by a live process, left by a create() that a crash cut short.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { detectCgroups, type Cgroup } from '../../../agent/runtime/cgroups/index.js';
import { undoFailures } from '../../../proto/undo.js';

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});
const logger = pino({ level: 'info' }, sink);
const cgroups = detectCgroups({ logger });
const root = mkdtempSync(join(tmpdir(), 'shoalrt-undo-'));
const parent = `shoalrt-undo-${process.pid}`;
const id = 'ab'.repeat(32);
let sleeper: ChildProcess;
let cg: Cgroup;

beforeAll(async () => {
  const stateDir = join(root, 'state');
  // what a create() killed mid-way leaves: a container directory without container.json, old enough
  mkdirSync(join(stateDir, id), { recursive: true });
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(join(stateDir, id), old, old);
  cg = await cgroups.create(`${parent}/${id}`, {});
  sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  await cg.addProcess(sleeper.pid!);
});

afterAll(async () => {
  sleeper.kill('SIGKILL');
  await cg.killAll();
  await cg.remove();
  await cgroups.open(parent)?.remove();
  rmSync(root, { recursive: true, force: true });
});

describe('undo failures', () => {
  it('a cgroup that cannot be removed is logged with the container and counted', async () => {
    const before = undoFailures();
    const rt = new ContainerRuntime({ stateDir: join(root, 'state'), cgroupParent: parent, cgroups, logger });
    await rt.adopt(); // sweeps the interrupted create
    expect(undoFailures()).toBe(before + 1);
    const failed = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('undo failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, container: id, msg: `undo failed: remove cgroup ${parent}/${id} of an interrupted create` });
    expect(String(failed[0]!.err)).toMatch(/processes .*still in it/);
    expect(cg.paths.length).toBeGreaterThan(0);
    expect(await cg.pids()).toContain(sleeper.pid);
  });
});
