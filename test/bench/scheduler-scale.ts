// `npm run bench -- scheduler-scale [--agents 1000] [--services 100] [--replicas 1000]
//   [--processes 2] [--connections 8] [--start-ms 20] [--heartbeat-ms 5000] [--smoke]`
// The real manager (store, orchestrators, task reaper, scheduler, dispatcher on loopback gRPC)
// in this process; 1,000 SIMULATED agents in separate worker processes speak the real dispatcher
// protocol (each its own Session and node id, heartbeats, Assignments, batched UpdateTaskStatus
// ACCEPTED/PREPARING -> STARTING/RUNNING) and never start a container. Agents identify by a
// metadata header: mTLS is left out of this measurement. Measured: services created -> all tasks
// ASSIGNED in the store (placement) and -> all RUNNING as reported through the protocol; peak RSS
// (VmHWM) and CPU time of the manager process alone.
// `--in-store [nodes] [services] [replicas] [--raft N]`: the older mode without dispatcher.
// --smoke: 20 agents in 1 process, 2 services x 50 replicas (options given still win).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { NodeStatus_State, TaskState } from '../../proto/gen/types.js';
import { benchService, inStoreRun } from './sim-agents/in-store-run.js';
import { spawnSimAgents, startSimManager } from './sim-agents/index.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

/** The bench counts every task event: its watch must not be bounded (it would drop a burst). */
const EVERY_EVENT = { maxEvents: Number.POSITIVE_INFINITY, maxBytes: Number.POSITIVE_INFINITY };

/** A process's VmHWM (peak resident set) or VmRSS in MiB, from /proc. */
function procMb(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
}

export default async function main(argv: string[], { smoke }: BenchOptions): Promise<void> {
  if (argv.includes('--in-store')) return inStoreRun(argv.filter((a) => a !== '--in-store'));
  const dflt = (full: string, small: string): string => (smoke ? small : full);
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string', default: dflt('1000', '20') },
      services: { type: 'string', default: dflt('100', '2') },
      replicas: { type: 'string', default: dflt('1000', '50') },
      processes: { type: 'string', default: dflt('2', '1') },
      connections: { type: 'string', default: dflt('8', '2') },
      'start-ms': { type: 'string', default: '20' },
      'heartbeat-ms': { type: 'string', default: '5000' },
      'timeout-s': { type: 'string', default: dflt('600', '120') },
    },
  });
  const agents = Number(values.agents);
  const services = Number(values.services);
  const replicas = Number(values.replicas);
  const total = services * replicas;
  const logger = pino({ level: 'warn' });

  const manager = await startSimManager({ logger, dispatcher: { heartbeatPeriodMs: Number(values['heartbeat-ms']) } });
  const { store } = manager;
  const t0 = performance.now();
  const sims = await spawnSimAgents({
    addr: manager.addr,
    agents,
    processes: Number(values.processes),
    connectionsPerProcess: Number(values.connections),
    startMs: Number(values['start-ms']),
  });
  try {
    const ready = store.view((tx) => tx.nodes.all().filter((n) => n.status?.state === NodeStatus_State.READY).length);
    if (ready !== agents) throw new Error(`only ${ready} of ${agents} simulated nodes READY`);
    console.log(
      `${agents} simulated agents (no containers; ${values.processes} worker process(es), ${values.connections} HTTP/2 connections each, ` +
        `start ${values['start-ms']} ms, heartbeat ${values['heartbeat-ms']} ms, identity by metadata header: mTLS not measured) ` +
        `registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    let assigned = 0;
    let running = 0;
    let assignedAt = 0;
    let runningAt = 0;
    const counted = new Map<string, TaskState>();
    const w = store.watch({ filter: (e) => e.kind === 'task', limits: EVERY_EVENT });
    const done = (async () => {
      for await (const e of w) {
        if (e.type === 'commit' || e.type === 'reset' || e.type === 'delete' || e.kind !== 'task') continue;
        const s = e.object.status?.state ?? TaskState.NEW;
        const before = counted.get(e.object.id) ?? TaskState.NEW;
        if (s >= TaskState.ASSIGNED && before < TaskState.ASSIGNED && ++assigned === total) assignedAt = performance.now();
        if (s >= TaskState.RUNNING && before < TaskState.RUNNING && ++running === total) {
          runningAt = performance.now();
          return;
        }
        if (s > before) counted.set(e.object.id, s);
      }
    })();

    console.log(`creating ${services} services x ${replicas} replicas = ${total} tasks`);
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const progress = setInterval(() => {
      const agentsRss = sims.pids.reduce((a, pid) => a + procMb(pid, 'VmRSS'), 0);
      console.log(`  ${((performance.now() - start) / 1000).toFixed(1)} s: ${assigned} assigned, ${running} running in the store (${sims.runningReported()} reported by agents, ${sims.sessionFailures()} sessions failed); manager rss ${procMb('self', 'VmRSS').toFixed(0)} MB, agents ${agentsRss.toFixed(0)} MB`);
    }, 2_000);
    for (let i = 0; i < services; i++) await store.update((tx) => tx.services.create(benchService(i, replicas)));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not all ${total} tasks RUNNING after ${values['timeout-s']} s (${assigned} assigned, ${running} running)`)), Number(values['timeout-s']) * 1000).unref());
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearInterval(progress);
      w.close();
    }
    const cpu = process.cpuUsage(cpu0);
    const runSecs = (runningAt - start) / 1000;
    const assignSecs = (assignedAt - start) / 1000;
    const peakRss = procMb('self', 'VmHWM');
    const perNode = new Map<string, number>();
    store.view((tx) => {
      for (const t of tx.tasks.all()) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
    });
    const counts = [...perNode.values()];
    console.log(
      `all ${total} ASSIGNED after ${assignSecs.toFixed(2)} s, all RUNNING (reported over the protocol) after ${runSecs.toFixed(2)} s; ` +
        `tasks per node min ${Math.min(...counts)} max ${Math.max(...counts)}; manager CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, peak RSS ${peakRss.toFixed(0)} MB`,
    );
    if (sims.sessionFailures() > 0) console.log('agent sessions failed and reopened (last reason per agent):', JSON.stringify(await sims.failureReasons()));
    console.log(
      JSON.stringify({
        bench: 'scheduler-scale',
        tasks_per_s: Math.round(total / runSecs),
        assigned_per_s: Math.round(total / assignSecs),
        peak_rss_mb: Math.round(peakRss),
        agents,
        tasks: total,
        agents_simulated: true,
        session_failures: sims.sessionFailures(),
        ...(smoke ? { smoke } : {}),
      }),
    );
  } finally {
    await sims.stop();
    await manager.close();
  }
}
