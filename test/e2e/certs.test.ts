// Certificate renewal and role changes in the lab (1 manager + 1 worker, real daemons): node
// certificates last 30 s (the daemons' test-only SHOAL_NODE_CERT_EXPIRY_MS), so the worker
// renews within the test. Its certificate serial changes before the old one expires; after that
// expiry it is still Ready and still gets assignments; promotion and demotion follow the session
// messages; and the CA signs only renewals and role changes, not a CSR per node every 3 s.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateInfo } from '../../manager/ca/index.js';
import { NodeRole } from '../../proto/gen/types.js';
import { TestCluster, until } from './cluster.js';

const EXPIRY_MS = 30_000;
let c: TestCluster;
let workerId = '';
let managerId = '';

beforeAll(async () => {
  process.env.SHOAL_NODE_CERT_EXPIRY_MS = String(EXPIRY_MS); // inherited by the lab's daemons
  c = await TestCluster.up({ name: 'shoalcre2e', subnet: '10.231.64.0/24', hosts: 2 });
}, 120_000);

afterAll(async () => {
  delete process.env.SHOAL_NODE_CERT_EXPIRY_MS;
  await c?.down();
}, 120_000);

async function certOf(host: string): Promise<ReturnType<typeof certificateInfo>> {
  return certificateInfo(await readFile(join(c.host(host).root, 'certificates', 'node.crt'), 'utf8'));
}

/** The manager's log lines for certificates it signed ({ node, role, renewal, serial }). */
async function signings(): Promise<{ node: string; role: string; renewal: boolean; serial: string; time: number }[]> {
  const text = await readFile(join(c.host('h1').root, '..', 'daemon-h1.log'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.includes('"signed node certificate"'))
    .map((l) => JSON.parse(l) as { node: string; role: string; renewal: boolean; serial: string; time: number });
}

async function nodeState(hostname: string, via = 'h1'): Promise<{ state: number; role: NodeRole } | undefined> {
  const r = await c.control<{ nodes: { description?: { hostname: string }; status?: { state: number }; role: NodeRole }[] }>(via, 'listNodes', {});
  const n = r.nodes.find((x) => x.description?.hostname === hostname);
  return n && { state: n.status?.state ?? 0, role: n.role };
}

describe('e2e: certificate renewal and role changes without polling the CA', () => {
  it('the worker renews before its certificate expires and keeps working after that expiry', async () => {
    for (const h of ['h1', 'h2']) await c.start(h);
    const init = await c.init('h1');
    managerId = init.nodeId;
    workerId = (await c.join('h2', init.workerToken, 'h1')).nodeId;
    await until(async () => (await nodeState('h2'))?.state === 2, 'worker ready');

    const first = await certOf('h2');
    expect(first.nodeId).toBe(workerId);
    expect(first.role).toBe('worker');
    expect(first.notAfterMs - first.notBeforeMs).toBeLessThan(2 * EXPIRY_MS); // the knob reached the CA
    const second = await until(async () => {
      const now = await certOf('h2');
      return now.serial !== first.serial ? now : undefined;
    }, 'a renewed worker certificate', 2 * EXPIRY_MS);
    expect(Date.now()).toBeLessThan(first.notAfterMs); // renewed before the old one expired
    expect(second.nodeId).toBe(workerId);
    expect(second.notAfterMs).toBeGreaterThan(first.notAfterMs);

    // past the first certificate's end: the worker is Ready and still gets work
    while (Date.now() < first.notAfterMs + 2_000) await new Promise((r) => setTimeout(r, 250));
    expect((await nodeState('h2'))?.state).toBe(2);
    expect((await c.info('h2')).state).toBe('active');
    await c.createService('h1', 'shoalcr-after-expiry', { replicas: 2, constraints: ['node.role==worker'] });
    const running = await until(async () => {
      const r = await c.running('h1', 'shoalcr-after-expiry');
      return r.length === 2 ? r : undefined;
    }, 'two tasks running on the worker', 60_000);
    expect(running.every((t) => t.node === 'h2')).toBe(true);
  }, 180_000);

  it('the CA signs renewals only (no CSR per node every few seconds)', async () => {
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 20_000));
    const window = (await signings()).filter((s) => s.time >= from);
    // a 30 s certificate is renewed at 50-80% of its ~33 s: at most two in 20 s per node (three
    // if a slow answer made it ask again); the manager's own certificate from init has the same
    // lifetime, so it renews too; polling every 3 s would be about 7 a node
    const of = (id: string) => window.filter((s) => s.node === id);
    expect(of(workerId).length).toBeLessThanOrEqual(3);
    expect(of(managerId).length).toBeLessThanOrEqual(3);
    expect(window.every((s) => s.renewal && s.role === (s.node === workerId ? 'worker' : 'manager') && (s.node === workerId || s.node === managerId))).toBe(true);
  }, 60_000);

  it('promote and demote follow the session messages, one certificate each', async () => {
    const setRole = (desiredRole: NodeRole): Promise<void> => c.updateNodeSpec('h1', workerId, (spec) => ({ ...spec, desiredRole }));
    const before = (await signings()).length;
    await setRole(NodeRole.MANAGER);
    await until(async () => {
      const i = await c.info('h2');
      return i.role === NodeRole.MANAGER && i.managers.length === 2 && (await c.info('h1')).managers.length === 2;
    }, 'h2 a raft member', 60_000);
    expect((await certOf('h2')).role).toBe('manager');
    const promoted = (await signings()).slice(before);
    expect(promoted.some((s) => s.node === workerId && s.role === 'manager')).toBe(true);

    await setRole(NodeRole.WORKER);
    await until(async () => {
      const i = await c.info('h2');
      return i.role === NodeRole.WORKER && (await c.info('h1')).managers.length === 1;
    }, 'h2 a worker again', 60_000);
    expect((await certOf('h2')).role).toBe('worker');
    await until(async () => (await nodeState('h2'))?.state === 2 && (await nodeState('h2'))?.role === NodeRole.WORKER, 'h2 ready as a worker');
    // the tasks constrained to workers are back on h2
    await until(async () => (await c.running('h1', 'shoalcr-after-expiry')).length === 2, 'tasks running again', 60_000);
  }, 180_000);

  it('the leader, whose agent session is to itself, learns its own demotion', async () => {
    await c.updateNodeSpec('h1', workerId, (spec) => ({ ...spec, desiredRole: NodeRole.MANAGER }));
    await until(async () => (await c.info('h2')).role === NodeRole.MANAGER && (await c.info('h1')).managers.length === 2, 'h2 a manager again', 60_000);
    expect(await c.leader(['h1', 'h2'])).toBe('h1');
    await c.updateNodeSpec('h1', managerId, (spec) => ({ ...spec, desiredRole: NodeRole.WORKER }));
    await until(async () => {
      const [i1, i2] = await Promise.all([c.info('h1'), c.info('h2')]);
      return i1.role === NodeRole.WORKER && i2.isLeader && i2.managers.length === 1;
    }, 'h1 a worker, h2 the only manager', 60_000);
    expect((await certOf('h1')).role).toBe('worker');
    await until(async () => (await nodeState('h1', 'h2'))?.state === 2 && (await nodeState('h1', 'h2'))?.role === NodeRole.WORKER, 'h1 ready as a worker');
  }, 180_000);
});
