// Real managers in one process (real gRPC on loopback, real WALs): a store read that throws on
// the leader makes its leader components fail; they are restarted, and when they keep failing
// the manager records itself as degraded and hands leadership to a healthy manager, which runs
// the components. A lone manager has no one to hand over to: it stays leader, degraded, and is
// healthy again once its components have run a whole window without failing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Node, NodeRole } from '../../../proto/gen/types.js';
import { Manager } from '../../../manager/node/index.js';
import type { SupervisionPolicy } from '../../../manager/supervisor.js';
import { freePorts } from '../../helpers/ports.js';
import { makeNode, makeService } from '../store/fixtures.js';

const log = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
const dirs: string[] = [];
let running: Manager[] = [];

afterEach(async () => {
  await Promise.all(running.map((m) => m.stop()));
  running = [];
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startManagers(n: number, supervision: Partial<SupervisionPolicy>): Promise<Manager[]> {
  const raftPorts = await freePorts(n);
  const ids = raftPorts.map((_, i) => BigInt(i + 1));
  // the Raft transport listens on the port after the API address's (raftAddrFor)
  const members = new Map(ids.map((id, i) => [id, `127.0.0.1:${raftPorts[i]! - 1}`]));
  const ms = await Promise.all(
    ids.map(async (raftId, i) => {
      const raftDir = mkdtempSync(join(tmpdir(), 'shoalsd-'));
      dirs.push(raftDir);
      const m = await Manager.start({
        nodeId: `node-${i}`,
        raftId,
        clusterId: 'shoalsd-cluster',
        raftDir,
        apiAddr: members.get(raftId)!,
        members,
        raft: { requestTimeoutMs: 1_500, fsync: false },
        identify: () => ({ nodeId: `node-${i}`, role: NodeRole.MANAGER }),
        supervision,
        logger: log,
      });
      running.push(m);
      return m;
    }),
  );
  const leader = await leaderOf(ms);
  // the managers' own node records, as the daemon writes them at init and join
  await leader.store.update((tx) => {
    ms.forEach((m, i) => {
      tx.nodes.create(Node.fromPartial({ ...makeNode(`node-${i}`, { role: NodeRole.MANAGER }), managerStatus: { raftId: BigInt(i + 1), addr: m.managerAddrs()[i], reachability: 2 } }));
    });
  });
  return ms;
}

/** Polls fn until it returns something (not undefined); fails naming what never happened. */
async function until<T>(fn: () => T | undefined, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function leaderOf(ms: Manager[]): Promise<Manager> {
  return until(() => ms.find((m) => m.isLeader), 'a leader', 20_000);
}

/**
 * Store reads that throw, on this manager's replica only, until the returned function is called:
 * what every component does first (viewAndWatch) and, with `view`, what they do on each pass.
 */
function breakReads(m: Manager, which: ('viewAndWatch' | 'view')[] = ['viewAndWatch']): () => void {
  const store = m.store;
  const saved = { view: store.view.bind(store), viewAndWatch: store.viewAndWatch.bind(store) };
  const fail = (): never => {
    throw new Error('injected: store read failed');
  };
  for (const w of which) store[w] = fail;
  return () => {
    store.view = saved.view;
    store.viewAndWatch = saved.viewAndWatch;
  };
}

const degradedMark = (m: Manager, nodeId: string): string => m.store.view((tx) => tx.nodes.get(nodeId)?.managerStatus?.degraded ?? '');

describe('manager supervision', () => {
  it('a leader whose components keep failing marks itself degraded and hands leadership to a healthy manager', async () => {
    const ms = await startManagers(3, { initialDelayMs: 20, maxDelayMs: 200, maxFailures: 3, windowMs: 60_000 });
    const first = await leaderOf(ms);
    // a follower whose store reads throw is made leader: its components fail from the start
    const sick = ms.find((m) => m !== first)!;
    const sickId = `node-${ms.indexOf(sick)}`;
    breakReads(sick);
    // (a transfer can time out on a loaded machine: ask again until it has happened)
    for (let i = 0; !sick.isLeader; i++) {
      await first.raftStore.raft.transferLeadership(BigInt(ms.indexOf(sick) + 1)).catch((err: unknown) => {
        if (i >= 10) throw err;
      });
    }
    await until(() => (!first.isLeader ? true : undefined), 'the sick manager leads alone', 20_000);
    const next = await until(() => ms.find((m) => m.isLeader && m !== sick), 'another manager leads', 30_000);
    expect(sick.degraded()).toMatch(/failed 3 times within 60 s: injected: store read failed/);
    await next.readBarrier();
    expect(degradedMark(next, sickId)).toMatch(/injected: store read failed/);
    expect(next.degraded()).toBeUndefined();

    // the new leader's components work: a service gets its tasks
    await next.store.update((tx) => {
      tx.nodes.create(makeNode('worker-1'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    await until(() => next.store.view((tx) => (tx.tasks.find('service', 's1').length === 2 ? true : undefined)), 'tasks of s1 created by the new leader', 20_000);
    await until(() => (next.dispatcher.isRunning ? true : undefined), 'the new leader dispatches', 20_000);
    expect(sick.dispatcher.isRunning).toBe(false);
  }, 90_000);

  it('a lone manager stays leader while degraded, and is healthy again after a window without failures', async () => {
    const [m] = await startManagers(1, { initialDelayMs: 20, maxDelayMs: 100, maxFailures: 3, windowMs: 1_500 });
    // reads fail from now on; a new service makes the running components read (and fail)
    const heal = breakReads(m!, ['viewAndWatch', 'view']);
    await m!.store.update((tx) => tx.services.create(makeService('s1', 'web', { replicas: 1 })));
    await until(() => m!.degraded(), 'degraded', 30_000);
    expect(m!.isLeader).toBe(true);
    heal();
    await until(() => (degradedMark(m!, 'node-0') !== '' ? true : undefined), 'the mark in the store', 20_000);
    await until(() => (m!.degraded() === undefined ? true : undefined), 'healthy again', 30_000);
    expect(degradedMark(m!, 'node-0')).toBe('');
  }, 90_000);
});
