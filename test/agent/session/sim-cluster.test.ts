// Twenty simulated agents against a dispatcher with the real replicated orchestrator and
// scheduler over real gRPC: a 200-replica service converges to RUNNING spread over every node,
// scales down (the removed tasks are reported SHUTDOWN), and one agent's death moves its tasks.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeStatus_State, TaskState, type Service } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import type { ReadonlyDeep } from '../../../manager/store/index.js';
import { makeService } from '../../manager/store/fixtures.js';
import { insecure, nodeMetadata, startManager, until, type TestManager } from './manager.js';
import { SimulatedAgent } from './sim-agent.js';

let mgr: TestManager | undefined;
const agents: SimulatedAgent[] = [];
const stops: (() => void)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s();
  for (const a of agents.splice(0)) await a.stop();
  await mgr?.kill();
});

describe('simulated agents (20 nodes, real protocol)', () => {
  it('converge a service, scale it down, and move the tasks of a dead node', async () => {
    // a node is down after 3 missed heartbeats: at 500 ms a loaded machine's stalls marked live agents
    // down and moved their tasks (the spread came out uneven); 2 s still finds the dead one quickly
    mgr = await startManager({ heartbeatPeriodMs: 2_000, disconnectGraceMs: 300 });
    const m = mgr;
    m.lead();
    const quiet = pino({ level: 'silent' });
    const orch = new ReplicatedOrchestrator(m.store, new RealClock(), { logger: quiet });
    const sched = new Scheduler(m.store, new RealClock(), { logger: quiet });
    void orch.run();
    void sched.run();
    stops.push(() => orch.stop(), () => sched.stop());
    for (let i = 0; i < 20; i++) {
      const a = new SimulatedAgent({ nodeId: `sim${i}`, managers: [m.addr], credentials: insecure, metadata: nodeMetadata(`sim${i}`) });
      agents.push(a);
      a.start();
    }
    await until(() => agents.every((a) => a.connected), 'all agents in session');
    await m.store.update((tx) => tx.services.create(makeService('svc', 'web', { replicas: 200 })));
    const running = (): number => m.store.view((tx) => tx.tasks.all().filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length);
    await until(() => running() === 200, '200 running', 60_000);
    const perNode = m.store.view((tx) => agents.map((_, i) => tx.tasks.find('node', `sim${i}`).filter((t) => t.status?.state === TaskState.RUNNING).length));
    expect(perNode).toEqual(agents.map(() => 10));

    await m.store.update((tx) => {
      const s = tx.services.get('svc')!;
      tx.services.update({ ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas: 100 } } } } as ReadonlyDeep<Service>);
    });
    await until(() => running() === 100 && m.store.view((tx) => tx.tasks.all().filter((t) => t.status?.state === TaskState.SHUTDOWN).length) === 100, 'scaled down', 60_000);

    const dead = agents.shift()!;
    const lost = m.store.view((tx) => tx.tasks.find('node', 'sim0').filter((t) => t.desiredState === TaskState.RUNNING).length);
    await dead.stop();
    await until(() => m.store.view((tx) => tx.nodes.get('sim0')?.status?.state) === NodeStatus_State.DOWN, 'sim0 down', 30_000);
    await until(() => running() === 100 && m.store.view((tx) => tx.tasks.find('node', 'sim0').every((t) => t.desiredState > TaskState.RUNNING)), 'tasks moved', 60_000);
    expect(lost).toBeGreaterThan(0);
  });
});
