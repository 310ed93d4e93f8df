// A real runtime and image store for the executor and agent tests: temp dirs and a cgroup parent
// named shoalag-*, the busybox test image loaded, and a cleanup that removes every container,
// the cgroup parent and the dirs (and says what was left behind).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ImageStore } from '../../../agent/images/index.js';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { unmountAll } from '../../../agent/secrets/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { testImagePath } from '../../helpers/images.js';
import { leftoverCgroups, leftoverMounts } from '../runtime/helpers.js';

export interface AgentFixture {
  root: string;
  runDir: string;
  cgroupParent: string;
  logger: Logger;
  runtime: ContainerRuntime;
  images: ImageStore;
  /** A runtime over the same state (what a restarted agent builds). */
  newRuntime(): ContainerRuntime;
  cleanup(): Promise<string[]>;
}

/** `prefix` names every kernel object and temp dir (the executor tests use shoalag). */
export async function makeAgentFixture(tag: string, prefix = 'shoalag'): Promise<AgentFixture> {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-${tag}-`));
  const runDir = join(root, 'run', 'containers');
  const cgroupParent = `${prefix}-${tag}-${process.pid}`;
  const logger = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
  const cgroups = detectCgroups({ logger });
  const newRuntime = (): ContainerRuntime => new ContainerRuntime({ stateDir: runDir, cgroupParent, cgroups, logger });
  const runtime = newRuntime();
  const images = new ImageStore({ root: join(root, 'images') });
  await images.load(testImagePath('busybox'));
  return {
    root,
    runDir,
    cgroupParent,
    logger,
    runtime,
    images,
    newRuntime,
    async cleanup() {
      for (const c of await runtime.list()) await runtime.remove(c.id, { force: true }).catch(() => undefined);
      await cgroups.open(cgroupParent)?.remove();
      const left = [...leftoverCgroups(cgroupParent), ...leftoverMounts(root)];
      // reported above as a failure, but never left on the host (nor fail the rm below)
      await unmountAll(root).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
      return left;
    },
  };
}
