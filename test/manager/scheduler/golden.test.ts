// Golden-file tests of scheduling decisions: each testdata/NAME.yaml describes nodes and
// services; the orchestrators and the scheduler run on a MemoryStore until quiet, and the
// placements (tasks per node per service, pending reasons) must equal testdata/NAME.golden.
// UPDATE_GOLDEN=1 rewrites the .golden files.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NodeAvailability, NodeRole, NodeStatus_State, TaskState } from '../../../proto/gen/types.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { makeNode, makeService, type NodeOpts, type ServiceOpts } from '../store/fixtures.js';
import { Harness, live, quiet } from '../orchestrator/harness.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata');

interface Scenario {
  nodes: (Omit<NodeOpts, 'role' | 'availability' | 'state'> & { id: string; role?: string; availability?: string; state?: string })[];
  services: (ServiceOpts & { name: string })[];
  /** Applied after the first convergence: node id -> changes. */
  then?: { nodes?: Scenario['nodes']; services?: (ServiceOpts & { name: string })[] };
}

function nodeOpts(n: Scenario['nodes'][number]): NodeOpts {
  return {
    ...n,
    role: n.role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER,
    availability: n.availability === 'drain' ? NodeAvailability.DRAIN : n.availability === 'pause' ? NodeAvailability.PAUSE : NodeAvailability.ACTIVE,
    state: n.state === 'down' ? NodeStatus_State.DOWN : NodeStatus_State.READY,
  };
}

async function apply(h: Harness, sc: { nodes?: Scenario['nodes']; services?: Scenario['services'] }): Promise<void> {
  await h.store.update((tx) => {
    for (const n of sc.nodes ?? []) {
      const node = makeNode(n.id, nodeOpts(n));
      const cur = tx.nodes.get(n.id);
      if (cur) tx.nodes.update({ ...node, meta: cur.meta });
      else tx.nodes.create(node);
    }
    for (const s of sc.services ?? []) {
      const svc = makeService(`svc-${s.name}`, s.name, s);
      const cur = tx.services.get(svc.id);
      if (cur) tx.services.update({ ...svc, meta: cur.meta, specVersion: cur.specVersion + 1n });
      else tx.services.create(svc);
    }
  });
}

function summary(h: Harness): string {
  return h.view((tx) => {
    const lines: string[] = [];
    const services = tx.services.all().sort((a, b) => (a.spec!.annotations!.name < b.spec!.annotations!.name ? -1 : 1));
    for (const s of services) {
      lines.push(`service ${s.spec!.annotations!.name}:`);
      const perNode = new Map<string, number>();
      const pending = new Map<string, number>();
      for (const t of tx.tasks.find('service', s.id).filter(live)) {
        if (t.status?.state === TaskState.PENDING) pending.set(t.status.err, (pending.get(t.status.err) ?? 0) + 1);
        else perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
      }
      for (const n of [...perNode.keys()].sort()) lines.push(`  ${n}: ${perNode.get(n)}`);
      for (const [reason, n] of pending) lines.push(`  pending ${n}: ${reason}`);
    }
    return lines.join('\n') + '\n';
  });
}

const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

describe('scheduler decisions (golden files)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(5);
  });

  for (const name of cases) {
    it(name, async () => {
      const sc = parse(readFileSync(path.join(dir, `${name}.yaml`), 'utf8')) as Scenario;
      h = new Harness();
      await apply(h, sc);
      h.start(
        new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }),
        new GlobalOrchestrator(h.store, h.clock, { logger: quiet }),
        new Scheduler(h.store, h.clock, { logger: quiet, batchSize: 7 }),
      );
      await h.quiesce();
      let out = summary(h);
      if (sc.then) {
        await apply(h, sc.then);
        await h.quiesce();
        out += '--- then\n' + summary(h);
      }
      const golden = path.join(dir, `${name}.golden`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, out);
      if (!existsSync(golden)) throw new Error(`${golden} is missing; review this output and run with UPDATE_GOLDEN=1 to write it:\n${out}`);
      expect(out).toBe(readFileSync(golden, 'utf8'));
    });
  }
});
