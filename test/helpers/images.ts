// Paths of the test images built by test/setup/images.ts (vitest globalSetup), and a way to
// make a `docker save` tarball of one for tests of that loader.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, writeDockerSave, writeOciArchive, type BuiltImage } from '../../deploy/images/oci-archive.js';
import { TEST_IMAGES } from '../../deploy/images/recipes.js';

export type TestImageName = 'busybox' | 'redis';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.state', 'test-images');

/** OCI image-layout tarball of a test image; it exists when vitest ran the global setup. */
export function testImagePath(name: TestImageName): string {
  const path = join(DIR, `${name}.oci.tar`);
  if (!existsSync(path)) {
    throw new Error(`test image ${path} is missing: run tests through vitest (globalSetup test/setup/images.ts) or \`npx tsx deploy/images/build.ts\``);
  }
  return path;
}

const built = new Map<TestImageName, Promise<BuiltImage>>();

function build(name: TestImageName): Promise<BuiltImage> {
  let p = built.get(name);
  if (!p) {
    p = buildImage(TEST_IMAGES[name]());
    built.set(name, p);
  }
  return p;
}

/** Writes a `docker save` tarball of a test image to `path` (layers uncompressed, RepoTags set). */
export async function writeDockerSaveTestImage(name: TestImageName, path: string): Promise<BuiltImage> {
  const img = await build(name);
  await writeDockerSave(img, path);
  return img;
}

/** Writes the OCI tarball of a test image to `path`, returning what was built (ids, blobs). */
export async function writeOciTestImage(name: TestImageName, path: string): Promise<BuiltImage> {
  const img = await build(name);
  await writeOciArchive(img, path);
  return img;
}
