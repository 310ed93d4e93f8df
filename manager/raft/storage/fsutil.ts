// Small durable-file helpers shared by the WAL and the snapshot store.
import { open, rename, writeFile } from 'node:fs/promises';
import { fdatasync as fsFdatasync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { SECRET_FILE_MODE } from '../../../proto/file-modes.js';

/** fsync a directory so that a create, rename or unlink inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes the whole buffer at `position` (a write may be partial for large buffers). */
export function writeAllSync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsFdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Temp name, fsync, rename, fsync the directory: the file is either absent or complete. */
export async function writeFileAtomic(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  await writeFile(tmp, data, { mode: SECRET_FILE_MODE }); // snapshots hold every secret of the cluster
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}

/**
 * Claims a state directory for this process: two members writing one WAL would interleave
 * records. The lock file holds the owner's pid; a lock left by a dead process (kill -9) is taken over.
 * Returns the pid that holds it if another live process does, else undefined.
 */
export function claimDir(dir: string): number | undefined {
  const file = `${dir}/lock`;
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (pid && pid !== process.pid && alive(pid)) return pid;
  } catch {
    // no lock yet
  }
  writeFileSync(file, `${process.pid}\n`);
  return undefined;
}

/** Drops our claim (on close); a lock held by someone else is left alone. */
export function releaseDir(dir: string): void {
  try {
    if (Number(readFileSync(`${dir}/lock`, 'utf8').trim()) === process.pid) unlinkSync(`${dir}/lock`);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
