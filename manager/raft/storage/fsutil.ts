// Small durable-file helpers shared by the WAL and the snapshot store.
import { open, rename, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

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
export async function writeFully(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
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
