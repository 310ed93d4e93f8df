// A worker's link cut in the lab (its switch port down, as a pulled cable) while its daemon and
// containers keep running: the managers mark it down and replace its tasks elsewhere; when the
// link comes back its agent reconnects by itself and stops the tasks that were replaced, so the
// service's running containers over all hosts equal its replica count (no duplicates).
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_SERVICE_NAME } from '../../agent/executor/index.js';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { NodeStatus_State, type Node } from '../../proto/gen/types.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;
const hosts = ['h1', 'h2', 'h3'];

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoallvlink', subnet: '10.231.63.0/24', hosts: 3 });
  await c.form(1);
  await c.createService('h1', 'web', { replicas: 3 });
  await until(async () => (await c.running('h1', 'web')).length === 3, 'web 3/3');
}, 180_000);

afterAll(async () => {
  await c?.down(); // also removes the switch, cut port and all
}, 120_000);

/** Running containers of a service on a host, from its runtime's records and live supervisors. */
async function live(host: string, service: string): Promise<number> {
  const h = c.host(host);
  const rt = new ContainerRuntime({ stateDir: join(h.run, 'containers'), cgroupParent: h.cgroupParent, logger: pino({ level: 'silent' }) });
  return (await rt.list()).filter((x) => x.state === 'running' && x.spec.labels?.[LABEL_SERVICE_NAME] === service).length;
}

async function liveEverywhere(service: string): Promise<number[]> {
  return Promise.all(hosts.map((h) => live(h, service)));
}

async function nodeState(host: string): Promise<NodeStatus_State | undefined> {
  const nodes = (await c.control<{ nodes: Node[] }>('h1', 'listNodes', {})).nodes;
  return nodes.find((n) => n.description?.hostname === host)?.status?.state;
}

describe('e2e: a worker link cut and restored', () => {
  it('node down and tasks replaced while cut; after restore the agent reconnects and no replica runs twice', async () => {
    await until(async () => (await c.running('h1', 'web')).some((t) => t.node === 'h3'), 'a web task on h3');
    const onH3 = await live('h3', 'web');
    expect(onH3).toBeGreaterThan(0);

    await c.lab.cutLink('h3');
    try {
      expect(await c.lab.linkUp('h3')).toBe(false);
      await until(async () => (await nodeState('h3')) === NodeStatus_State.DOWN, 'h3 down', 60_000);
      await until(async () => {
        const r = await c.running('h1', 'web');
        return r.length === 3 && r.every((t) => t.node !== 'h3');
      }, 'web replaced away from h3', 60_000);
      // a longer outage: the agent's attempts to reach a manager fail meanwhile (connects time
      // out), and it must still come back by itself once the link does
      await new Promise((r) => setTimeout(r, 8_000));
      // cut off, h3 cannot learn that: its containers still run, one replica too many overall
      expect(await live('h3', 'web')).toBe(onH3);
      expect((await liveEverywhere('web')).reduce((a, b) => a + b, 0)).toBe(3 + onH3);
    } finally {
      await c.lab.restoreLink('h3');
    }

    await until(async () => (await nodeState('h3')) === NodeStatus_State.READY, 'h3 ready again', 60_000);
    await until(async () => (await liveEverywhere('web')).reduce((a, b) => a + b, 0) === 3, 'exactly 3 web containers over all hosts', 60_000);
    const r = await c.running('h1', 'web');
    expect(r.length).toBe(3);
    expect(new Set(r.map((t) => t.id)).size).toBe(3);
    expect((await liveEverywhere('web')).reduce((a, b) => a + b, 0)).toBe(3);
  }, 240_000);
});
