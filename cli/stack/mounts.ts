// Service volumes: short syntax ("[SOURCE:]TARGET[:MODE]") and long syntax, into one long
// form. A source that starts with /, . or ~ is a bind mount; anything else names a volume.
import { isAbsolute, resolve } from 'node:path';
import { isMap, newMap, type Plain, type PlainMap } from './tree.js';
import type { Environment } from './interpolate.js';

export interface MountResult { mount?: PlainMap; errors: string[]; warnings?: string[] }

const propagations = new Set(['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave']);
/** Carried in the mount, as Docker does (only Docker Desktop's file sharing reads it). */
const consistencies = new Set(['default', 'consistent', 'cached', 'delegated']);

export function resolveHostPath(p: string, workingDir: string, env: Environment): string {
  if (p === '~' || p.startsWith('~/')) return resolve(env.HOME ?? '/root', p.slice(2));
  return isAbsolute(p) ? p : resolve(workingDir, p);
}

function isPathLike(s: string): boolean {
  return s.startsWith('/') || s.startsWith('.') || s.startsWith('~');
}

/** `blankSource`: the entry's text lost a variable to interpolation (unset or empty). */
export function parseMountEntry(entry: Plain, workingDir: string, env: Environment, blankSource = false): MountResult {
  if (isMap(entry)) return parseLong(entry, workingDir, env, blankSource);
  if (typeof entry !== 'string') return { errors: ['a volume is a string like "data:/var/lib/data" or a mapping with type, source, target'] };
  const parts = entry.split(':');
  if (parts.length > 3 || entry === '') return { errors: [`invalid volume "${entry}": use [SOURCE:]TARGET[:MODE], e.g. "data:/var/lib/data:ro"`] };
  // Docker refuses these too: an empty source would silently become an anonymous volume.
  const empty = parts.findIndex((p) => p === '');
  if (empty >= 0) {
    const which = empty === 0 ? 'source' : empty === 1 ? 'target' : 'mode';
    return { errors: [`invalid volume "${entry}": empty ${which} between colons: use [SOURCE:]TARGET[:MODE], e.g. "/srv/media:/media"`] };
  }
  const out = newMap();
  let modes: string[] = [];
  if (parts.length === 1) {
    out.type = 'volume';
    out.target = parts[0]!;
  } else {
    const [source, target, mode] = parts as [string, string, string | undefined];
    out.type = isPathLike(source) ? 'bind' : 'volume';
    out.source = out.type === 'bind' ? resolveHostPath(source, workingDir, env) : source;
    out.target = target;
    modes = mode ? mode.split(',') : [];
  }
  const errors: string[] = [];
  if (!String(out.target).startsWith('/')) {
    // "- volume1" is Docker's anonymous volume at a relative path, which dockerd then refuses.
    const hint = parts.length === 1 ? `; to mount the named volume ${entry}, write "${entry}:/path/in/container"` : '';
    errors.push(`volume target "${String(out.target)}" in "${entry}" is not an absolute path: the path inside the container starts with /${hint}`);
  }
  out.read_only = false;
  const warnings: string[] = [];
  for (const m of modes) {
    if (m === 'ro') out.read_only = true;
    else if (m === 'rw') continue;
    else if (consistencies.has(m)) out.consistency = m;
    else if (m === 'z' || m === 'Z') warnings.push(`option "${m}" in "${entry}" is ignored: bind sources are not relabelled for SELinux`);
    else if (m === 'nocopy' && out.type === 'volume') out.volume = Object.assign(newMap(), { nocopy: true });
    else if (propagations.has(m) && out.type === 'bind') out.bind = Object.assign(newMap(), { propagation: m });
    else errors.push(`unknown volume option "${m}" in "${entry}": use ro, rw, nocopy, a bind propagation or a consistency (cached, delegated)`);
  }
  return errors.length ? { errors } : { mount: out, errors, warnings };
}

function parseLong(m: PlainMap, workingDir: string, env: Environment, blankSource: boolean): MountResult {
  const out = newMap();
  for (const k of Object.keys(m)) if (!k.startsWith('x-')) out[k] = m[k]!;
  const source = typeof m.source === 'string' ? m.source : undefined;
  const type = typeof m.type === 'string' ? m.type : source && isPathLike(source) ? 'bind' : 'volume';
  out.type = type;
  const errors: string[] = [];
  if (typeof m.target !== 'string' || !m.target.startsWith('/')) errors.push(`volume target ${JSON.stringify(m.target ?? null)} is not an absolute path`);
  if (type === 'cluster') errors.push('cluster (CSI) volumes are not supported: use type volume, bind or tmpfs');
  if (m.source === '' && blankSource) errors.push('`source:` is empty: an empty source would be an anonymous volume');
  if (type === 'bind') {
    if (!source) errors.push('a bind mount needs `source:`, the path on the host');
    else out.source = resolveHostPath(source, workingDir, env);
  }
  if (type === 'tmpfs' && source) errors.push('a tmpfs mount takes no `source:`');
  if (typeof m.consistency === 'string' && !consistencies.has(m.consistency)) errors.push(`consistency "${m.consistency}" is not one of ${[...consistencies].join(', ')}`);
  // Mounting the whole volume where a part of it was asked for would be a silent wrong result.
  if (isMap(m.volume) && m.volume.subpath !== undefined) errors.push('`volume.subpath` is not supported yet: mount the volume elsewhere and point the program at the sub-directory');
  out.read_only = m.read_only === true;
  return errors.length ? { errors } : { mount: out, errors };
}

/** The `tmpfs:` service key ("/run" or "/run:size=64m,mode=1777") as tmpfs mounts. */
export function parseTmpfsEntry(entry: string): MountResult {
  const [target, opts] = entry.split(/:(.*)/s) as [string, string | undefined];
  if (!target.startsWith('/')) return { errors: [`tmpfs target "${target}" is not an absolute path`] };
  const out = Object.assign(newMap(), { type: 'tmpfs', target, read_only: false }) as PlainMap;
  const tmpfs = newMap();
  for (const opt of (opts ?? '').split(',').filter(Boolean)) {
    const [k, v] = opt.split('=') as [string, string | undefined];
    if (k === 'size' && v) tmpfs.size = v;
    else if (k === 'mode' && v && /^[0-7]+$/.test(v)) tmpfs.mode = parseInt(v, 8);
    else return { errors: [`unknown tmpfs option "${opt}" in "${entry}": use size= or mode=`] };
  }
  if (Object.keys(tmpfs).length) out.tmpfs = tmpfs;
  return { mount: out, errors: [] };
}
