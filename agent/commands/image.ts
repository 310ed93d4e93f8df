// `shoal image ...`: the local image store, used directly as `ctr images` does (no daemon).
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { pino } from 'pino';
import { isUserFacing, UsageError } from '../../cli/errors.js';
import { DEFAULT_LAYER_LIMITS, ImageStore, imageStoreRoot, defaultShoalRoot, layerLimits, type ImageConfig, type ImageRecord } from '../images/index.js';
import { secureCliStateDirs, shoalRunDir } from './state-dirs.js';
import { unless } from '../../proto/undo.js';

interface RootOpt extends LimitFlags {
  root?: string;
  /** volatile state root holding the runtime's containers (rm and prune only) */
  run?: string;
}

interface LimitFlags {
  maxLayerSize?: string;
  maxLayerEntries?: string;
  maxArchiveSize?: string;
}

const gib = (n: number): string => `${n / 1024 ** 3}g`;
const LIMIT_OPTIONS = {
  layerSize: ['--max-layer-size <size>', `refuse a layer whose uncompressed tar is larger (default $SHOAL_MAX_LAYER_SIZE or ${gib(DEFAULT_LAYER_LIMITS.layerBytes)})`],
  layerEntries: ['--max-layer-entries <n>', `refuse a layer with more entries (default $SHOAL_MAX_LAYER_ENTRIES or ${DEFAULT_LAYER_LIMITS.layerEntries})`],
  archiveSize: ['--max-archive-size <size>', `refuse an archive whose uncompressed tar is larger (default $SHOAL_MAX_ARCHIVE_SIZE or ${gib(DEFAULT_LAYER_LIMITS.archiveBytes)})`],
} as const;

const ROOT_HELP = 'shoal data root; images live in DIR/images (default $SHOAL_ROOT or /var/lib/shoal)';
const RUN_HELP = 'volatile state root whose containers keep their images (default $SHOAL_RUN or /run/shoal)';

function storeFor(opts: RootOpt): ImageStore {
  const root = opts.root ?? defaultShoalRoot();
  secureCliStateDirs({ root });
  return new ImageStore({
    root: imageStoreRoot(root),
    limits: layerLimits(opts),
    logger: pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'error' }, pino.destination(2)),
    imagesInUse: () => imagesOfContainers(opts),
  });
}

/** `docker load < file`: the archive is spooled next to the store (same file system), then loaded. */
async function loadStdin(store: ImageStore): Promise<ImageRecord[]> {
  if (process.stdin.isTTY) throw new UsageError('no archive given: use -i FILE, or pipe one on stdin');
  const spool = await store.tempPath('stdin'); // removed by the next load if this process is killed
  try {
    await pipeline(process.stdin, createWriteStream(spool, { flags: 'wx' }));
    if ((await stat(spool)).size === 0) throw new UsageError('stdin was empty: use -i FILE, or pipe an image archive on stdin');
    return await store.load(spool, 'stdin');
  } finally {
    await rm(spool, { force: true });
  }
}

/** Ids of images that existing containers (running or not) were made from, as Docker counts them. */
async function imagesOfContainers(opts: RootOpt): Promise<string[]> {
  // loaded only here, so listing or loading images never touches cgroups
  const { ContainerRuntime } = await import('../runtime/index.js');
  const run = shoalRunDir(opts.run);
  secureCliStateDirs({ run });
  const runtime = new ContainerRuntime({ stateDir: join(run, 'containers'), logger: pino({ level: 'error' }, pino.destination(2)) });
  return runtime.imagesInUse();
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('manage images in the local store');

  image
    .command('load')
    .description('load images from an OCI image-layout or `docker save` tarball (plain or gzip)')
    .option('-i, --input <file>', 'archive to read (default: stdin)')
    .option('--root <dir>', ROOT_HELP)
    .option(...LIMIT_OPTIONS.layerSize)
    .option(...LIMIT_OPTIONS.layerEntries)
    .option(...LIMIT_OPTIONS.archiveSize)
    .action(async (opts: RootOpt & { input?: string }) => {
      const store = storeFor(opts);
      const records = opts.input !== undefined && opts.input !== '-' ? await store.load(opts.input) : await loadStdin(store);
      for (const r of records) {
        if (r.refs.length === 0) out(`Loaded image ID: ${r.id}`);
        for (const ref of r.refs) out(`Loaded image: ${ref}`);
      }
    });

  image
    .command('save')
    .description('write images to an OCI image-layout tarball (what `image load` reads)')
    .requiredOption('-o, --output <file>', 'archive to write')
    .argument('<ref...>', 'image references or ids')
    .option('--root <dir>', ROOT_HELP)
    .action(async (refs: string[], opts: RootOpt & { output: string }) => {
      const dir = dirname(resolve(opts.output));
      if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) {
        throw new UsageError(`cannot write ${opts.output}: directory ${dir} does not exist`);
      }
      await storeFor(opts).save(refs, opts.output);
    });

  image
    .command('import')
    .description('import a rootfs tarball as a one-layer image')
    .argument('<file>', 'tarball of a root filesystem (plain or gzip)')
    .argument('<ref>', 'name for the image, e.g. myroot:1')
    .option('--entrypoint <json>', 'entrypoint, as a JSON array')
    .option('--cmd <json>', 'default command, as a JSON array')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect, [] as string[])
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user[:group] the container runs as')
    .option('--root <dir>', ROOT_HELP)
    .option(...LIMIT_OPTIONS.layerSize)
    .option(...LIMIT_OPTIONS.layerEntries)
    .action(async (file: string, ref: string, opts: RootOpt & ImportFlags) => {
      const rec = await storeFor(opts).importRootfs(file, ref, importConfig(opts));
      out(rec.id);
    });

  image
    .command('ls')
    .description('list images')
    .option('--format <format>', '"table" or "json"', 'table')
    .option('-q, --quiet', 'only image ids')
    .option('--root <dir>', ROOT_HELP)
    .action(async (opts: RootOpt & { format: string; quiet?: boolean }) => {
      if (opts.format !== 'table' && opts.format !== 'json') {
        throw new UsageError(`--format "${opts.format}" is not known: use "table" or "json"`);
      }
      const images = await storeFor(opts).list();
      if (opts.quiet) for (const i of images) out(i.id.slice(7, 19));
      else if (opts.format === 'json') out(JSON.stringify(images));
      else printTable(images);
    });

  image
    .command('inspect')
    .description('show images as JSON')
    .argument('<ref...>', 'image references or ids')
    .option('--root <dir>', ROOT_HELP)
    .action(async (refs: string[], opts: RootOpt) => {
      const store = storeFor(opts);
      const found: ImageRecord[] = [];
      for (const ref of refs) found.push(await store.inspect(ref));
      out(JSON.stringify(found, null, 2));
    });

  image
    .command('rm')
    .description('remove image references, and images left without one')
    .argument('<ref...>', 'image references or ids')
    .option('-f, --force', 'remove an image by id even if several refs name it, or one a container uses')
    .option('--root <dir>', ROOT_HELP)
    .option('--run <dir>', RUN_HELP)
    .action(async (refs: string[], opts: RootOpt & { force?: boolean }) => {
      const store = storeFor(opts);
      for (const ref of refs) {
        try {
          const before = await store.inspect(ref);
          await store.remove(ref, { force: opts.force });
          const after = await unless(store.inspect(before.id), ['ImageNotFoundError']); // gone: deleted
          for (const r of before.refs) if (!after?.refs.includes(r)) out(`Untagged: ${r}`);
          if (!after) out(`Deleted: ${before.id}`);
        } catch (err) {
          // keep going with the other refs, as `docker rmi` does, and fail at the end
          if (!isUserFacing(err)) throw err;
          process.stderr.write(`shoal: ${err.message}\n`);
          process.exitCode = 1;
        }
      }
    });

  image
    .command('prune')
    .description('remove untagged images no container uses, and every layer and blob no image uses')
    .option('--root <dir>', ROOT_HELP)
    .option('--run <dir>', RUN_HELP)
    .action(async (opts: RootOpt) => {
      const r = await storeFor(opts).prune();
      out(`Removed ${r.removedImages} images and ${r.removedLayers} layers, reclaimed ${humanSize(r.reclaimedBytes)}`);
    });
}

interface ImportFlags {
  entrypoint?: string;
  cmd?: string;
  env: string[];
  workdir?: string;
  user?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function jsonArgv(flag: string, value: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not JSON: write it as an array, e.g. ${flag} '["sh","-c","echo hi"]'`);
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) {
    throw new UsageError(`${flag} must be a JSON array of strings, e.g. ${flag} '["sh"]'`);
  }
  return parsed as string[];
}

function importConfig(f: ImportFlags): Partial<ImageConfig> {
  const c: Partial<ImageConfig> = {};
  if (f.entrypoint !== undefined) c.entrypoint = jsonArgv('--entrypoint', f.entrypoint);
  if (f.cmd !== undefined) c.cmd = jsonArgv('--cmd', f.cmd);
  for (const e of f.env) if (!/^[^=]+=/.test(e)) throw new UsageError(`--env "${e}" must look like KEY=VALUE`);
  if (f.env.length) c.env = f.env;
  if (f.workdir !== undefined) {
    if (!f.workdir.startsWith('/')) throw new UsageError(`--workdir "${f.workdir}" must be an absolute path`);
    c.workingDir = f.workdir;
  }
  if (f.user !== undefined) c.user = f.user;
  return c;
}

function printTable(images: ImageRecord[]): void {
  const rows: string[][] = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const img of images) {
    const short = img.id.slice(7, 19);
    const names = img.refs.length ? img.refs : ['<none>:<none>'];
    for (const ref of names) {
      const at = ref.lastIndexOf(':');
      rows.push([ref.slice(0, at), ref.slice(at + 1), short, img.created ? ago(img.created) : '', humanSize(img.size)]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd());
}

/** "3 days ago", as `docker images` shows it. */
function ago(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return iso;
  const steps: Array<[number, string]> = [
    [365 * 86400, 'year'],
    [30 * 86400, 'month'],
    [7 * 86400, 'week'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, unit] of steps) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n > 1 ? 's' : ''} ago`;
  }
  return 'Less than a minute ago';
}

function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${units[u]}`;
}
