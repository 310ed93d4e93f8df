// `npm run bench -- failover [--heartbeat-ms N] [--no-swarm] [--smoke]`: default settings unless told.
// Leader: SIGKILL the leader's daemon -> first write (service scale) accepted through another
// manager. Worker: SIGKILL a worker's daemon -> every replica running again elsewhere. Shoal in a
// 5-host lab (3 managers, 2 workers); Swarm through the anchor script (phases nodefail, leader).
// --smoke: 4 hosts (3 managers, 1 worker), 3 replicas, heartbeat 500 ms unless told, no Swarm.
import type { ServiceError } from '@grpc/grpc-js';
import { TestCluster, until } from '../e2e/lab-cluster.js';
import { runSwarm, SLEEP_EXITING_ON_TERM } from './converge.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export default async function failover(args: string[], { smoke }: BenchOptions): Promise<void> {
  const heartbeatMs = Number(flag(args, '--heartbeat-ms') ?? (smoke ? 500 : 5000));
  const hosts = smoke ? 4 : 5;
  const replicas = smoke ? 3 : 6;
  const workers = ['h4', 'h5'].slice(0, hosts - 3);
  const c = await TestCluster.up({ name: 'shoale2ebf', subnet: '10.231.11.0/24', hosts, heartbeatMs });
  let leaderMs = 0;
  let workerMs = 0;
  try {
    await c.form(3);
    await c.createService('h1', 'fo', { replicas, args: SLEEP_EXITING_ON_TERM });
    await until(async () => (await c.running('h1', 'fo')).length === replicas, `${replicas}/${replicas}`, 120_000);

    const managers = ['h1', 'h2', 'h3'];
    const leader = await c.leader(managers);
    const others = managers.filter((m) => m !== leader);
    let t0 = performance.now();
    await c.kill(leader, 'SIGKILL');
    for (let i = 0; ; i++) {
      const via = others[i % 2]!;
      const ok = await c.scale(via, 'fo', replicas + 1).then(
        () => true,
        (e: ServiceError) => (process.stderr.write(`  write via ${via} refused: ${e.details ?? e.message}\n`), false),
      );
      if (ok) break;
      if (performance.now() - t0 > 120_000) throw new Error('no write accepted within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    leaderMs = performance.now() - t0;
    process.stderr.write(`shoal: leader SIGKILL -> write accepted in ${leaderMs.toFixed(0)} ms\n`);
    await c.start(leader);
    await until(async () => (await c.running(others[0]!, 'fo')).length === replicas + 1, 'all replicas after the scale', 120_000);

    const onWorkers = new Set((await c.running(others[0]!, 'fo')).map((t) => t.node));
    const victim = workers.findLast((w) => onWorkers.has(w)) ?? workers[0]!;
    t0 = performance.now();
    await c.kill(victim, 'SIGKILL');
    await until(async () => {
      const r = await c.running(others[0]!, 'fo').catch(() => []);
      return r.length === replicas + 1 && !r.some((t) => t.node === victim);
    }, 'replicas restored', 180_000);
    workerMs = performance.now() - t0;
    process.stderr.write(`shoal: worker SIGKILL -> ${replicas + 1}/${replicas + 1} running elsewhere in ${workerMs.toFixed(0)} ms (heartbeat ${heartbeatMs} ms)\n`);
  } finally {
    await c.down();
  }
  const swarm = smoke || args.includes('--no-swarm') ? { results: {}, reason: smoke ? 'skipped (--smoke)' : 'skipped (--no-swarm)' } : await runSwarm('nodefail,leader');
  if (swarm.reason) process.stderr.write(`swarm: not measured: ${swarm.reason}\n`);
  const r = swarm.results;
  const ms = (s: number | null | undefined): number | null => (s === null || s === undefined ? null : Math.round(s * 1000));
  console.log(
    JSON.stringify({
      bench: 'failover',
      shoal_leader_ms: Math.round(leaderMs),
      swarm_leader_ms: ms(r.leader_kill_to_scale_accepted_s),
      shoal_worker_ms: Math.round(workerMs),
      swarm_worker_ms: ms(r.node_fail_tasks_rescheduled_s),
      shoal_heartbeat_ms: heartbeatMs,
      ...(swarm.reason ? { swarm_reason: swarm.reason } : {}),
      ...(smoke ? { smoke, hosts, replicas } : {}),
    }),
  );
}
