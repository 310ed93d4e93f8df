// The single-host commands make or open SHOAL_ROOT and SHOAL_RUN before anything else, through the
// one rule in proto/file-modes.ts: private to root, corrected (and said so on stderr) if found open.
import { describeModeFix, secureStateDirs } from '../../proto/file-modes.js';

export function secureCliStateDirs(dirs: { root?: string; run?: string }): void {
  secureStateDirs(dirs, (fix) => process.stderr.write(`shoal: warning: ${describeModeFix(fix)}\n`));
}

export function shoalRunDir(run: string | undefined): string {
  return run ?? (process.env.SHOAL_RUN || '/run/shoal');
}
