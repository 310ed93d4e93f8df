// Helpers of the gre tests: shoal-gre processes of a lab, a ping that may need a few tries.
import { readdirSync, readFileSync } from 'node:fs';
import type { Endpoint } from './fixtures.js';

/** Command lines of shoal-gre processes whose control socket lies under `base`. */
export function greProcesses(base: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv = cmd.split('\0');
    if (argv.some((a) => a.endsWith('shoal-gre')) && argv.some((a) => a.startsWith(base))) found.push(argv.join(' ').trim());
  }
  return found;
}

/** A ping that gets an answer within a few tries (right after a restart the first may not). */
export async function pingsSoon(from: Endpoint, to: string, tries = 5): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await from.c.exec(['ping', '-n', '-c', '1', '-W', '2', to]);
    if (r.code === 0) return true;
  }
  return false;
}
