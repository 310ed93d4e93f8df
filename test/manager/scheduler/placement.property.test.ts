// Properties of one scheduling pass over random clusters: nothing is over-committed, every
// placement satisfies the filters, nothing is left pending while some node could take it, and
// without resource limits a service is spread evenly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeAvailability, NodeStatus_State, Task } from '../../../proto/gen/types.js';
import { dynamicFailure, requirementsOf, staticFailure } from '../../../manager/scheduler/filters.js';
import { NodeInfo } from '../../../manager/scheduler/node-info.js';
import { placeGroup } from '../../../manager/scheduler/placement.js';
import { makeNode, makeService } from '../store/fixtures.js';

const nodeArb = fc.record({
  cpus: fc.integer({ min: 0, max: 4 }),
  memoryMiB: fc.integer({ min: 0, max: 2048 }),
  zone: fc.constantFrom('a', 'b', 'c', ''),
  down: fc.boolean(),
  drain: fc.boolean(),
});

const groupArb = fc.record({
  tasks: fc.integer({ min: 1, max: 30 }),
  reserveCpus: fc.constantFrom(0, 0.5, 1),
  reserveMemoryMiB: fc.constantFrom(0, 256, 700),
  hostPort: fc.boolean(),
  maxReplicas: fc.constantFrom(0, 1, 3),
  zoneConstraint: fc.constantFrom('', 'a', '!c'),
  spread: fc.boolean(),
});

type Group = typeof groupArb extends fc.Arbitrary<infer G> ? G : never;

function tasksFor(serviceId: string, g: Group): Task[] {
  const svc = makeService(serviceId, serviceId, {
    reserveCpus: g.reserveCpus,
    reserveMemoryMiB: g.reserveMemoryMiB,
    hostPorts: g.hostPort ? [8080] : [],
    maxReplicas: g.maxReplicas,
    constraints: g.zoneConstraint === '' ? [] : g.zoneConstraint === '!c' ? ['node.labels.zone!=c'] : ['node.labels.zone==a'],
    spreadOver: g.spread ? ['node.labels.zone'] : [],
  });
  return Array.from({ length: g.tasks }, (_, i) =>
    Task.fromPartial({ id: `${serviceId}-${i}`, serviceId, slot: i + 1, spec: svc.spec!.task, endpoint: { spec: svc.spec!.endpoint } }),
  );
}

describe('placement properties', () => {
  it('never over-commits, respects every filter, and leaves tasks pending only when nothing fits', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 0, maxLength: 12 }), fc.array(groupArb, { minLength: 1, maxLength: 4 }), (nodes, groups) => {
        const infos = nodes.map(
          (n, i) =>
            new NodeInfo(
              makeNode(`n${String(i).padStart(2, '0')}`, {
                cpus: n.cpus,
                memoryMiB: n.memoryMiB,
                labels: n.zone ? { zone: n.zone } : {},
                state: n.down ? NodeStatus_State.DOWN : NodeStatus_State.READY,
                availability: n.drain ? NodeAvailability.DRAIN : NodeAvailability.ACTIVE,
              }),
            ),
        );
        for (const [gi, g] of groups.entries()) {
          const tasks = tasksFor(`s${gi}`, g);
          const req = requirementsOf(tasks[0]!);
          const res = placeGroup(
            tasks.map((t) => t.id),
            req,
            infos,
          );
          expect(res.assigned.length + res.unplaced.length).toBe(tasks.length);
          for (const [, nodeId] of res.assigned) {
            const info = infos.find((x) => x.id === nodeId)!;
            expect(staticFailure(info, req)).toBeUndefined();
          }
          if (res.unplaced.length > 0) {
            expect(res.reason).toMatch(/^no suitable node \(/);
            for (const info of infos) expect(staticFailure(info, req) ?? dynamicFailure(info, req)).toBeDefined();
          }
        }
        for (const info of infos) {
          expect(info.cpuUsed).toBeLessThanOrEqual(info.cpuTotal);
          expect(info.memoryUsed).toBeLessThanOrEqual(info.memoryTotal);
          for (const c of info.hostPorts.values()) expect(c).toBe(1);
          for (const [gi, g] of groups.entries()) if (g.maxReplicas > 0) expect(info.serviceTasks(`s${gi}`)).toBeLessThanOrEqual(g.maxReplicas);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('spreads a service evenly over nodes that all fit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 50 }), (n, count, other) => {
        const infos = Array.from({ length: n }, (_, i) => new NodeInfo(makeNode(`n${i}`)));
        // Some other service already runs unevenly; it must not unbalance this one.
        const first = tasksFor('other', { tasks: other, reserveCpus: 0, reserveMemoryMiB: 0, hostPort: false, maxReplicas: 0, zoneConstraint: '', spread: false });
        for (const [i, t] of first.entries()) infos[i % Math.max(1, Math.ceil(n / 2))]!.add(t.id, { serviceId: 'other', cpu: 0, memory: 0, hostPorts: [] });
        const tasks = tasksFor('web', { tasks: count, reserveCpus: 0, reserveMemoryMiB: 0, hostPort: false, maxReplicas: 0, zoneConstraint: '', spread: false });
        const res = placeGroup(
          tasks.map((t) => t.id),
          requirementsOf(tasks[0]!),
          infos,
        );
        expect(res.unplaced).toEqual([]);
        const per = infos.map((i) => i.serviceTasks('web'));
        expect(Math.max(...per) - Math.min(...per)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('with a spread preference, balances label values first, then nodes within each value', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', ''), { minLength: 1, maxLength: 15 }), fc.integer({ min: 1, max: 100 }), (zones, count) => {
        const infos = zones.map((z, i) => new NodeInfo(makeNode(`n${String(i).padStart(2, '0')}`, { labels: z ? { zone: z } : {} })));
        const tasks = tasksFor('web', { tasks: count, reserveCpus: 0, reserveMemoryMiB: 0, hostPort: false, maxReplicas: 0, zoneConstraint: '', spread: true });
        const res = placeGroup(
          tasks.map((t) => t.id),
          requirementsOf(tasks[0]!),
          infos,
        );
        expect(res.unplaced).toEqual([]);
        const perZone = new Map<string, number[]>();
        for (const [i, z] of zones.entries()) perZone.set(z, [...(perZone.get(z) ?? []), infos[i]!.serviceTasks('web')]);
        const totals = [...perZone.values()].map((xs) => xs.reduce((a, b) => a + b, 0));
        expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(1);
        for (const xs of perZone.values()) expect(Math.max(...xs) - Math.min(...xs)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});
