// shoal's own version, from its package.json: the CLI prints it and the daemon reports it in Info,
// so a client and a daemon of different builds can be told apart.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The version in shoal's package.json (found upwards from this file, in the source tree or dist/). */
export function shoalVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'shoal' && pkg.version) return (cached = pkg.version);
    } catch (e) {
      // not here (or not readable): look one level up
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e;
    }
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
