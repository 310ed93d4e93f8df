// `init: true` in real containers: shoal-init is pid 1, the command runs as its child, signals
// from stop() reach the command, orphans are reaped, and the command's status is the container's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime, type ContainerSpec } from '../../../agent/runtime/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { collect, leftoverCgroups, leftoverMounts, makeBusyboxLayer } from './helpers.js';

let root: string;
let layer: string;
let rt: ContainerRuntime;
const cgroupParent = `shoalro-init-${process.pid}`;
const cgroups = detectCgroups({ logger: pino({ level: 'warn' }) });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalro-init-'));
  layer = makeBusyboxLayer(join(root, 'layer'));
  rt = new ContainerRuntime({ stateDir: join(root, 'state'), cgroupParent, cgroups, logger: pino({ level: 'warn' }) });
});

afterAll(async () => {
  try {
    for (const c of await rt.list()) await rt.remove(c.id, { force: true }).catch(() => undefined);
    await cgroups.open(cgroupParent)?.remove();
    expect(leftoverCgroups(cgroupParent)).toEqual([]);
    expect(leftoverMounts(root)).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

async function output(id: string): Promise<string> {
  return (await collect(rt.logs(id))).map((l) => l.text).join('');
}

async function sh(script: string, extra: Partial<ContainerSpec> = {}): Promise<{ code: number; out: string }> {
  const c = await rt.run({ rootfs: { layers: [layer] }, args: ['/bin/sh', '-c', script], init: true, ...extra });
  try {
    const exit = await rt.wait(c.id);
    return { code: exit.code, out: await output(c.id) };
  } finally {
    await rt.remove(c.id, { force: true });
  }
}

// /proc/PID/cmdline with its NULs shown as spaces
const CMDLINE = (pid: string): string => `tr '\\0' ' ' < /proc/${pid}/cmdline; echo`;

describe('init: true', () => {
  it('pid 1 is shoal-init and the command runs as its child with its own argv', async () => {
    const r = await sh(`${CMDLINE('1')}; cat /proc/1/comm; echo self=$$; grep -E "^(PPid|SigBlk)" /proc/$$/status`);
    expect(r.out).toMatch(/^shoal-init -- \/bin\/sh -c /);
    expect(r.out).toContain('\nshoal-init\n');
    const self = Number(/self=(\d+)/.exec(r.out)![1]);
    expect(self).toBeGreaterThanOrEqual(2);
    expect(r.out).toMatch(/PPid:\s+1\n/);
    // the init blocks every signal to queue them; its child must not inherit that
    expect(r.out).toContain('SigBlk:\t0000000000000000');
  });

  it('without init, the command itself is pid 1', async () => {
    const r = await sh(`${CMDLINE('1')}; echo self=$$`, { init: false });
    expect(r.out).toMatch(/^\/bin\/sh -c /);
    expect(r.out).toContain('self=1\n');
  });

  it('the init keeps the hardening of the command (user, capabilities, seccomp)', async () => {
    const r = await sh('grep -E "^(Uid|CapBnd|Seccomp):" /proc/1/status', { user: '1000', capDrop: ['ALL'] });
    expect(r.out).toMatch(/Uid:\s+1000\s/);
    expect(r.out).toContain('CapBnd:\t0000000000000000');
    expect(r.out).toContain('Seccomp:\t2');
  });

  it('SIGTERM from stop() reaches the command, whose exit status becomes the container\'s', async () => {
    const c = await rt.run({
      rootfs: { layers: [layer] },
      args: ['/bin/sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.05; done'],
      init: true,
    });
    try {
      for (let i = 0; i < 400 && !(await output(c.id)).includes('ready'); i++) await sleep(25);
      // were the signal lost, the grace period would end in SIGKILL (137), well within the test's time
      const exit = await rt.stop(c.id, { graceMs: 20_000 });
      expect(exit?.code).toBe(7);
      expect(await output(c.id)).toContain('got-term');
    } finally {
      await rt.remove(c.id, { force: true });
    }
  });

  it('a command killed by a signal exits the container with 128 + signal', async () => {
    const r = await sh('kill -KILL $$');
    expect(r.code).toBe(137);
    expect((await sh('exit 3')).code).toBe(3);
  });

  it('an orphan is adopted and reaped by the init', async () => {
    const r = await sh(
      'sh -c "sleep 0.3 & echo \\$! > /tmp/orphan"; sleep 0.1; p=$(cat /tmp/orphan); grep PPid /proc/$p/status; ' +
        'sleep 1; if [ -e /proc/$p ]; then grep State /proc/$p/status; else echo reaped; fi',
    );
    expect(r.out).toMatch(/PPid:\s+1\n/);
    expect(r.out).toContain('reaped\n');
  });

  it('exec joins a container run under the init; what it leaves behind is reaped there', async () => {
    const c = await rt.run({ rootfs: { layers: [layer] }, args: ['sleep', '30'], init: true });
    try {
      const r = await rt.exec(c.id, { args: ['sh', '-c', `${CMDLINE('1')}; sleep 0.3 & echo $! > /tmp/left`] });
      expect(r.stdout).toBe('shoal-init -- sleep 30 \n');
      const left = (await rt.exec(c.id, { args: ['cat', '/tmp/left'] })).stdout.trim();
      let state = '';
      for (let i = 0; i < 100; i++) {
        state = (await rt.exec(c.id, { args: ['sh', '-c', `grep State /proc/${left}/status 2>/dev/null || echo gone`] })).stdout;
        if (state.includes('gone')) break;
        await sleep(50);
      }
      expect(state).toBe('gone\n');
    } finally {
      await rt.remove(c.id, { force: true });
    }
  });

  it('a command that is not there fails the start, as without init', async () => {
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['shoalro-no-such-command'], init: true })).rejects.toThrow(/not found/);
  });
});
