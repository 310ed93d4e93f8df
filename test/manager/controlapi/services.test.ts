// Services through the control API over real gRPC, with the real orchestrator and scheduler.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListServicesResponse, ListTasksResponse, CreateServiceResponse, GetServiceResponse, UpdateServiceResponse } from '../../../proto/gen/control.js';
import { Mount, Mount_Type, Service, TaskState } from '../../../proto/gen/types.js';
import { call, ROLE_HEADER, startControl, type ControlHarness } from './harness.js';
import { replicatedSpec } from './specs.js';
import { refused } from './refused.js';

let h: ControlHarness;
beforeEach(async () => {
  h = await startControl();
});
afterEach(async () => {
  await h.close();
});

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never reached: ${what}`);
}

function running(serviceId: string): number {
  return h.store.view((tx) => tx.tasks.find('service', serviceId).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length);
}

const create = (spec: ReturnType<typeof replicatedSpec>): Promise<CreateServiceResponse> => call(h.client, 'createService', { spec });

describe('services', () => {
  it('creates a service whose tasks converge, then lists and inspects it by name and id prefix', async () => {
    const { service } = await create(replicatedSpec('web', 3));
    expect(service!.specVersion).toBe(1n);
    await until('3 running', () => running(service!.id) === 3);
    const list = await call<unknown, ListServicesResponse>(h.client, 'listServices', { names: [], idPrefixes: [], labels: {} });
    expect(list.services.map((s) => s.spec!.annotations!.name)).toEqual(['web']);
    const byName = await call<unknown, GetServiceResponse>(h.client, 'getService', { serviceId: 'WEB' });
    expect(byName.service!.id).toBe(service!.id);
    const byPrefix = await call<unknown, GetServiceResponse>(h.client, 'getService', { serviceId: service!.id.slice(0, 5) });
    expect(byPrefix.service!.id).toBe(service!.id);
    const tasks = await call<unknown, ListTasksResponse>(h.client, 'listTasks', { serviceIds: ['web'], nodeIds: [], desiredStates: [] });
    expect(tasks.tasks.map((t) => t.slot)).toEqual([1, 2, 3]);
    const onAlpha = await call<unknown, ListTasksResponse>(h.client, 'listTasks', { serviceIds: [], nodeIds: ['alpha'], desiredStates: [] });
    expect(onAlpha.tasks.every((t) => t.nodeId === 'node1')).toBe(true);
  });

  it('refuses every bad spec with INVALID_ARGUMENT and writes nothing', async () => {
    const v = h.store.version;
    const bad: [string, ReturnType<typeof replicatedSpec>, RegExp][] = [
      ['unknown constraint field', replicatedSpec('a', 1, (s) => (s.task!.placement = { constraints: ['node.colour==red'], preferences: [], maxReplicas: 0, platforms: [] })), /unknown field "node.colour"/],
      // -1 cannot cross the wire (uint32); a client that wraps it arrives as 2^32-1 (the CLI refuses -1 itself)
      ['replicas 2^32-1', replicatedSpec('a', 4294967295), /replicas 4294967295 is more than the 1000 allowed per service: .*--max-replicas/],
      ['empty image', replicatedSpec('a', 1, (s) => (s.task!.container!.image = '')), /needs an image/],
      ['bad name', replicatedSpec('-web'), /service name "-web" is invalid/],
      ['long name', replicatedSpec('x'.repeat(64)), /at most 63/],
      ['negative cpu', replicatedSpec('a', 1, (s) => (s.task!.resources = { reservations: { nanoCpus: -1n, memoryBytes: 0n, generic: [], pids: 0n }, limits: undefined })), /CPUs must not be negative/],
      [
        'bad preference',
        replicatedSpec('a', 1, (s) => (s.task!.placement = { constraints: [], preferences: [{ preference: { $case: 'spread', value: { spreadDescriptor: 'node.zone' } } }], maxReplicas: 0, platforms: [] })),
        /unknown field "node.zone"/,
      ],
      ['global with max replicas', replicatedSpec('a', 1, (s) => ((s.mode = { $case: 'global', value: {} }), (s.task!.placement = { constraints: [], preferences: [], maxReplicas: 2, platforms: [] }))), /replicated services only/],
      [
        'reservation over limit',
        replicatedSpec('a', 1, (s) => (s.task!.resources = { reservations: { nanoCpus: 0n, memoryBytes: 200n, generic: [], pids: 0n }, limits: { nanoCpus: 0n, memoryBytes: 100n, generic: [], pids: 0n } })),
        /reserved memory exceeds the memory limit/,
      ],
      ['relative mount target', replicatedSpec('a', 1, (s) => s.task!.container!.mounts.push(Mount.fromPartial({ type: Mount_Type.BIND, source: '/tmp', target: 'data' }))), /must be an absolute path/],
      ['no mode', replicatedSpec('a', 1, (s) => (s.mode = undefined as never)), /mode is missing/],
    ];
    for (const [what, spec, text] of bad) {
      await refused(create(spec), status.INVALID_ARGUMENT, text).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
    expect(h.store.version).toBe(v);
    expect(h.store.view((tx) => tx.services.all())).toHaveLength(0);
  });

  it('refuses a second service of the same name (any case) with ALREADY_EXISTS', async () => {
    await create(replicatedSpec('web'));
    await refused(create(replicatedSpec('Web')), status.ALREADY_EXISTS, /named "Web" already exists/);
  });

  it('updates with compare-and-swap, scales, rolls back, and refuses renames and mode changes', async () => {
    const { service } = await create(replicatedSpec('web', 1));
    const v1 = service!.meta!.version;
    const scaled = await call<unknown, UpdateServiceResponse>(h.client, 'updateService', { serviceId: 'web', version: v1, spec: replicatedSpec('web', 2), rollback: false });
    expect(scaled.service!.specVersion).toBe(2n);
    await until('2 running', () => running(service!.id) === 2);
    await refused(call(h.client, 'updateService', { serviceId: 'web', version: v1, spec: replicatedSpec('web', 5), rollback: false }), status.FAILED_PRECONDITION, /changed since it was read/);
    await refused(call(h.client, 'updateService', { serviceId: 'web', version: 0n, spec: replicatedSpec('www', 2), rollback: false }), status.INVALID_ARGUMENT, /renaming service/);
    const global = replicatedSpec('web', 1, (s) => (s.mode = { $case: 'global', value: {} }));
    await refused(call(h.client, 'updateService', { serviceId: 'web', version: 0n, spec: global, rollback: false }), status.INVALID_ARGUMENT, /is replicated: changing it to global/);
    const back = await call<unknown, UpdateServiceResponse>(h.client, 'updateService', { serviceId: 'web', version: 0n, spec: undefined, rollback: true });
    expect(back.service!.spec!.mode).toEqual({ $case: 'replicated', value: { replicas: 1 } });
    await until('1 running', () => running(service!.id) === 1);
    await refused(call(h.client, 'updateService', { serviceId: 'nope', version: 0n, spec: replicatedSpec('nope', 3), rollback: false }), status.NOT_FOUND, /service "nope" not found/);
  });

  it('removes a service and its tasks stop', async () => {
    const { service } = await create(replicatedSpec('web', 2));
    await until('2 running', () => running(service!.id) === 2);
    await call(h.client, 'removeService', { serviceId: 'web' });
    expect(h.store.view((tx) => tx.services.get(service!.id))).toBeUndefined();
    await until('tasks stopped', () => h.store.view((tx) => tx.tasks.find('service', service!.id).every((t) => t.desiredState > TaskState.RUNNING)));
    await refused(call(h.client, 'removeService', { serviceId: 'web' }), status.NOT_FOUND, /not found/);
  });

  it('refuses an ambiguous id prefix, naming the candidates', async () => {
    await h.store.update((tx) => {
      for (const id of ['abc1', 'abc2']) {
        const s = Service.fromPartial({ id, spec: replicatedSpec(`s${id}`, 0), specVersion: 1n });
        tx.services.create(s);
      }
    });
    await refused(call(h.client, 'getService', { serviceId: 'abc' }), status.INVALID_ARGUMENT, /"abc" matches 2 services: abc1 \(sabc1\), abc2 \(sabc2\)/);
    const one = await call<unknown, GetServiceResponse>(h.client, 'getService', { serviceId: 'abc2' });
    expect(one.service!.id).toBe('abc2');
  });

  it('refuses workers with PERMISSION_DENIED and changes nothing', async () => {
    const md = new Metadata();
    md.set(ROLE_HEADER, 'worker');
    const v = h.store.version;
    await refused(call(h.client, 'createService', { spec: replicatedSpec('web') }, md), status.PERMISSION_DENIED, /worker/);
    await refused(call(h.client, 'listServices', { names: [], idPrefixes: [], labels: {} }, md), status.PERMISSION_DENIED, /worker/);
    expect(h.store.version).toBe(v);
  });
});
