// Services on a 3-manager + 2-worker lab cluster with real containers, driven through the Control
// API on the hosts' local sockets: replicated and global converge, scale up and down, drain
// moves tasks away, constraints and reservations are respected, what cannot be placed stays
// pending with its reason, and a worker's socket refuses cluster commands clearly.
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../proto/gen/types.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoale2es', subnet: '10.231.8.0/24', hosts: 5 });
  await c.form();
}, 180_000);

afterAll(async () => {
  await c?.down();
}, 120_000);

const count = async (svc: string, via = 'h1'): Promise<number> => (await c.running(via, svc)).length;

describe('e2e: services', () => {
  it('replicated: converges, scales up and down', async () => {
    await c.createService('h2', 'web', { replicas: 6 }); // through a follower
    await until(async () => (await count('web')) === 6, 'web 6/6');
    const nodes = new Set((await c.running('h1', 'web')).map((t) => t.node));
    expect(nodes.size).toBe(5); // spread over every node
    await c.scale('h3', 'web', 9);
    await until(async () => (await count('web')) === 9, 'web 9/9');
    await c.scale('h1', 'web', 2);
    await until(async () => (await count('web')) === 2 && (await c.tasks('h1', 'web')).filter((t) => t.desiredState === TaskState.RUNNING).length === 2, 'web 2/2');
  }, 180_000);

  it('global: one task per node; drain moves tasks away', async () => {
    await c.createService('h1', 'agent', { global: true });
    await until(async () => (await count('agent')) === 5, 'agent on 5 nodes');
    await c.scale('h1', 'web', 5);
    await until(async () => (await count('web')) === 5, 'web 5/5');
    await c.updateNodeSpec('h1', 'h4', (spec) => ({ ...spec, availability: 2 }));
    await until(async () => {
      const web = await c.running('h1', 'web');
      const ag = await c.running('h1', 'agent');
      return web.length === 5 && !web.some((t) => t.node === 'h4') && ag.length === 4 && !ag.some((t) => t.node === 'h4');
    }, 'h4 drained');
  }, 180_000);

  it('constraints and reservations; unplaceable tasks stay pending with a reason', async () => {
    await c.createService('h1', 'pinned', { replicas: 3, constraints: ['node.hostname==h5'] });
    await until(async () => (await count('pinned')) === 3, 'pinned 3/3');
    expect(new Set((await c.running('h1', 'pinned')).map((t) => t.node))).toEqual(new Set(['h5']));

    await c.createService('h1', 'huge', { replicas: 1, reserveMemory: 1n << 50n });
    const t = await until(async () => (await c.tasks('h1', 'huge')).find((x) => x.status?.state === TaskState.PENDING && x.status.err), 'a pending reason');
    expect(t.status!.err).toMatch(/memory|resources/i);

    const bad = await c.createService('h1', 'nowhere', { constraints: ['node.colour==blue'] }).catch((e: ServiceError) => e);
    expect((bad as ServiceError).code).toBeGreaterThan(0);
  }, 180_000);

  it("a worker's local socket refuses cluster commands and names the fix", async () => {
    const err = await c.control('h4', 'listServices', {}).catch((e: ServiceError) => e);
    expect((err as ServiceError).details).toMatch(/worker.*manager/);
  });
});
