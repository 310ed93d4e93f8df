// Turning a plan of control writes into file writes on this host: drop (with a warning) the
// optional ones the host cannot honour, refuse the rest before anything is created.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CgroupUnsupportedError } from './errors.js';
import { fileExists, writeControl } from './fsio.js';
import type { ControlWrite } from './limits.js';

/** Keeps the writes whose controller exists; `missing` explains a required one that does not. */
export function keepSupported(
  plan: ControlWrite[],
  has: (controller: string) => boolean,
  missing: (w: ControlWrite) => string,
  log: Logger,
): ControlWrite[] {
  return plan.filter((w) => {
    if (has(w.controller)) return true;
    if (w.skipWarning) {
      log.warn({ controller: w.controller }, w.skipWarning);
      return false;
    }
    throw new CgroupUnsupportedError(missing(w));
  });
}

/** Writes each limit to the first candidate file present in its controller's directory. */
export async function writePlan(plan: ControlWrite[], dirOf: (controller: string) => string, log: Logger): Promise<void> {
  for (const w of plan) {
    const dir = dirOf(w.controller);
    const hit = w.candidates.find((c) => fileExists(join(dir, c.file)));
    if (hit) await writeControl(join(dir, hit.file), hit.value);
    else if (w.skipWarning) log.warn({ controller: w.controller }, w.skipWarning);
    else throw new CgroupUnsupportedError(`${join(dir, w.candidates[0]!.file)} does not exist on this kernel`);
  }
}
