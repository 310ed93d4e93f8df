// One exclusive lock per store (flock on <root>/lock) around every change to refs, image
// records and the layer set, so an agent and a CLI process sharing SHOAL_ROOT never interleave.
// The kernel drops the lock when a holder dies, so a crash cannot wedge the store.
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsOps } from './native.js';

export async function withStoreLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const fh = await open(lockFile, 'a');
  try {
    const ops = fsOps();
    // flock(LOCK_NB) and poll: a blocking flock would stall Node's event loop.
    for (let delay = 2; !ops.flock(fh.fd, 'ex'); delay = Math.min(delay * 2, 50)) await sleep(delay);
    try {
      return await fn();
    } finally {
      ops.flock(fh.fd, 'un');
    }
  } finally {
    await fh.close();
  }
}
