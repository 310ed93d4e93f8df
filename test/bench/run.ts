// `npm run bench -- NAME [args] [--smoke]`: runs test/bench/NAME.ts, whose default export prints
// its progress and ends with one JSON line (the result) on stdout. --smoke: small sizes, anchors
// skipped, same code paths (see BenchOptions); CI runs every benchmark so (smoke-all.ts).
// Benchmarks run outside vitest: nothing they import may import vitest (it refuses to load
// outside its runner), so the test images that vitest's globalSetup builds are built here too.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import buildTestImages from '../setup/images.js';
import type { BenchMain } from '../bench-helpers/bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const name = process.argv[2];
const file = name ? path.join(here, `${name}.ts`) : '';
if (!name || !/^[a-z0-9-]+$/.test(name) || name === 'run' || !existsSync(file)) {
  process.stderr.write(`usage: npm run bench -- NAME   (unknown benchmark ${JSON.stringify(name ?? '')})\n`);
  process.exit(2);
}
await buildTestImages(); // skipped per image when its inputs did not change
const args = process.argv.slice(3);
const smoke = args.includes('--smoke');
const mod = (await import(pathToFileURL(file).href)) as { default: BenchMain };
await mod.default(args.filter((a) => a !== '--smoke'), { smoke });
