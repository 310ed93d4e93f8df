// A two-layer test image for copy-up: busybox below, and above it whiteouts (a removed file, an
// opaque directory), a file owned by 1234 with mode 0600 and a symlink to the image's /etc.
import { join } from 'node:path';
import { buildImage, writeOciArchive } from '../../../deploy/images/oci-archive.js';
import { busyboxLayer } from '../../../deploy/images/recipes.js';
import type { ImageStore } from '../../../agent/images/index.js';

export const SEED_IMAGE = 'shoalsa/seed:1';

const f = (path: string, s: string, extra: { mode?: number; uid?: number; gid?: number } = {}) => ({ path, type: 'file' as const, data: Buffer.from(s), ...extra });

/** Builds the image, loads it into `images` and returns its reference. */
export async function loadSeedImage(images: ImageStore, dir: string): Promise<string> {
  const img = await buildImage({
    name: `docker.io/${SEED_IMAGE}`,
    layers: [
      [...busyboxLayer(), { path: 'seed', type: 'dir' }, f('seed/a.txt', 'a'), f('seed/b.txt', 'b'), { path: 'opq', type: 'dir' }, f('opq/x.txt', 'x')],
      [
        { path: 'seed', type: 'dir', mode: 0o750, uid: 1234, gid: 1234 },
        f('seed/.wh.a.txt', ''),
        f('seed/c.txt', 'c', { mode: 0o600, uid: 1234, gid: 1234 }),
        { path: 'opq', type: 'dir' },
        f('opq/.wh..wh..opq', ''),
        f('opq/y.txt', 'y'),
        { path: 'etclink', type: 'symlink', target: '/etc' },
      ],
    ],
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
  });
  const path = join(dir, 'seed.oci.tar');
  await writeOciArchive(img, path);
  await images.load(path);
  return SEED_IMAGE;
}
