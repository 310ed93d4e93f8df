// Real containers for the health-check tests: a runtime and image store in a temp root, cgroup
// parent shoalup-*, the busybox test image, and a cleanup that removes everything and reports
// what was left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ImageStore } from '../../../agent/images/index.js';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { testImagePath } from '../../helpers/images.js';
import { leftoverCgroups, leftoverMounts } from '../runtime/helpers.js';

export interface HealthFixture {
  runtime: ContainerRuntime;
  /** Starts a busybox container running `sleep`; returns its id. */
  sleeper(): Promise<string>;
  cleanup(): Promise<string[]>;
}

export async function makeHealthFixture(): Promise<HealthFixture> {
  const root = mkdtempSync(join(tmpdir(), 'shoalup-health-'));
  const cgroupParent = `shoalup-health-${process.pid}`;
  const logger = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
  const cgroups = detectCgroups({ logger });
  const runtime = new ContainerRuntime({ stateDir: join(root, 'containers'), cgroupParent, cgroups, logger });
  const images = new ImageStore({ root: join(root, 'images') });
  try {
    const [rec] = await images.load(testImagePath('busybox'));
    const image = await images.resolve(rec!.id);
    return {
      runtime,
      async sleeper() {
        const c = await runtime.run({ rootfs: { layers: image.layerDirs }, args: ['/bin/sleep', '600'], hostname: 'shoalup' });
        return c.id;
      },
      async cleanup() {
        for (const c of await runtime.list()) await runtime.remove(c.id, { force: true }).catch(() => undefined);
        await cgroups.open(cgroupParent)?.remove();
        const left = [...leftoverCgroups(cgroupParent), ...leftoverMounts(root)];
        rmSync(root, { recursive: true, force: true });
        return left;
      },
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
