// Container names and id references. A name is claimed by creating <stateDir>/.names/<name>
// with O_EXCL, so two processes creating the same name at once cannot both win.
import { readdir, readFile, unlink, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NameInUseError, NoSuchContainerError } from './errors.js';

export class NameRegistry {
  private readonly dir: string;
  constructor(private readonly stateDir: string) {
    this.dir = join(stateDir, '.names');
  }

  /** Claims `name` for `id`; a claim whose container no longer exists (`alive` false) is taken over. */
  async reserve(name: string, id: string, alive: (id: string) => boolean): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(path, id, { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = (await readFile(path, 'utf8').catch(() => '')).trim();
        if (owner && alive(owner)) throw new NameInUseError(name, owner);
        await unlink(path).catch(() => undefined);
      }
    }
    throw new NameInUseError(name, '(being created)');
  }

  async release(name: string, id: string): Promise<void> {
    const path = join(this.dir, name);
    const owner = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (owner === id) await unlink(path).catch(() => undefined);
  }

  /** A full id, a name, or a unique id prefix -> the full id. */
  async resolve(ref: string): Promise<string> {
    if (/^[0-9a-f]{64}$/.test(ref) && existsSync(join(this.stateDir, ref))) return ref;
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref)) {
      const owner = (await readFile(join(this.dir, ref), 'utf8').catch(() => '')).trim();
      if (owner && existsSync(join(this.stateDir, owner))) return owner;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const ids = (await readdir(this.stateDir).catch(() => [] as string[])).filter((e) => /^[0-9a-f]{64}$/.test(e) && e.startsWith(ref));
      if (ids.length === 1) return ids[0]!;
    }
    throw new NoSuchContainerError(ref);
  }
}
