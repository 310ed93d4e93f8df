// Builds the test images from this machine's binaries:
//   npx tsx deploy/images/build.ts --out DIR [busybox] [redis]
// writes DIR/<name>.oci.tar (OCI image layout, reproducible digests) and prints one JSON line
// per image. A build whose inputs (builder sources and host binaries) did not change is skipped.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, imageId, manifestDigest, writeOciArchive } from './oci-archive.js';
import { BUSYBOX_BIN, REDIS_CLI_BIN, REDIS_SERVER_BIN, TEST_IMAGES, type TestImageName } from './recipes.js';

export interface BuiltTestImage {
  name: TestImageName;
  path: string;
  id: string;
  manifestDigest: string;
  cached: boolean;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const HOST_INPUTS: Record<TestImageName, string[]> = {
  busybox: [BUSYBOX_BIN],
  redis: [BUSYBOX_BIN, REDIS_SERVER_BIN, REDIS_CLI_BIN],
};

/** A key that changes when the builder or the host binaries do; libraries move with packages. */
function inputKey(name: TestImageName): string {
  const h = createHash('sha256');
  for (const f of readdirSortedTs()) h.update(f).update(readFileSync(join(HERE, f)));
  for (const bin of HOST_INPUTS[name]) {
    const st = statSync(bin);
    h.update(`${bin}:${st.size}:${st.mtimeMs}`);
  }
  return h.digest('hex');
}

function readdirSortedTs(): string[] {
  return ['build.ts', 'host-files.ts', 'layer-tar.ts', 'oci-archive.ts', 'recipes.ts'];
}

export async function buildTestImage(name: TestImageName, outDir: string, opts: { force?: boolean } = {}): Promise<BuiltTestImage> {
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, `${name}.oci.tar`);
  const stampPath = `${path}.stamp.json`;
  const key = inputKey(name);
  if (!opts.force) {
    const stamp = await readFile(stampPath, 'utf8').then((t) => JSON.parse(t) as Omit<BuiltTestImage, 'cached'> & { key: string }, () => undefined);
    const exists = await readdir(outDir).then((n) => n.includes(`${name}.oci.tar`));
    if (stamp && stamp.key === key && exists) return { name, path, id: stamp.id, manifestDigest: stamp.manifestDigest, cached: true };
  }
  const img = await buildImage(TEST_IMAGES[name]());
  await writeOciArchive(img, path);
  const built = { name, path, id: imageId(img), manifestDigest: manifestDigest(img) };
  await writeFile(stampPath, JSON.stringify({ ...built, key }));
  return { ...built, cached: false };
}

async function main(argv: string[]): Promise<void> {
  let out = resolve('.state/test-images');
  let force = false;
  const names: TestImageName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out' || a === '-o') out = resolve(argv[++i] ?? '');
    else if (a === '--force') force = true;
    else if (a in TEST_IMAGES) names.push(a as TestImageName);
    else throw new Error(`unknown argument "${a}": usage: build.ts --out DIR [--force] [${Object.keys(TEST_IMAGES).join('] [')}]`);
  }
  for (const name of names.length ? names : (Object.keys(TEST_IMAGES) as TestImageName[])) {
    console.log(JSON.stringify(await buildTestImage(name, out, { force })));
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`build.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
