import { afterEach, describe, expect, it } from 'vitest';
import { NotLeaderError, ProposalTooLargeError } from '../../../manager/raft/index.js';
import { NodeStoppedError } from '../../../manager/raft/node/index.js';
import { Wal } from '../../../manager/raft/storage/index.js';
import { Cluster, until } from './process/cluster.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});

async function three(extra = {}): Promise<Cluster> {
  cluster = new Cluster(extra);
  await cluster.init(3);
  const founders = cluster.founders(3);
  await Promise.all([1n, 2n, 3n].map((id) => cluster!.start(id, founders)));
  return cluster;
}

const same = (c: Cluster, n: number) => () => c.running().every((m) => m.sm.items.length === n);

describe('RaftNode over gRPC with real WALs', () => {
  it('elects a leader, replicates in order, rejects followers and oversize proposals', async () => {
    const c = await three({ maxProposalBytes: 4096 });
    const l = await c.leader();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => l.node!.propose(Buffer.from(`v${i}`))));
    expect(new Set(results).size).toBe(100);
    expect(Math.max(...results)).toBe(100);
    await until(same(c, 100), 'all members applied 100');
    for (const m of c.running()) expect(m.sm.items).toEqual(l.sm.items);
    const f = c.running().find((m) => m !== l)!;
    const err = await f.node!.propose(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leader).toBe(l.id);
    await expect(l.node!.propose(Buffer.alloc(10_000))).rejects.toBeInstanceOf(ProposalTooLargeError);
    await expect(l.node!.propose(Buffer.from('poison'))).rejects.toThrow(/poison/);
    await l.node!.readIndex();
    await f.node!.readIndex();
    expect(f.sm.items.length).toBeGreaterThanOrEqual(100);
  });

  it('restarts a stopped member from its WAL and catches it up', async () => {
    const c = await three();
    let l = await c.leader();
    for (let i = 0; i < 20; i++) await l.node!.propose(Buffer.from(`a${i}`));
    const f = c.running().find((m) => m !== l)!;
    await c.stop(f.id);
    await expect(async () => f.node!.propose(Buffer.from('late'))).rejects.toThrow();
    for (let i = 0; i < 20; i++) await l.node!.propose(Buffer.from(`b${i}`));
    await c.start(f.id, c.founders(3));
    await until(same(c, 40), 'restarted member caught up');
    expect(f.sm.items).toEqual(l.sm.items);
    // the leader itself restarts: a new one takes over and nothing is lost
    await c.stop(l.id);
    await c.start(l.id, c.founders(3));
    l = await c.leader();
    await l.node!.propose(Buffer.from('after'));
    await until(same(c, 41), 'all 41');
    for (const m of c.running()) expect(m.sm.items).toEqual(l.sm.items);
  });

  it('sends a snapshot to a member that fell behind the compacted log', async () => {
    const c = await three({ snapshotEvery: 50, snapshotKeepEntries: 10 });
    const l = await c.leader();
    const f = c.running().find((m) => m !== l)!;
    await c.stop(f.id);
    for (let i = 0; i < 300; i++) await l.node!.propose(Buffer.from(`s${i}`));
    await c.start(f.id, c.founders(3));
    await until(same(c, 300), 'lagging member caught up by snapshot');
    expect(f.sm.items).toEqual(l.sm.items);
    expect(f.sm.restores).toBeGreaterThanOrEqual(2); // boot + the leader's snapshot
  });

  it('adds a learner, promotes it, transfers leadership to it, and removes a member', async () => {
    const c = await three();
    const l = await c.leader();
    for (let i = 0; i < 10; i++) await l.node!.propose(Buffer.from(`m${i}`));
    const m4 = c.members.get(4n)!;
    await c.start(4n, c.founders(4), { join: true });
    const cs = await l.node!.addMember(4n, m4.addr, { learner: true });
    expect(cs.learners).toContain(4n);
    // promoted at once: the driver waits until the leader sees the learner caught up
    const cs2 = await l.node!.promote(4n);
    expect(cs2.voters).toContain(4n);
    await until(() => m4.sm.items.length === 10, 'new voter caught up');
    await l.node!.transferLeadership(4n);
    const l2 = await c.leader();
    expect(l2.id).toBe(4n);
    await l2.node!.propose(Buffer.from('from-4'));
    const victim = [1n, 2n, 3n].find((id) => id !== l.id)!;
    const cs3 = await l2.node!.removeMember(victim);
    expect(cs3.voters).not.toContain(victim);
    await c.stop(victim);
    await l2.node!.propose(Buffer.from('after-removal'));
    await until(same(c, 12), 'remaining members applied');
    expect(m4.node!.status().members.has(victim)).toBe(false);
  });

  it('bootstraps a founder whose WAL was created but is still empty (crash during first start)', async () => {
    cluster = new Cluster();
    await cluster.init(3);
    const m1 = cluster.members.get(1n)!;
    const { wal } = await Wal.open({ dir: m1.dir, clusterId: 'shoalri-cluster', nodeId: 1n });
    await wal.close();
    const founders = cluster.founders(3);
    await Promise.all([1n, 2n, 3n].map((id) => cluster!.start(id, founders)));
    const l = await cluster.leader();
    await l.node!.propose(Buffer.from('x'));
    await until(same(cluster, 1), 'all applied');
    expect(m1.node!.status().confState?.voters).toEqual([1n, 2n, 3n]);
  });

  it('runs a single voter (commits at once) with a learner following it', async () => {
    cluster = new Cluster();
    await cluster.init(1);
    const solo = await cluster.start(1n, cluster.founders(1));
    await until(() => solo.status().role === 'leader', 'single voter elects itself');
    for (let i = 0; i < 20; i++) expect(await solo.propose(Buffer.from(`s${i}`))).toBe(i + 1);
    const m2 = cluster.members.get(2n)!;
    await cluster.start(2n, cluster.founders(2), { join: true });
    await solo.addMember(2n, m2.addr, { learner: true });
    await Promise.all(Array.from({ length: 20 }, (_, i) => solo.propose(Buffer.from(`t${i}`))));
    await until(() => m2.sm.items.length === 40, 'learner has everything');
    expect(m2.sm.items).toEqual(cluster.members.get(1n)!.sm.items);
  });

  it('with forwardProposals, a follower proposal commits through the leader and resolves locally', async () => {
    const c = await three({ forwardProposals: true });
    const l = await c.leader();
    const f = c.running().find((m) => m !== l)!;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => f.node!.propose(Buffer.from(`fwd${i}`))));
    expect(results.length).toBe(20);
    await until(same(c, 20), 'forwarded writes everywhere');
    expect(l.sm.items).toEqual(f.sm.items);
  });

  it('rejects requests after stop', async () => {
    const c = await three();
    const l = await c.leader();
    const node = l.node!;
    const inFlight = node.propose(Buffer.from('racing the stop')).catch((e: unknown) => e);
    await c.stop(l.id);
    const first = await inFlight;
    expect(first === 1 || first instanceof NodeStoppedError).toBe(true);
    await expect(node.propose(Buffer.from('x'))).rejects.toBeInstanceOf(NodeStoppedError);
    await expect(node.readIndex()).rejects.toBeInstanceOf(NodeStoppedError);
  });
});
