// Faults on a 3-manager + 2-worker lab cluster with real containers: leader SIGKILL, worker
// daemon SIGKILL and return (no duplicates), agent restart (containers re-adopted), quorum loss
// (writes refused cleanly, then resumed), every manager restarted at once (state recovered).
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;
const managers = ['h1', 'h2', 'h3'];

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoale2ef', subnet: '10.231.9.0/24', hosts: 5, heartbeatMs: 4000, disconnectGraceMs: 12_000 }); // an agent restart under load may take seconds
  await c.form();
  await c.createService('h1', 'web', { replicas: 6 });
  await until(async () => (await c.running('h1', 'web')).length === 6, 'web 6/6');
}, 180_000);

afterAll(async () => {
  await c?.down();
}, 120_000);

/** Containers really running on a host (its runtime's records and live supervisors). */
async function liveContainers(host: string): Promise<number> {
  const h = c.host(host);
  const rt = new ContainerRuntime({ stateDir: join(h.run, 'containers'), cgroupParent: h.cgroupParent, logger: pino({ level: 'silent' }) });
  return (await rt.list()).filter((x) => x.state === 'running').length;
}

describe('e2e: faults', () => {
  it('SIGKILL the leader: a new leader, the CLI path works through any manager, nothing lost', async () => {
    const old = await c.leader(managers);
    await c.kill(old, 'SIGKILL');
    const rest = managers.filter((m) => m !== old);
    await c.leader(rest);
    for (const m of rest) {
      const r = await until(() => c.control<{ services: { spec?: { annotations?: { name: string } } }[] }>(m, 'listServices', {}).catch(() => undefined), `listServices via ${m}`);
      expect(r.services.map((s) => s.spec?.annotations?.name)).toContain('web');
    }
    await c.createService(rest[1]!, 'after-failover', { replicas: 1 });
    await until(async () => (await c.running(rest[0]!, 'after-failover')).length === 1, 'after-failover 1/1');
    await c.start(old);
    await c.leader(managers);
  }, 120_000);

  it('SIGKILL a worker daemon: node down, tasks replaced; on return no duplicates', async () => {
    await c.kill('h5', 'SIGKILL');
    await until(async () => {
      const r = await c.running('h1', 'web');
      return r.length === 6 && !r.some((t) => t.node === 'h5');
    }, 'web replaced away from h5');
    await c.start('h5');
    await until(async () => (await liveContainers('h5')) === (await c.running('h1', 'web')).filter((t) => t.node === 'h5').length + (await c.running('h1', 'after-failover')).filter((t) => t.node === 'h5').length, 'h5 runs only what it is assigned');
    const r = await c.running('h1', 'web');
    expect(r.length).toBe(6);
    expect(new Set(r.map((t) => t.id)).size).toBe(6);
  }, 120_000);

  it('restart an agent: its containers keep running and are re-adopted', async () => {
    const before = (await c.running('h1', 'web')).filter((t) => t.node === 'h4').map((t) => t.id).sort();
    const live = await liveContainers('h4');
    await c.kill('h4', 'SIGTERM');
    expect(await liveContainers('h4')).toBe(live); // the daemon's stop leaves containers alone
    await c.start('h4');
    await until(async () => (await c.info('h4')).state === 'active', 'h4 active');
    await new Promise((r) => setTimeout(r, 2000));
    const after = (await c.running('h1', 'web')).filter((t) => t.node === 'h4').map((t) => t.id).sort();
    expect(after).toEqual(before);
  }, 120_000);

  it('lose quorum: writes refused cleanly; quorum back, work resumes', async () => {
    const leader = await c.leader(managers);
    const others = managers.filter((m) => m !== leader);
    const survivor = others[0]!;
    for (const m of managers.filter((x) => x !== survivor)) await c.kill(m, 'SIGKILL');
    // until the survivor notices (an election timeout), a write may fail on the dead leader's
    // connection instead; either way it is refused and nothing is written
    const err = await until(async () => {
      const e = await c.createService(survivor, 'no-quorum', { replicas: 1 }).then(() => undefined, (x: ServiceError) => x);
      expect(e).toBeDefined();
      return /quorum|leader/i.test(e!.details) ? e : undefined;
    }, 'a clear no-quorum refusal', 20_000);
    expect(err.details).toMatch(/quorum|leader/i);
    for (const m of managers.filter((x) => x !== survivor)) await c.start(m);
    await c.leader(managers, 30_000);
    const names = (await until(() => c.control<{ services: { spec?: { annotations?: { name: string } } }[] }>(survivor, 'listServices', {}).catch(() => undefined), 'list')).services.map((s) => s.spec?.annotations?.name);
    expect(names).not.toContain('no-quorum');
    await c.createService(survivor, 'with-quorum', { replicas: 1 });
    await until(async () => (await c.running('h1', 'with-quorum')).length === 1, 'with-quorum 1/1');
  }, 150_000);

  it('restart every manager at once: state recovered from disk', async () => {
    await Promise.all(managers.map((m) => c.kill(m, 'SIGKILL')));
    for (const m of managers) await c.start(m);
    await c.leader(managers, 30_000);
    await until(async () => (await c.running('h2', 'web').catch(() => [])).length === 6, 'web 6/6 after restart');
    for (const m of managers) {
      const names = (await c.control<{ services: { spec?: { annotations?: { name: string } } }[] }>(m, 'listServices', {})).services.map((s) => s.spec?.annotations?.name).sort();
      expect([m, names]).toEqual([m, ['after-failover', 'web', 'with-quorum']]);
    }
  }, 150_000);
});
