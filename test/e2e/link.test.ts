// Links cut in the lab while the host's daemon and containers keep running, on 3 managers + 2
// workers: a worker silently partitioned (its frames dropped by the switch), the leader's cable
// pulled (its switch port down). A worker: the managers mark it down and
// replace its tasks elsewhere; when the link comes back its agent reconnects by itself and stops
// the tasks that were replaced, so the service's running containers over all hosts equal its
// replica count (no duplicates). The leader: the other managers elect another, the agents that
// were in session with it stop hearing its heartbeat answers and move to the new leader, and
// when the link comes back it rejoins as a follower and its replaced task stops.
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_SERVICE_NAME } from '../../agent/executor/index.js';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { NodeStatus_State, type Node } from '../../proto/gen/types.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;
const hosts = ['h1', 'h2', 'h3', 'h4', 'h5'];
const managers = ['h1', 'h2', 'h3'];
const REPLICAS = 5;

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoallvlink', subnet: '10.231.63.0/24', hosts: 5 });
  await c.form(3);
  await c.createService('h1', 'web', { replicas: REPLICAS });
  await until(async () => (await c.running('h1', 'web')).length === REPLICAS, 'web 5/5');
}, 240_000);

afterAll(async () => {
  await c?.down(); // also removes the switch, cut port and all
}, 120_000);

/** Running containers of a service on a host, from its runtime's records and live supervisors. */
async function live(host: string, service: string): Promise<number> {
  const h = c.host(host);
  const rt = new ContainerRuntime({ stateDir: join(h.run, 'containers'), cgroupParent: h.cgroupParent, logger: pino({ level: 'silent' }) });
  return (await rt.list()).filter((x) => x.state === 'running' && x.spec.labels?.[LABEL_SERVICE_NAME] === service).length;
}

async function liveTotal(service: string): Promise<number> {
  return (await Promise.all(hosts.map((h) => live(h, service)))).reduce((a, b) => a + b, 0);
}

async function nodeState(via: string, host: string): Promise<NodeStatus_State | undefined> {
  const nodes = (await c.control<{ nodes: Node[] }>(via, 'listNodes', {})).nodes;
  return nodes.find((n) => n.description?.hostname === host)?.status?.state;
}

/** Cuts a host's link, runs fn, and always restores the link. */
async function whileCut(host: string, mode: 'down' | 'drop', fn: () => Promise<void>): Promise<void> {
  await c.lab.cutLink(host, { mode });
  try {
    expect(await c.lab.linkUp(host)).toBe(false);
    await fn();
  } finally {
    await c.lab.restoreLink(host);
  }
}

describe('e2e: links cut and restored', () => {
  it('a worker: down and its tasks replaced while cut; after restore it reconnects and no replica runs twice', async () => {
    const onH5 = await live('h5', 'web');
    expect(onH5).toBeGreaterThan(0);
    await whileCut('h5', 'drop', async () => {
      await until(async () => (await nodeState('h1', 'h5')) === NodeStatus_State.DOWN, 'h5 down', 60_000);
      await until(async () => {
        const r = await c.running('h1', 'web');
        return r.length === REPLICAS && r.every((t) => t.node !== 'h5');
      }, 'web replaced away from h5', 60_000);
      // a longer silent outage: the agent's attempts to reach a manager hang meanwhile (nothing
      // answers, nothing fails fast), and it must still come back by itself once the link does
      await new Promise((r) => setTimeout(r, 8_000));
      // cut off, h5 cannot learn that: its containers still run, one replica too many overall
      expect(await live('h5', 'web')).toBe(onH5);
      expect(await liveTotal('web')).toBe(REPLICAS + onH5);
    });

    await until(async () => (await nodeState('h1', 'h5')) === NodeStatus_State.READY, 'h5 ready again', 60_000);
    await until(async () => (await liveTotal('web')) === REPLICAS, 'exactly 5 web containers over all hosts', 60_000);
    const r = await c.running('h1', 'web');
    expect(r.length).toBe(REPLICAS);
    expect(new Set(r.map((t) => t.id)).size).toBe(REPLICAS);
  }, 240_000);

  it('the leader: another is elected, the agents move to it; restored, it follows and its replaced task stops', async () => {
    const old = await c.leader(managers);
    const rest = managers.filter((m) => m !== old);
    await whileCut(old, 'down', async () => {
      const next = await c.leader(rest, 30_000);
      expect(next).not.toBe(old);
      // the workers' agents leave the silent leader for the new one and stay (or become) ready
      await until(async () => {
        const states = await Promise.all(['h4', 'h5'].map((w) => nodeState(next, w).catch(() => undefined)));
        return states.every((s) => s === NodeStatus_State.READY);
      }, 'workers ready under the new leader', 60_000);
      await until(async () => {
        const r = await c.running(next, 'web').catch(() => []);
        return r.length === REPLICAS && r.every((t) => t.node !== old);
      }, 'web replaced away from the cut leader', 60_000);
    });

    await c.leader(managers, 60_000);
    await until(async () => (await nodeState(rest[0]!, old)) === NodeStatus_State.READY, 'the old leader ready again', 60_000);
    await until(async () => (await liveTotal('web')) === REPLICAS, 'exactly 5 web containers over all hosts', 60_000);
    const infos = await Promise.all(managers.map((m) => c.info(m)));
    expect(infos.map((i) => i.managers.length)).toEqual([3, 3, 3]);
  }, 240_000);
});
