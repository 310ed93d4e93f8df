// Waiting for a container's exit without being the shim's parent: the shim records exit.json
// in the state directory, which we watch with inotify (fs.watch), with a slow poll as a safety
// net that also notices a supervisor that died without writing the file.
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { files, initAlive, lostExit, readExit, readPidFile, readRecord, shimAlive, writeJsonAtomic } from './state.js';
import type { ExitStatus } from './types.js';
import { reapSupervisors } from './shim.js';
import { hasCode } from '../../proto/undo.js';

const POLL_MS = 500;

export function waitForExit(dir: string, signal?: AbortSignal): Promise<ExitStatus> {
  return new Promise<ExitStatus>((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (err: unknown, status?: ExitStatus): void => {
      if (done) return;
      done = true;
      reapSupervisors();
      watcher?.close();
      if (timer) clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(status!);
    };
    const onAbort = (): void => finish(signal?.reason ?? new Error('aborted'));
    const check = async (poll: boolean): Promise<void> => {
      const exit = await readExit(dir);
      if (exit) return finish(null, exit);
      if (!poll) return;
      const rec = await readRecord(dir);
      if (!rec) return finish(new Error(`container state ${dir} vanished while waiting`));
      const started = rec.pid !== undefined || (await readPidFile(dir, files.initPid)) !== null;
      if (started && !initAlive(rec) && !(await shimAlive(dir))) {
        // the shim may have written the file between our two reads
        const late = await readExit(dir);
        if (late) return finish(null, late);
        const lost = lostExit();
        await writeJsonAtomic(join(dir, files.exit), { code: lost.code, signal: 0, oomKilled: false, finishedAt: lost.finishedAt });
        finish(null, lost);
      }
    };
    const run = (poll: boolean): void => void check(poll).catch((e: unknown) => finish(e));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    try {
      watcher = watch(dir, (_event, name) => {
        if (name === null || name === files.exit) run(false);
      });
      watcher.on('error', () => undefined);
    } catch (err) {
      if (!hasCode(err, ['ENOSPC', 'EMFILE', 'ENOSYS', 'ENOENT'])) throw err;
      // no inotify: the poll below still finds the exit
    }
    timer = setInterval(() => run(true), POLL_MS);
    run(true);
  });
}
