// vitest globalSetup: builds the test images once per run into <repo>/.state/test-images/.
// The builder skips images whose inputs did not change, so this costs ~nothing after the first run.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestImage } from '../../deploy/images/build.js';

export const TEST_IMAGES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.state', 'test-images');

export default async function setup(): Promise<void> {
  for (const name of ['busybox', 'redis'] as const) await buildTestImage(name, TEST_IMAGES_DIR);
}
