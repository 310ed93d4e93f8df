// Small durable-file helpers shared by the WAL and the snapshot store.
import { open, rename, writeFile } from 'node:fs/promises';
import { fdatasync as fsFdatasync, writeSync } from 'node:fs';

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
  await writeFile(tmp, data);
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}
