// `npm run bench -- rolling-update [--no-swarm] [--smoke]`: in a 3-host lab (1 manager, 2 workers), a
// 30-replica service gets a rolling update (an env change, parallelism 5, delay 0, stop-first,
// monitor 5 s: Swarm's default, which its anchor keeps); time until the 30 new tasks run and
// until the update status is COMPLETED. Then the same with Docker Swarm through
// /work/shared/anchors/swarm/swarm_anchor.sh (phase update) in the same run. --smoke: 4 replicas,
// parallelism 2, monitor 1 s, no Swarm.
import { ServiceSpec, TaskState, UpdateStatus_State, type Service } from '../../proto/gen/types.js';
import { TestCluster, until } from '../e2e/lab-cluster.js';
import { runSwarm, SLEEP_EXITING_ON_TERM } from './converge.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

interface Size { replicas: number; parallelism: number; monitorS: number }
const FULL: Size = { replicas: 30, parallelism: 5, monitorS: 5 };
const SMOKE: Size = { replicas: 4, parallelism: 2, monitorS: 1 };
const round = (x: number | null | undefined): number | null => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);

async function measureShoal({ replicas: REPLICAS, parallelism, monitorS }: Size): Promise<{ allNew: number; completed: number }> {
  const c = await TestCluster.up({ name: 'shoalrubench', subnet: '10.231.42.0/24', hosts: 3, heartbeatMs: 5000 });
  try {
    await c.form(1);
    await c.createService('h1', 'roll', { replicas: REPLICAS, args: SLEEP_EXITING_ON_TERM });
    await until(async () => (await c.running('h1', 'roll')).length === REPLICAS, `${REPLICAS}/${REPLICAS}`, 300_000);
    const { service } = await c.control<{ service: Service }>('h1', 'getService', { serviceId: 'roll' });
    const spec = ServiceSpec.fromPartial(service.spec!);
    spec.task!.container!.env = [...spec.task!.container!.env, 'BENCH_ROLL=1'];
    spec.update = { parallelism, delay: { nanos: 0n }, failureAction: 0, monitor: { nanos: BigInt(monitorS) * 1_000_000_000n }, maxFailureRatio: 0, order: 0 };
    const t0 = performance.now();
    const { service: written } = await c.control<{ service: Service }>('h1', 'updateService', { serviceId: service.id, version: service.meta!.version, spec, rollback: false });
    await until(
      async () => (await c.tasks('h1', 'roll')).filter((t) => t.specVersion === written.specVersion && t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length === REPLICAS,
      'all new tasks running',
      300_000,
    );
    const allNew = (performance.now() - t0) / 1000;
    process.stderr.write(`shoal: ${REPLICAS} new tasks running in ${allNew.toFixed(3)} s\n`);
    await until(async () => (await c.control<{ service: Service }>('h1', 'getService', { serviceId: 'roll' })).service.updateStatus?.state === UpdateStatus_State.COMPLETED, 'update completed', 120_000);
    const completed = (performance.now() - t0) / 1000;
    process.stderr.write(`shoal: update status completed in ${completed.toFixed(3)} s (monitor ${monitorS} s)\n`);
    return { allNew, completed };
  } finally {
    await c.down();
  }
}

export default async function rollingUpdate(args: string[], { smoke }: BenchOptions): Promise<void> {
  const size = smoke ? SMOKE : FULL;
  const shoal = await measureShoal(size);
  const swarm = smoke || args.includes('--no-swarm') ? { results: {}, reason: smoke ? 'skipped (--smoke)' : 'skipped (--no-swarm)' } : await runSwarm('update');
  if (swarm.reason) process.stderr.write(`swarm: not measured: ${swarm.reason}\n`);
  const r = swarm.results as Record<string, number | null | undefined>;
  console.log(
    JSON.stringify({
      bench: 'rolling-update',
      shoal_s: round(shoal.allNew),
      swarm_s: round(r.rolling_update_all_new_running_s),
      shoal_completed_s: round(shoal.completed),
      swarm_completed_s: round(r.rolling_update_status_completed_s),
      monitor_s: size.monitorS,
      ...(swarm.reason ? { swarm_reason: swarm.reason } : {}),
      ...(smoke ? { smoke, replicas: size.replicas } : {}),
    }),
  );
}
