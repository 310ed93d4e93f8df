// Three managers in one process over real gRPC on loopback, real WAL directories: the Raft-backed
// store replicates, leader-only components follow leadership, writes without quorum are refused
// and change nothing, and a full restart recovers the state from disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NodeRole } from '../../proto/gen/types.js';
import { Manager, NoLeaderError, NoQuorumError, NotLeaderError } from '../../manager/node/index.js';

const dirs: string[] = [];
let running: Manager[] = [];
const log = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
const base = 21000 + Math.floor(Math.random() * 20000);
const ids = [1n, 2n, 3n];
const addr = (i: number): string => `127.0.0.1:${base + i * 2}`;
const members = new Map(ids.map((id, i) => [id, addr(i)]));

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shoaldm-'));
  dirs.push(d);
  return d;
}

const raftDirs = ids.map(() => dir());

async function startOne(i: number): Promise<Manager> {
  const m = await Manager.start({
    nodeId: `node-${i}`,
    raftId: ids[i]!,
    clusterId: 'shoaldm-cluster',
    raftDir: raftDirs[i]!,
    apiAddr: addr(i),
    members,
    raft: { requestTimeoutMs: 1_500, fsync: false },
    identify: () => ({ nodeId: `node-${i}`, role: NodeRole.MANAGER }),
    logger: log,
  });
  running.push(m);
  return m;
}

async function stopOne(m: Manager): Promise<void> {
  running = running.filter((x) => x !== m);
  await m.stop();
}

async function leaderOf(ms: Manager[]): Promise<Manager> {
  for (let i = 0; i < 400; i++) {
    const l = ms.find((m) => m.isLeader);
    if (l) return l;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no leader');
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function addNode(m: Manager, id: string): Promise<void> {
  return m.store.update((tx) => {
    tx.nodes.create({ id, spec: { desiredRole: NodeRole.WORKER, availability: 0 }, role: NodeRole.WORKER } as never);
  });
}

const nodeIds = (m: Manager): string[] => m.store.view((tx) => tx.nodes.all().map((n) => n.id)).sort();

afterEach(async () => {
  await Promise.all(running.map((m) => m.stop()));
  running = [];
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('manager/node: Raft-backed store and leader lifecycle', () => {
  it('replicates writes, runs leader-only components on the leader only, fails over, refuses writes without quorum, recovers from disk', async () => {
    const ms = await Promise.all([0, 1, 2].map(startOne));
    let leader = await leaderOf(ms);
    await addNode(leader, 'n-a');

    // linearizable read on a follower sees the write
    const follower = ms.find((m) => m !== leader)!;
    await follower.readBarrier();
    expect(nodeIds(follower)).toEqual(['n-a']);

    // a follower refuses writes and names the leader's cluster API address
    const err = await addNode(follower, 'n-b').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leaderAddr).toBe(leader.leaderApiAddr());
    expect(ms.map((m) => m.leaderApiAddr())).toEqual([0, 1, 2].map(() => addr(ms.indexOf(leader))));

    // only the leader dispatches
    await until(() => leader.dispatcher.isRunning, 'the leader dispatcher');
    expect(ms.filter((m) => m.dispatcher.isRunning)).toEqual([leader]);

    // the leader stops: another takes over with the data and starts its components
    await stopOne(leader);
    const rest = ms.filter((m) => m !== leader);
    leader = await leaderOf(rest);
    await leader.readBarrier();
    expect(nodeIds(leader)).toEqual(['n-a']);
    await addNode(leader, 'n-c');
    await until(() => leader.dispatcher.isRunning, 'the new leader dispatcher');

    // quorum lost: the last manager refuses writes cleanly and keeps its state
    const other = rest.find((m) => m !== leader)!;
    await stopOne(leader);
    await until(() => !other.isLeader, 'check-quorum step-down');
    const before = other.store.version;
    const refused = await addNode(other, 'n-d').catch((e: unknown) => e);
    expect(refused instanceof NoLeaderError || refused instanceof NoQuorumError || refused instanceof NotLeaderError).toBe(true);
    expect((refused as { userError?: boolean }).userError).toBe(true);
    expect(other.store.version).toBe(before);
    expect(nodeIds(other)).not.toContain('n-d');
    await until(() => !other.dispatcher.isRunning, 'dispatcher stop on step-down');
    await stopOne(other);

    // every manager restarts at once: state recovered from the WALs
    const again = await Promise.all([0, 1, 2].map(startOne));
    const l2 = await leaderOf(again);
    await l2.readBarrier();
    expect(nodeIds(l2)).toEqual(['n-a', 'n-c']);
    await addNode(l2, 'n-e');
    for (const m of again) {
      await m.readBarrier();
      expect(nodeIds(m)).toEqual(['n-a', 'n-c', 'n-e']);
    }
  }, 90_000);
});
