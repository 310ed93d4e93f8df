// Valid-looking requests that used to break the cluster (issue 9, point 5), each made against a
// real control server over gRPC: specs every node's runtime rejects are refused with the
// runtime's own words (the same rules/ code), replicas are bounded, labels capped, health check
// intervals floored, and list answers come in pages that stay under the gRPC message limit.
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchTasksRequest, type ListNodesResponse, type ListServicesResponse, type ListTasksResponse, type WatchTasksEvent } from '../../../proto/gen/control.js';
import { TaskState } from '../../../proto/gen/types.js';
import { validateLimits } from '../../../agent/runtime/cgroups/limits.js';
import { parseReference } from '../../../agent/images/reference.js';
import { validateSpec } from '../../../agent/runtime/validate.js';
import { resolveUser } from '../../../agent/runtime/user.js';
import { checkCapability, checkUlimit } from '../../../agent/runtime/options.js';
import { call, startControl, type ControlHarness } from './harness.js';
import { replicatedSpec } from './specs.js';

let h: ControlHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function refusal(p: Promise<unknown>): Promise<ServiceError> {
  const err = (await p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  )) as ServiceError;
  expect(err.code, err.details).toBe(status.INVALID_ARGUMENT);
  return err;
}

/** The message the single-host runtime gives for the same input. */
function runtimeError(fn: () => unknown): Promise<string> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => {
        throw new Error('the runtime accepted it');
      },
      (e: Error) => e.message,
    );
}

const ms = (n: number) => ({ nanos: BigInt(n) * 1_000_000n });

describe('specs the runtime always rejects', () => {
  it('are refused by the control API with the runtime rule, and nothing is written', async () => {
    h = await startControl({ nodes: [['node1', { hostname: 'alpha', cpus: 2 }]], components: false });
    const c = h.client;
    const v = h.store.version;
    const limits = { cpus: new Set([0, 1]), mems: new Set([0]) };
    const cases: [string, ReturnType<typeof replicatedSpec>, () => unknown, RegExp][] = [
      [
        '--limit-memory 1',
        replicatedSpec('a', 1, (s) => (s.task!.resources = { limits: { nanoCpus: 0n, memoryBytes: 1n, pids: 0n, generic: [] }, reservations: undefined })),
        () => validateLimits({ memoryBytes: 1 }, limits),
        /memory limit \(--limit-memory\): 1 is out of range: give a whole number of bytes of at least 6291456/,
      ],
      [
        '--limit-cpu 1000',
        replicatedSpec('a', 1, (s) => (s.task!.resources = { limits: { nanoCpus: 1000n * 1_000_000_000n, memoryBytes: 0n, pids: 0n, generic: [] }, reservations: undefined })),
        () => validateLimits({ cpuQuotaCores: 1000 }, limits),
        /CPU limit \(--limit-cpu\): 1000 is out of range: use 0.01..2 \(the largest node has 2 CPUs\)/,
      ],
      ['image ../../etc', replicatedSpec('a', 1, (s) => (s.task!.container!.image = '../../etc')), () => parseReference('../../etc'), /invalid image reference "..\/..\/etc"/],
      [
        "--hostname 'bad host'",
        replicatedSpec('a', 1, (s) => (s.task!.container!.hostname = 'bad host')),
        () => validateSpec({ hostname: 'bad host', rootfs: { layers: ['/'] }, args: ['true'] }),
        /invalid hostname "bad host"/,
      ],
      ["-u 'root;rm'", replicatedSpec('a', 1, (s) => (s.task!.container!.user = 'root;rm')), () => resolveUser('root;rm', []), /invalid user "root;rm"/],
      [
        '--cap-add NET_ADMN',
        replicatedSpec('a', 1, (s) => s.task!.container!.capAdd.push('NET_ADMN')),
        () => {
          const p = checkCapability('NET_ADMN', 'capAdd', true);
          if (p) throw new Error(p);
        },
        /cap_add \(--cap-add\): unknown capability "NET_ADMN"/,
      ],
      [
        '--ulimit nofile=10:5',
        replicatedSpec('a', 1, (s) => s.task!.container!.ulimits.push({ name: 'nofile', soft: 10n, hard: 5n })),
        () => {
          const p = checkUlimit({ name: 'nofile', soft: 10, hard: 5 });
          if (p) throw new Error(`x: ${p}`);
        },
        /ulimits \(--ulimit\): ulimit nofile: soft limit 10 is above the hard limit 5/,
      ],
      [
        '--constraint node.labels.x===y',
        replicatedSpec('a', 1, (s) => (s.task!.placement = { constraints: ['node.labels.x===y'], preferences: [], maxReplicas: 0, platforms: [] })),
        () => undefined,
        /invalid placement constraint "node.labels.x===y": the value "=y" holds "=" or "!"/,
      ],
    ];
    for (const [what, spec, runtime, text] of cases) {
      const err = await refusal(call(c, 'createService', { spec }));
      expect(err.details, what).toMatch(text);
      if (what.startsWith('--constraint')) continue; // the scheduler's parser is the control API's: one check
      // the same words as the runtime's, because it is the same code
      const words = (await runtimeError(runtime)).replace(/^.*?: /, '').slice(0, 30);
      expect(err.details, what).toContain(words);
    }
    // an update to such a spec is refused the same way
    await call(c, 'createService', { spec: replicatedSpec('ok', 0) });
    const before = h.store.version;
    const err = await refusal(call(c, 'updateService', { serviceId: 'ok', version: 0n, spec: replicatedSpec('ok', 0, (s) => (s.task!.container!.user = 'a b')), rollback: false }));
    expect(err.details).toMatch(/invalid user "a b"/);
    expect(h.store.version).toBe(before);
    expect(h.store.view((tx) => tx.services.all().map((s) => s.spec?.annotations?.name))).toEqual(['ok']);
    expect(v).toBeLessThan(before);
  });
});

describe('bounds on one request', () => {
  it('replicas above the configured limit are refused, naming the limit and how to raise it', async () => {
    h = await startControl({ deps: { maxReplicas: 5 }, components: false });
    const err = await refusal(call(h.client, 'createService', { spec: replicatedSpec('big', 6) }));
    expect(err.details).toMatch(/replicas 6 is more than the 5 allowed per service: .*shoal daemon --max-replicas N.*SHOAL_MAX_REPLICAS/);
    expect(h.store.view((tx) => tx.services.all())).toHaveLength(0);
    await call(h.client, 'createService', { spec: replicatedSpec('big', 5) });
    const up = await refusal(call(h.client, 'updateService', { serviceId: 'big', version: 0n, spec: replicatedSpec('big', 6), rollback: false }));
    expect(up.details).toMatch(/more than the 5 allowed/);
    const job = replicatedSpec('job', 0, (s) => (s.mode = { $case: 'replicatedJob', value: { maxConcurrent: 6, totalCompletions: 6 } }));
    expect((await refusal(call(h.client, 'createService', { spec: job }))).details).toMatch(/max concurrent 6 is more than the 5 allowed/);
  });

  it('the default limit refuses 100000 replicas', async () => {
    h = await startControl({ components: false });
    const err = await refusal(call(h.client, 'createService', { spec: replicatedSpec('big', 100_000) }));
    expect(err.details).toMatch(/replicas 100000 is more than the 1000 allowed per service/);
  });

  it('labels over 500 KiB per spec are refused, naming the field', async () => {
    h = await startControl({ components: false });
    const big = 'x'.repeat(900 * 1024);
    const svc = await refusal(call(h.client, 'createService', { spec: replicatedSpec('l', 1, (s) => (s.annotations!.labels = { a: big })) }));
    expect(svc.details).toMatch(/labels of service "l" take \d+ bytes \(labels \(--label\): \d+\); at most 512000/);
    const half = 'y'.repeat(300 * 1024);
    const both = await refusal(
      call(h.client, 'createService', { spec: replicatedSpec('l', 1, (s) => ((s.annotations!.labels = { a: half }), (s.task!.container!.labels = { b: half }))) }),
    );
    expect(both.details).toMatch(/container labels \(--container-label\)/);
    const node = await refusal(call(h.client, 'updateNode', { nodeId: 'alpha', version: 0n, spec: { annotations: { name: '', labels: { a: big } }, desiredRole: 1, availability: 0 } }));
    expect(node.details).toMatch(/labels of the node take/);
    const secret = await refusal(call(h.client, 'createSecret', { spec: { annotations: { name: 's', labels: { a: big } }, data: Buffer.from('x') } }));
    expect(secret.details).toMatch(/labels of the secret take/);
    expect(h.store.view((tx) => tx.services.all().length + tx.secrets.all().length)).toBe(0);
  });

  it('health check intervals below the floor are refused, naming the flag', async () => {
    h = await startControl({ components: false });
    const hc = (o: object) => replicatedSpec('hc', 1, (s) => (s.task!.container!.healthcheck = { test: ['CMD', 'true'], retries: 1, ...o } as never));
    expect((await refusal(call(h.client, 'createService', { spec: hc({ interval: { nanos: 1n } }) }))).details).toMatch(/health interval \(--health-interval\) of 1ns is below the minimum of 100ms/);
    expect((await refusal(call(h.client, 'createService', { spec: hc({ timeout: { nanos: 1n } }) }))).details).toMatch(/--health-timeout\) of 1ns is below the minimum of 1ms/);
    expect((await refusal(call(h.client, 'createService', { spec: hc({ startInterval: { nanos: 5n } }) }))).details).toMatch(/start_interval\) of 5ns/);
    await call(h.client, 'createService', { spec: hc({ interval: ms(100), timeout: ms(1), startInterval: ms(100) }) });
  });
});

describe('list answers', () => {
  it('come in pages under the message limit, however large the whole list', async () => {
    h = await startControl({ components: false });
    // 12 services of 400 KiB each: one answer would be ~4.8 MB, over gRPC's 4 MiB default
    const labels = { big: 'z'.repeat(400 * 1024) };
    for (let i = 0; i < 12; i++) await call(h.client, 'createService', { spec: replicatedSpec(`s${String(i).padStart(2, '0')}`, 0, (s) => (s.annotations!.labels = labels)) });
    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const r = await call<object, ListServicesResponse>(h.client, 'listServices', { names: [], idPrefixes: [], labels: {}, pageToken });
      names.push(...r.services.map((s) => s.spec!.annotations!.name));
      pageToken = r.nextPageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBeGreaterThan(1);
    expect(names).toEqual(Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`));
  });

  it('WatchTasks sends the current tasks in events under the message limit', async () => {
    h = await startControl();
    const labels = { big: 'z'.repeat(400 * 1024) };
    // container labels: each task carries them (service labels stay on the service)
    for (let i = 0; i < 11; i++) await call(h.client, 'createService', { spec: replicatedSpec(`w${i}`, 1, (s) => (s.task!.container!.labels = labels)) });
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 20_000;
      const poll = (): void => {
        if (h!.store.view((tx) => tx.tasks.all().length) === 11) resolve();
        else if (Date.now() > end) reject(new Error('tasks never made'));
        else setTimeout(poll, 20);
      };
      poll();
    });
    const seen = new Set<string>();
    let events = 0;
    const stream = h.client.watchTasks(WatchTasksRequest.fromPartial({ serviceIds: [] }));
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (ev: WatchTasksEvent) => {
        events++;
        for (const t of ev.tasks) seen.add(t.id);
        if (seen.size === 11) resolve();
      });
      stream.on('error', (err: Error) => (seen.size === 11 ? resolve() : reject(err)));
    });
    stream.cancel();
    expect(events).toBeGreaterThan(1);
  });

  it('honour page_size and a token that survives changes between pages', async () => {
    h = await startControl();
    const first = await call<object, ListNodesResponse>(h.client, 'listNodes', { names: [], roles: [], pageSize: 2 });
    expect(first.nodes.map((n) => n.description!.hostname)).toEqual(['alpha', 'beta']);
    const rest = await call<object, ListNodesResponse>(h.client, 'listNodes', { names: [], roles: [], pageSize: 2, pageToken: first.nextPageToken });
    expect(rest.nodes.map((n) => n.description!.hostname)).toEqual(['gamma']);
    expect(rest.nextPageToken).toBe('');
    await call(h.client, 'createService', { spec: replicatedSpec('web', 5) });
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 20_000;
      const poll = (): void => {
        const n = h!.store.view((tx) => tx.tasks.all().filter((t) => t.status?.state === TaskState.RUNNING).length);
        if (n === 5) resolve();
        else if (Date.now() > end) reject(new Error('tasks never ran'));
        else setTimeout(poll, 20);
      };
      poll();
    });
    const a = await call<object, ListTasksResponse>(h.client, 'listTasks', { serviceIds: ['web'], nodeIds: [], desiredStates: [], pageSize: 3 });
    expect(a.tasks.map((t) => t.slot)).toEqual([1, 2, 3]);
    const b = await call<object, ListTasksResponse>(h.client, 'listTasks', { serviceIds: ['web'], nodeIds: [], desiredStates: [], pageSize: 3, pageToken: a.nextPageToken });
    expect(b.tasks.map((t) => t.slot)).toEqual([4, 5]);
    const bad = await refusal(call(h.client, 'listTasks', { serviceIds: [], nodeIds: [], desiredStates: [], pageToken: 'garbage!' }));
    expect(bad.details).toMatch(/invalid page token/);
  });
});
