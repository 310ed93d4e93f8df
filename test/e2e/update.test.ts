// Rolling updates on a 3-host lab cluster with real containers, driven by the real `shoal service
// update` CLI on a host's local socket: stop-first and start-first to a second tag, a failing
// image rolled back, and a failing health check that replaces the task and shows why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../agent/images/index.js';
import { buildImage, writeOciArchive } from '../../deploy/images/oci-archive.js';
import { TEST_IMAGES } from '../../deploy/images/recipes.js';
import { TaskState } from '../../proto/gen/types.js';
import { runShoal } from '../cli/service-harness.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;
let dir: string;

/** busybox under a second tag, and an image whose entrypoint exits 1 whatever the args. */
async function loadExtraImages(): Promise<void> {
  const v2 = join(dir, 'v2.tar');
  const bad = join(dir, 'bad.tar');
  await writeOciArchive(await buildImage({ ...TEST_IMAGES.busybox(), name: 'docker.io/library/busybox:v2' }), v2);
  await writeOciArchive(await buildImage({ ...TEST_IMAGES.busybox(), name: 'docker.io/library/busybox:bad', config: { ...TEST_IMAGES.busybox().config, Entrypoint: ['sh', '-c', 'exit 1'] } }), bad);
  for (const h of c.lab.hosts) for (const p of [v2, bad]) await new ImageStore({ root: join(h.root, 'images') }).load(p);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoalru-'));
  c = await TestCluster.up({ name: 'shoalrue2e', subnet: '10.231.41.0/24', hosts: 3 });
  await loadExtraImages();
  await c.form();
}, 180_000);

afterAll(async () => {
  await c?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

const shoal = (args: string[]) => runShoal(args, { SHOAL_RUN: c.host('h1').run });
const liveImages = async (svc: string): Promise<string[]> =>
  (await c.tasks('h1', svc))
    .filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING)
    .map((t) => t.spec!.container!.image)
    .sort();
const six = (image: string) => Array.from({ length: 6 }, () => image);

describe('e2e: rolling update', () => {
  it('stop-first then start-first, parallelism 2, to another tag and back', async () => {
    await c.createService('h1', 'web', { replicas: 6 });
    await until(async () => (await c.running('h1', 'web')).length === 6, 'web 6/6');
    const a = await shoal(['service', 'update', '--image', 'busybox:v2', '--update-parallelism', '2', '--update-order', 'stop-first', '--update-monitor', '1s', 'web']);
    expect(a.code, a.stderr + a.stdout).toBe(0);
    expect(a.stdout).toMatch(/web: updated 6\/6/);
    expect(await liveImages('web')).toEqual(six('busybox:v2'));
    const b = await shoal(['service', 'update', '--image', 'busybox:latest', '--update-order', 'start-first', '--update-monitor', '1s', 'web']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    expect(await liveImages('web')).toEqual(six('busybox:latest'));
  }, 150_000);

  it('an image that exits 1 with failure action rollback: back on the old spec', async () => {
    const r = await shoal(['service', 'update', '--image', 'busybox:bad', '--update-parallelism', '2', '--update-failure-action', 'rollback', '--update-monitor', '2s', '--rollback-monitor', '1s', 'web']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/web: the update failed and was rolled back/);
    const { service } = await c.control<{ service: { spec: { task: { container: { image: string } } } } }>('h1', 'getService', { serviceId: 'web' });
    expect(service.spec.task.container.image).toBe('busybox:latest');
    await until(async () => JSON.stringify(await liveImages('web')) === JSON.stringify(six('busybox:latest')), 'web back on busybox:latest', 60_000);
  }, 120_000);

  it('a failing health check replaces the task and `service ps` says why', async () => {
    // the unhealthy container gets its stop grace (10 s: sleep ignores SIGTERM) before it counts as failed
    await c.createService('h1', 'hc', { replicas: 2 });
    await until(async () => (await c.running('h1', 'hc')).length === 2, 'hc 2/2');
    const r = await shoal(['service', 'update', '--health-cmd', 'exit 1', '--health-interval', '300ms', '--health-retries', '1', '--update-parallelism', '1', '--update-failure-action', 'pause', '--update-monitor', '30s', 'hc']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/hc: update paused: .*unhealthy/);
    const ps = await shoal(['service', 'ps', '--no-trunc', 'hc']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/failed .*task: non-zero exit \(unhealthy\)/i);
  }, 120_000);
});
