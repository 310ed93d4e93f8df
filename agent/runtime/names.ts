// Container names and id references. A name is claimed by creating <stateDir>/.names/<name>
// with O_EXCL, so two processes creating the same name at once cannot both win.
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NameInUseError, NoSuchContainerError } from './errors.js';
import { hasCode } from '../../proto/undo.js';

export class NameRegistry {
  private readonly dir: string;
  constructor(private readonly stateDir: string) {
    this.dir = join(stateDir, '.names');
  }

  /** Claims `name` for `id`; a claim whose container no longer exists (`alive` false) is taken over. */
  async reserve(name: string, id: string, alive: (id: string) => boolean): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // the thread pool: creating the file waits for the disk's journal (see state.ts)
        await writeFile(path, id, { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = readOr(path);
        if (owner && alive(owner)) throw new NameInUseError(name, owner);
        unlinkQuiet(path);
      }
    }
    throw new NameInUseError(name, '(being created)');
  }

  async release(name: string, id: string): Promise<void> {
    const path = join(this.dir, name);
    const owner = readOr(path);
    if (owner === id) unlinkQuiet(path);
  }

  /** A full id, a name, or a unique id prefix -> the full id. */
  async resolve(ref: string): Promise<string> {
    if (/^[0-9a-f]{64}$/.test(ref) && existsSync(join(this.stateDir, ref))) return ref;
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref)) {
      const owner = readOr(join(this.dir, ref));
      if (owner && existsSync(join(this.stateDir, owner))) return owner;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const ids = listDir(this.stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e) && e.startsWith(ref));
      if (ids.length === 1) return ids[0]!;
    }
    throw new NoSuchContainerError(ref);
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return '';
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    // already gone
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return [];
  }
}
