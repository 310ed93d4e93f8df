// Who may open shoal's state on disk: root only. SHOAL_ROOT and SHOAL_RUN hold the Raft log (every
// secret, the join tokens, the root CA's key), nodes' private keys, containers' environments, and
// image layers and container filesystems whose setuid binaries and device nodes would serve any
// local user who could reach them. Every entry point (the single-host CLI, the daemon, the lab)
// makes these directories through here, so the rule has one home. It lives in proto/ (not a wire
// API, but the one folder that every layer, manager/raft included, may import) and uses node's
// built-ins only.
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * Directories with state: only their owner (root) may list or enter them. No path needs 0711
 * (Docker's /var/lib/docker, for user-namespaced roots): overlays and bind mounts are set up by
 * root, and a container's processes, whatever their uid, never walk these host paths afterwards.
 */
export const PRIVATE_DIR_MODE = 0o700;
/** Files holding secrets, keys or containers' settings. */
export const SECRET_FILE_MODE = 0o600;

/** Subtrees of SHOAL_ROOT that hold keys, the Raft log, image layers, volumes or agent state. */
export const PRIVATE_ROOT_SUBDIRS = ['certificates', 'raft', 'images', 'agent', 'volumes'] as const;
/** Subtrees of SHOAL_RUN that hold containers (records, writable layers), secrets and configs. */
export const PRIVATE_RUN_SUBDIRS = ['containers', 'secrets', 'configs'] as const;
/** Subtrees whose files are all shoal's own (never an image's or a container's): tightened file by file. */
const OWN_FILE_SUBDIRS = ['raft', 'agent'] as const;
/** Private keys among the node's certificates (the certificates themselves are public). */
const KEY_FILES = ['certificates/node.key', 'certificates/node.key.next'] as const;

/** A directory or file found more open than allowed, and closed. */
export interface ModeFix {
  path: string;
  was: number;
  now: number;
}
export type ModeFixReport = (fix: ModeFix) => void;

/** SHOAL_ROOT or SHOAL_RUN cannot be made private (not a directory, or another user owns it). */
export class StateDirError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'StateDirError';
  }
}

export const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/**
 * Makes `path` a directory with at most `mode`'s permissions: created with it (missing parents
 * too), or chmod'ed and reported if it exists with more. A directory owned by another user is
 * refused: its owner could open it again whenever it likes.
 */
export function ensurePrivateDir(path: string, report?: ModeFixReport, mode: number = PRIVATE_DIR_MODE): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // a file there: said below
  }
  const st = statSync(path);
  if (!st.isDirectory()) throw new StateDirError(`${path} is not a directory: shoal keeps its state there; move it away`);
  checkOwner(path, st);
  tighten(path, st, mode, report);
}

/** Drops permission bits beyond `mode` from an existing file or directory (missing: nothing to do). */
export function tightenPath(path: string, mode: number, report?: ModeFixReport): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (st.isSymbolicLink()) return; // its own mode means nothing; what it points at is not ours to change
  tighten(path, st, mode, report);
}

function tighten(path: string, st: Stats, mode: number, report?: ModeFixReport): void {
  const was = st.mode & 0o7777;
  if ((was & ~mode & 0o777) === 0) return;
  const now = was & mode;
  chmodSync(path, now);
  report?.({ path, was, now });
}

function checkOwner(path: string, st: Stats): void {
  const me = process.geteuid?.();
  if (me === undefined || st.uid === me) return;
  throw new StateDirError(`${path} is owned by uid ${st.uid}, not by this user (uid ${me}): that user could open shoal's state to anyone; chown it to uid ${me} or choose another directory`);
}

/** Every regular file and directory below `dir` loses its group and other bits (shoal's own files only). */
function tightenTree(dir: string, report?: ModeFixReport): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      tighten(p, st, PRIVATE_DIR_MODE, report);
      tightenTree(p, report);
    } else if (st.isFile()) {
      tighten(p, st, SECRET_FILE_MODE | (st.mode & 0o100), report);
    }
  }
}

export interface StateDirs {
  /** SHOAL_ROOT: persistent state. */
  root?: string;
  /** SHOAL_RUN: volatile state (containers, secrets, the local socket). */
  run?: string;
}

/**
 * What every entry point runs before touching its state: SHOAL_ROOT and SHOAL_RUN private
 * (created so, or corrected), their sensitive subtrees private where they exist, and shoal's own
 * files in them (keys, Raft log, agent state, node.json, containers' records) 0600.
 */
export function secureStateDirs(dirs: StateDirs, report?: ModeFixReport): void {
  if (dirs.root !== undefined) {
    ensurePrivateDir(dirs.root, report);
    for (const sub of PRIVATE_ROOT_SUBDIRS) tightenPath(join(dirs.root, sub), PRIVATE_DIR_MODE, report);
    for (const sub of OWN_FILE_SUBDIRS) tightenTree(join(dirs.root, sub), report);
    for (const key of KEY_FILES) tightenPath(join(dirs.root, key), SECRET_FILE_MODE, report);
    tightenPath(join(dirs.root, 'node.json'), SECRET_FILE_MODE, report);
  }
  if (dirs.run !== undefined) {
    ensurePrivateDir(dirs.run, report);
    for (const sub of PRIVATE_RUN_SUBDIRS) tightenPath(join(dirs.run, sub), PRIVATE_DIR_MODE, report);
    secureContainerRecords(join(dirs.run, 'containers'), report);
  }
}

/** Each container's directory (record, writable layer) private and its container.json 0600. */
export function secureContainerRecords(containersDir: string, report?: ModeFixReport): void {
  let names: string[];
  try {
    names = readdirSync(containersDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  // container directories only (64 hex digits): the runtime's shared entries (.names, .layers) sit
  // behind containersDir and must keep their own modes
  for (const name of names.filter((n) => /^[0-9a-f]{64}$/.test(n))) {
    const dir = join(containersDir, name);
    tightenPath(dir, PRIVATE_DIR_MODE, report);
    tightenPath(join(dir, 'container.json'), SECRET_FILE_MODE, report);
  }
}

/** One line for a log or the CLI's stderr. */
export function describeModeFix(f: ModeFix): string {
  return `${f.path} was mode ${octal(f.was)}, open to other local users: changed to ${octal(f.now)}`;
}
