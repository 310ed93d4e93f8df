// From a task's secret and config references to the files it needs: where each appears in the
// container, as whom, with which bytes. Pure (no I/O), so a bad reference rejects the task
// before any mount exists.
import { posix } from 'node:path';
import type { FileTarget, Task } from '../../proto/gen/types.js';
import { TaskFileError } from './errors.js';
import type { SecretStore } from './store.js';

export interface PlannedFile {
  kind: 'secret' | 'config';
  id: string;
  name: string;
  /** Absolute path inside the container. */
  target: string;
  uid: number;
  gid: number;
  mode: number;
  data: Uint8Array;
}

/** Where secrets go when their target is relative (as in Docker). */
export const SECRETS_DIR_IN_CONTAINER = '/run/secrets';
/** proto3 cannot tell an unset mode from 0, and a file nobody may read is of no use: 0 means this. */
export const DEFAULT_FILE_MODE = 0o444;

function numericId(what: string, v: string, ref: string): number {
  if (v === '') return 0;
  if (!/^\d{1,10}$/.test(v) || Number(v) > 0xfffffffe) throw new TaskFileError(`${what} ${JSON.stringify(v)} of ${ref}: give a numeric id (e.g. "1000")`);
  return Number(v);
}

function targetPath(kind: 'secret' | 'config', name: string, file: FileTarget | undefined, ref: string): string {
  const given = file?.name || name;
  if (given.includes('\0')) throw new TaskFileError(`target of ${ref} contains a NUL byte`);
  // a relative secret lands in /run/secrets; a relative config is taken from the root, as in Docker
  const abs = given.startsWith('/') ? given : kind === 'secret' ? `${SECRETS_DIR_IN_CONTAINER}/${given}` : `/${given}`;
  if (abs.split('/').includes('..')) throw new TaskFileError(`target ${given} of ${ref} must not contain '..'`);
  const norm = posix.normalize(abs);
  if (norm === '/' || abs.endsWith('/')) throw new TaskFileError(`target ${given} of ${ref} must name a file, not a directory`);
  return norm;
}

function fileMode(file: FileTarget | undefined, ref: string): number {
  const mode = file?.mode ?? 0;
  if (mode === 0) return DEFAULT_FILE_MODE;
  if (mode > 0o7777) throw new TaskFileError(`mode ${mode.toString(8)} of ${ref} is not a file mode: use an octal mode such as 0400`);
  return mode;
}

/** Every file the task needs; throws TaskFileError naming the first reference this node cannot serve. */
export function planTaskFiles(task: Task, store: SecretStore | undefined): PlannedFile[] {
  const c = task.spec?.container;
  const out: PlannedFile[] = [];
  for (const r of c?.secrets ?? []) {
    const ref = `secret ${JSON.stringify(r.secretName || r.secretId)} (id ${r.secretId})`;
    const s = store?.secret(r.secretId);
    // the dispatcher sends a secret before the tasks that use it: reaching this is a bug upstream
    if (!s) throw new TaskFileError(`${ref} was not sent to this node: the task cannot start without it`);
    const name = r.secretName || s.spec?.annotations?.name || r.secretId;
    out.push({ kind: 'secret', id: r.secretId, name, target: targetPath('secret', name, r.file, ref), uid: numericId('uid', r.file?.uid ?? '', ref), gid: numericId('gid', r.file?.gid ?? '', ref), mode: fileMode(r.file, ref), data: s.spec?.data ?? new Uint8Array() });
  }
  for (const r of c?.configs ?? []) {
    const ref = `config ${JSON.stringify(r.configName || r.configId)} (id ${r.configId})`;
    const cfg = store?.config(r.configId);
    if (!cfg) throw new TaskFileError(`${ref} was not sent to this node: the task cannot start without it`);
    const name = r.configName || cfg.spec?.annotations?.name || r.configId;
    out.push({ kind: 'config', id: r.configId, name, target: targetPath('config', name, r.file, ref), uid: numericId('uid', r.file?.uid ?? '', ref), gid: numericId('gid', r.file?.gid ?? '', ref), mode: fileMode(r.file, ref), data: cfg.spec?.data ?? new Uint8Array() });
  }
  const seen = new Map<string, PlannedFile>();
  for (const f of out) {
    const other = seen.get(f.target);
    if (other) throw new TaskFileError(`${f.kind} ${JSON.stringify(f.name)} and ${other.kind} ${JSON.stringify(other.name)} both target ${f.target}: give one of them another target`);
    seen.set(f.target, f);
  }
  return out;
}
