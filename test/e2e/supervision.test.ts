// Supervision on a real 3-manager lab cluster: h1's daemon runs with a fault injected into each
// of its leader components (orchestrators, task reaper, updater, allocator, scheduler: every
// store read they make throws, SHOAL_FAULT_STORE_READS=*). h1 founds the cluster and leads it
// alone at first; its components fail, are restarted with backoff, keep failing, and once h2 and
// h3 have joined, h1 hands leadership to one of them and shows itself as degraded (node ls,
// info). The healthy leader schedules and runs a service.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runShoal } from '../cli/run-shoal.js';
import { labSuite, until } from './cluster.js';

const lab = labSuite({
  name: 'shoalsve2e',
  subnet: '10.231.83.0/24',
  hosts: 3,
  managers: 3,
  tmpPrefix: 'shoalsv-',
  daemonEnv: { h1: { SHOAL_FAULT_STORE_READS: '*' } },
  upMs: 180_000,
  downMs: 120_000,
});

describe('supervision of leader components', () => {
  it('a manager whose components keep failing hands leadership to a healthy one and shows as degraded', async () => {
    const c = lab.c;
    const managers = ['h1', 'h2', 'h3'];
    const leader = await until(async () => {
      const l = await c.leader(managers, 5_000).catch(() => undefined);
      return l && l !== 'h1' ? l : undefined;
    }, 'a leader other than h1', 120_000);

    // every manager's node ls shows h1 degraded (the mark is in the replicated store)
    for (const via of managers) {
      const r = await until(async () => {
        const ls = await runShoal(['node', 'ls'], { SHOAL_RUN: c.host(via).run });
        return /(Leader|Reachable) \(degraded\)/.test(ls.stdout) ? ls : undefined;
      }, `h1 degraded in node ls via ${via}`, 60_000);
      const line = r.stdout.split('\n').find((l) => l.includes('(degraded)'))!;
      expect(line).toMatch(/Reachable \(degraded\)/); // h1, no longer the leader
      expect(r.stdout.split('\n').filter((l) => l.includes('(degraded)'))).toHaveLength(1);
    }
    const info = await runShoal(['info'], { SHOAL_RUN: c.host('h1').run });
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/Is leader: false/);
    expect(info.stdout).toMatch(/Degraded: (\S+) failed \d+ times within 60 s: injected fault: store read by \1 failed/);
    const healthy = await runShoal(['info'], { SHOAL_RUN: c.host(leader).run });
    expect(healthy.stdout).not.toMatch(/Degraded/);

    // h1 logged each component's failures with their error, and the hand-over
    const log = readFileSync(join(c.host('h1').root, '..', 'daemon-h1.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; component?: string; err?: { message?: string } });
    const failed = new Set(log.filter((l) => l.msg === 'leader component failed; restarting it').map((l) => `${l.component}: ${l.err?.message}`));
    for (const name of ['orchestrator/replicated', 'orchestrator/global', 'orchestrator/taskreaper', 'orchestrator/update', 'allocator', 'scheduler']) {
      expect(failed).toContain(`${name}: injected fault: store read by ${name} failed`);
    }
    expect(log.some((l) => l.msg === 'a leader component keeps failing: handing leadership to another manager')).toBe(true);

    // the healthy leader's scheduler places a service's tasks, and they run
    await c.createService(leader, 'sv', { replicas: 3 });
    await until(async () => ((await c.running(leader, 'sv')).length === 3 ? true : undefined), '3/3 running', 120_000);
    await c.control(leader, 'removeService', { serviceId: 'sv' });
  }, 300_000);
});
