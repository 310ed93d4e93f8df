// The in-store mode of `npm run bench -- scheduler-scale --in-store [nodes] [services] [replicas]`:
// the manager's store, orchestrators, task reaper and scheduler in one process place 100 services x
// 1,000 replicas on 1,000 nodes written into the store as READY (no dispatcher, no agents, no
// gRPC). `--raft N` puts the store on N real Raft members in this process (gRPC on loopback,
// WALs with fsync in a temp dir); by default the store commits at once.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { RaftNode } from '../../../manager/raft/node/index.js';
import { Node, NodeRole, NodeStatus_State, Service } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { MemoryStore, RaftBinding } from '../../../manager/store/index.js';
import { freePorts } from '../../helpers/ports.js';

/** The bench counts every task event: its watch must not be bounded (it would drop a burst). */
const EVERY_EVENT = { maxEvents: Number.POSITIVE_INFINITY, maxBytes: Number.POSITIVE_INFINITY };

const ASSIGNED = 192;

function node(i: number): Node {
  return Node.fromPartial({
    id: `node-${String(i).padStart(5, '0')}`,
    role: NodeRole.WORKER,
    spec: { annotations: { name: '', labels: { zone: `z${i % 3}` } } },
    description: { hostname: `host-${i}`, resources: { nanoCpus: 16_000_000_000n, memoryBytes: 64n << 30n } },
    status: { state: NodeStatus_State.READY },
  });
}

export function benchService(i: number, replicas: number): Service {
  const s = Service.fromPartial({
    id: `svc-${i}`,
    specVersion: 1n,
    spec: {
      annotations: { name: `svc-${i}` },
      task: {
        container: { image: 'busybox:latest', args: ['sleep', 'infinity'] },
        resources: { reservations: { nanoCpus: 10_000_000n, memoryBytes: 16n << 20n } },
      },
    },
  });
  s.spec!.mode = { $case: 'replicated', value: { replicas } };
  return s;
}

interface RaftCluster {
  store: MemoryStore;
  close(): Promise<void>;
}

/** N Raft members in this process; resolves with the leader's store. */
async function raftCluster(n: number, clock: RealClock): Promise<RaftCluster> {
  const dir = await mkdtemp('/tmp/shoalss-bench-');
  const ports = await freePorts(n);
  const peers = new Map(ports.map((p, i) => [BigInt(i + 1), `127.0.0.1:${p}`]));
  const members: { binding: RaftBinding; node: RaftNode<bigint> }[] = [];
  const logger = pino({ level: 'warn' });
  for (const [id, addr] of peers) {
    const binding = new RaftBinding({ clock });
    const node = await RaftNode.start<bigint>({ id, clusterId: 'shoalst-bench', dir: path.join(dir, `m${id}`), listen: addr, peers, stateMachine: binding.stateMachine, logger });
    binding.attach(node);
    members.push({ binding, node });
  }
  for (;;) {
    const l = members.find((m) => m.node.status().role === 'leader');
    if (l) {
      return {
        store: l.binding.store,
        close: async () => {
          await Promise.all(members.map((m) => m.node.stop()));
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function inStoreRun(argv: string[]): Promise<void> {
  const raftAt = argv.indexOf('--raft');
  const raftMembers = raftAt >= 0 ? Number(argv[raftAt + 1] ?? 3) : 0;
  const args = raftAt >= 0 ? [...argv.slice(0, raftAt), ...argv.slice(raftAt + 2)] : argv;
  const [nodes = 1000, services = 100, replicas = 1000] = args.map(Number);
  const total = services * replicas;
  const clock = new RealClock();
  const cluster = raftMembers > 0 ? await raftCluster(raftMembers, clock) : undefined;
  const store = cluster?.store ?? new MemoryStore({ clock });
  const logger = pino({ level: 'warn' });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

  await store.update((tx) => {
    for (let i = 0; i < nodes; i++) tx.nodes.create(node(i));
  });
  const ac = new AbortController();
  const orchestrator = new ReplicatedOrchestrator(store, clock, { logger });
  const scheduler = new Scheduler(store, clock, { logger });
  // The global orchestrator and the reaper run as on a real leader, though they have little to do.
  const others = [new GlobalOrchestrator(store, clock, { logger }), new TaskReaper(store, clock, { logger })];
  const runs = [orchestrator.run(ac.signal), scheduler.run(ac.signal), ...others.map((c) => c.run(ac.signal))];

  let assigned = 0;
  const done = new Promise<void>((resolve) => {
    const w = store.watch({ filter: (e) => e.kind === 'task', limits: EVERY_EVENT });
    void (async () => {
      for await (const e of w) {
        if (e.type === 'update' && e.kind === 'task' && e.object.status?.state === ASSIGNED && e.old?.status?.state !== ASSIGNED) {
          if (++assigned === total) {
            w.close();
            resolve();
          }
        }
      }
    })();
  });

  const log = raftMembers > 0 ? `${raftMembers} in-process Raft members` : 'an in-memory store (no Raft)';
  console.log(`placing ${total} tasks of ${services} services on ${nodes} simulated nodes with ${log} (agents simulated in-store; dispatcher/gRPC not measured)`);
  const start = performance.now();
  for (let i = 0; i < services; i++) await store.update((tx) => tx.services.create(benchService(i, replicas)));
  await done;
  const secs = (performance.now() - start) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  ac.abort();
  await Promise.all(runs);
  clearInterval(sampler);
  await cluster?.close();

  const perNode = new Map<string, number>();
  store.view((tx) => {
    for (const t of tx.tasks.all()) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
  });
  const counts = [...perNode.values()];
  console.log(`placed ${assigned} tasks in ${secs.toFixed(2)} s; tasks per node min ${Math.min(...counts)} max ${Math.max(...counts)}`);
  console.log(
    JSON.stringify({
      bench: 'scheduler-scale',
      mode: 'in-store',
      tasks_per_s: Math.round(total / secs),
      peak_rss_mb: Math.round(peakRss / 2 ** 20),
      nodes,
      tasks: total,
      raft_members: raftMembers,
      simulated_agents: 'in-store',
      dispatcher_measured: false,
    }),
  );
}
