// `npm run bench -- converge [--no-swarm] [--profile DIR] [--smoke]`: in a 3-host lab (1 manager, 2
// workers), create a 30-replica service and wait for 30/30 running, scale to 90 and wait, remove
// it and wait until no container is left; then the same with Docker Swarm through
// /work/shared/anchors/swarm/swarm_anchor.sh (phase create) in the same run. --smoke: 3 and 6
// replicas, no Swarm. Both run busybox
// `sleep` that exits on SIGTERM (Swarm with --init), so neither waits out a stop grace period.
//
// Before the JSON line, stderr shows where each phase went, from the daemons' logs: when the
// orchestrator reconciled, the agents accepted, containers were created and started, tasks
// reported RUNNING, stopped, and containers were removed (first .. last, per host), and the CPU
// the daemons used. --profile writes V8 CPU profiles of the daemons. What these showed on this
// 2-core host with a busy ext4 disk (2026-11-25): a container start is mostly file creations in
// the agent (each 1-3 ms of waiting for the journal, a file replaced costs a flush too), done on
// the event loop they blocked everything else, so supervisors' reports were read only after the
// last container of a host was created; removal waited for a round trip through the managers
// and then ran one container after another. See the agent/runtime README for what changed.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ControlClient, ListTasksRequest, type ListTasksResponse } from '../../proto/gen/control.js';
import { TaskState } from '../../proto/gen/types.js';
import { TestCluster } from '../e2e/lab-cluster.js';
import { formatStages, processCpuMs, readLogLines, stageTimes } from '../bench-helpers/timeline.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

/** sleep that exits on SIGTERM (as Swarm's anchor gets with --init): stop is not a 10 s grace wait. */
export const SLEEP_EXITING_ON_TERM = ['sh', '-c', 'trap "exit 0" TERM; sleep 100000 & wait'];

export const SWARM_ANCHOR = process.env.SWARM_ANCHOR ?? '/work/shared/anchors/swarm/swarm_anchor.sh';

/** Runs the Swarm anchor for some phases; returns its RESULT key=value figures, or why not. */
export async function runSwarm(phases: string, env: Record<string, string> = {}, hosts = 3): Promise<{ results: Record<string, number | null>; reason?: string }> {
  if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) return { results: {}, reason: 'docker.io (dockerd) is not installed: apt-get install docker.io' };
  if (!existsSync(SWARM_ANCHOR)) return { results: {}, reason: `${SWARM_ANCHOR} not found` };
  const out = await new Promise<string>((resolve) => {
    const p = spawn('bash', [SWARM_ANCHOR, '-p', phases, '-r', '1', '-n', String(hosts)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      s += d;
      process.stderr.write(d);
    });
    p.on('close', () => resolve(s));
  });
  const results: Record<string, number | null> = {};
  for (const m of out.matchAll(/^RESULT run=\d+ ([a-z0-9_]+)=(\S+)/gm)) results[m[1]!] = Number.isFinite(Number(m[2])) ? Number(m[2]) : null;
  return { results };
}

/**
 * Containers left on the lab's hosts: every container directory in the runtimes' state
 * directories, whatever its state (the runtime removes the directory last, after the cgroup).
 * Counting directories is stricter than the runtime's list() (which skips a directory whose
 * container.json is already gone) and cheap enough to poll without taking CPU from the daemons.
 */
function liveContainers(c: TestCluster): number {
  let n = 0;
  for (const h of c.lab.hosts) {
    try {
      n += readdirSync(join(h.run, 'containers')).filter((e) => /^[0-9a-f]{64}$/.test(e)).length;
    } catch {
      // no state directory yet: no container
    }
  }
  return n;
}

/** How often the bench looks for the end of a phase: the resolution of its figures. */
const POLL_MS = 25;

/** Polls `done` every POLL_MS until it holds; throws naming `what` after timeoutMs. */
async function pollUntil(done: () => Promise<boolean> | boolean, what: string, timeoutMs = 300_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Tasks of a service that should run and do (desired and observed RUNNING, as `service ls`
 * counts them), through one Control connection to a host's socket kept for the whole run: a
 * new connection per call (measured: 0.8 ms of the daemon's CPU against 0.4 ms) is load on the
 * manager, which is also a busy agent, that the measurement itself should not add.
 */
function runningCounter(c: TestCluster, host: string): { count(service?: string): Promise<number>; close(): void } {
  const client = new ControlClient(`unix:${c.socket(host)}`, credentials.createInsecure());
  return {
    count: (service) =>
      new Promise<number>((resolve, reject) =>
        client.listTasks(ListTasksRequest.fromPartial({ serviceIds: service ? [service] : [] }), new Metadata(), { deadline: new Date(Date.now() + 20_000) }, (err: ServiceError | null, r: ListTasksResponse) => {
          if (err) reject(err);
          else resolve(r.tasks.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length);
        }),
      ),
    close: () => client.close(),
  };
}

interface Phase {
  name: string;
  startMs: number;
  endMs: number;
  /** CPU the daemons (and the containers' supervisors they reaped) used during the phase. */
  daemonCpuMs: number;
  benchCpuMs: number;
  /** CLOCK_MONOTONIC at the start, in µs: the clock of V8's CPU profiles (--profile). */
  startMonoUs: bigint;
}

async function timed(c: TestCluster, name: string, phases: Phase[], fn: () => Promise<unknown>): Promise<number> {
  const cpu = (): number => [...c.procs.values()].reduce((s, p) => s + (p.pid ? processCpuMs(p.pid) : 0), 0);
  const cpu0 = cpu();
  const bench0 = process.cpuUsage();
  const startMs = Date.now();
  const startMonoUs = process.hrtime.bigint() / 1000n;
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  const bench = process.cpuUsage(bench0);
  phases.push({ name, startMs, endMs: Date.now(), daemonCpuMs: cpu() - cpu0, benchCpuMs: Math.round((bench.user + bench.system) / 1000), startMonoUs });
  return s;
}

/** Where each phase's time went, from the daemons' logs (printed to stderr before the lab goes). */
function printTimeline(c: TestCluster, phases: Phase[]): void {
  const logOf = (h: { name: string; root: string }): string => join(h.root, '..', `daemon-${h.name}.log`);
  const lines = readLogLines(c.lab.hosts.map(logOf));
  const perHost = c.lab.hosts.map((h) => ({ name: h.name, lines: readLogLines([logOf(h)]) }));
  for (const p of phases) {
    process.stderr.write(`${formatStages(p.name, p.endMs - p.startMs, stageTimes(lines, p.startMs, p.endMs))}\n`);
    for (const h of perHost) {
      const st = stageTimes(h.lines, p.startMs, p.endMs).map((s) => `${s.name.split(' ').pop()} ${s.firstMs}..${s.lastMs}`);
      process.stderr.write(`  ${h.name}: ${st.join(', ')}\n`);
    }
    process.stderr.write(`  cpu: daemons ${p.daemonCpuMs} ms, bench ${p.benchCpuMs} ms; monotonic start ${p.startMonoUs} µs\n`);
  }
}

const round = (x: number | null | undefined): number | null => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);

export default async function converge(args: string[], { smoke }: BenchOptions): Promise<void> {
  const size = smoke ? { create: 3, scale: 6 } : { create: 30, scale: 90 };
  // --profile DIR: the daemons write V8 CPU profiles there (they are stopped with SIGTERM so
  // that they write them; the measurement itself is the same)
  const profileAt = args.indexOf('--profile');
  const profileDir = profileAt >= 0 ? args[profileAt + 1] : undefined;
  if (profileDir) {
    process.env.SHOAL_CPU_PROFILE_DIR = profileDir;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, '../bench-helpers/cpu-profile.mjs')}`.trim();
  }
  const c = await TestCluster.up({ name: 'shoalcvb', subnet: '10.231.65.0/24', hosts: 3, heartbeatMs: 5000 });
  let shoal: { create30: number; scale90: number; rm: number };
  try {
    await c.form(1);
    const phases: Phase[] = [];
    const running = runningCounter(c, 'h1');
    try {
      await running.count(); // connected before the clock starts
      const { create: n, scale: m } = size;
      const create30 = await timed(c, `create ${n}`, phases, async () => {
        await c.createService('h1', 'conv', { replicas: n, args: SLEEP_EXITING_ON_TERM });
        await pollUntil(async () => (await running.count('conv')) === n, `${n}/${n}`);
      });
      process.stderr.write(`shoal: create ${n} -> ${n}/${n} running in ${create30.toFixed(3)} s\n`);
      const scale90 = await timed(c, `scale ${m}`, phases, async () => {
        await c.scale('h1', 'conv', m);
        await pollUntil(async () => (await running.count('conv')) === m, `${m}/${m}`);
      });
      process.stderr.write(`shoal: scale ${m} -> ${m}/${m} running in ${scale90.toFixed(3)} s\n`);
      const rm = await timed(c, 'rm', phases, async () => {
        await c.control('h1', 'removeService', { serviceId: 'conv' });
        await pollUntil(() => liveContainers(c) === 0, 'no container left');
      });
      process.stderr.write(`shoal: rm -> no container left in ${rm.toFixed(3)} s\n`);
      shoal = { create30, scale90, rm };
    } finally {
      running.close();
    }
    printTimeline(c, phases);
    if (profileDir) for (const h of c.lab.hosts) await c.kill(h.name, 'SIGTERM');
  } finally {
    await c.down();
  }
  const swarm = smoke || args.includes('--no-swarm') ? { results: {}, reason: smoke ? 'skipped (--smoke)' : 'skipped (--no-swarm)' } : await runSwarm('create');
  if (swarm.reason) process.stderr.write(`swarm: not measured: ${swarm.reason}\n`);
  const r = swarm.results;
  console.log(
    JSON.stringify({
      bench: 'converge',
      shoal_create30_s: round(shoal.create30),
      swarm_create30_s: round(r.create_30_s),
      shoal_scale90_s: round(shoal.scale90),
      swarm_scale90_s: round(r.scale_30_to_90_s),
      shoal_rm_s: round(shoal.rm),
      swarm_rm_s: round(r.rm_90_all_containers_gone_s),
      ...(swarm.reason ? { swarm_reason: swarm.reason } : {}),
      ...(smoke ? { smoke, create_replicas: size.create, scale_replicas: size.scale } : {}),
    }),
  );
}
