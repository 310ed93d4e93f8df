// `npm run bench -- NAME [args]`: runs test/bench/NAME.ts, whose default export prints its
// progress and ends with one JSON line (the result) on stdout.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const name = process.argv[2];
const file = name ? path.join(here, `${name}.ts`) : '';
if (!name || !/^[a-z0-9-]+$/.test(name) || !existsSync(file)) {
  process.stderr.write(`usage: npm run bench -- NAME   (unknown benchmark ${JSON.stringify(name ?? '')})\n`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(file).href)) as { default: (args: string[]) => Promise<void> };
await mod.default(process.argv.slice(3));
