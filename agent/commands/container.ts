// `shoal container ...`: the single-host runtime driven directly, as `ctr` does (no daemon).
// Containers keep running after this process exits: each has its own shim.
import { Command, Option } from 'commander';
import { join } from 'node:path';
import { constants } from 'node:os';
import { pino } from 'pino';
import { UsageError } from '../../cli/errors.js';
import { ImageStore, defaultShoalRoot, imageStoreRoot } from '../images/index.js';
import { ContainerRuntime, type ContainerInfo, type ContainerSpec, type MountSpec, type NetworkMode } from '../runtime/index.js';
import type { CgroupLimits } from '../runtime/types.js';
import { EXIT_READER_GONE, outputClosed } from './reader-gone.js';
import { secureCliStateDirs, shoalRunDir } from './state-dirs.js';
import { unless } from '../../proto/undo.js';

interface Roots {
  root?: string;
  run?: string;
}

const collectOpt = (v: string, prev: string[] = []): string[] => [...prev, v];

function withRoots(cmd: Command): Command {
  return cmd
    .option('--root <dir>', 'shoal data root, images in DIR/images (default $SHOAL_ROOT or /var/lib/shoal)')
    .option('--run <dir>', 'volatile state root, containers in DIR/containers (default $SHOAL_RUN or /run/shoal)');
}

function runtimeFor(o: Roots): ContainerRuntime {
  const run = shoalRunDir(o.run);
  secureCliStateDirs({ root: o.root ?? defaultShoalRoot(), run });
  return new ContainerRuntime({ stateDir: join(run, 'containers'), cgroupParent: process.env.SHOAL_CGROUP_PARENT || 'shoal', logger: pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'error' }, pino.destination(2)) });
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** "64m", "1g", "512k", "100b" or plain bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new UsageError(`invalid ${flag} value ${JSON.stringify(v)}: use a size like 64m, 512k or 1g`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'b'];
  return Math.floor(Number(m[1]) * mult);
}

function parseIntFlag(flag: string, v: string, min: number): number {
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw new UsageError(`invalid ${flag} value ${JSON.stringify(v)}: use an integer of at least ${min}`);
  return Number(v);
}

function parseVolume(v: string): MountSpec {
  const parts = v.split(':');
  const [source, target, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !target || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new UsageError(`invalid -v ${JSON.stringify(v)}: use /host/path:/container/path[:ro]`);
  }
  if (!source.startsWith('/')) throw new UsageError(`invalid -v ${JSON.stringify(v)}: the host path must be absolute (named volumes are not supported)`);
  return { type: 'bind', source, target, readOnly: mode === 'ro' };
}

function parseTmpfs(v: string): MountSpec {
  const i = v.indexOf(':');
  const target = i < 0 ? v : v.slice(0, i);
  if (!target.startsWith('/')) throw new UsageError(`invalid --tmpfs ${JSON.stringify(v)}: use /container/path[:options]`);
  return { type: 'tmpfs', target, options: i < 0 ? undefined : v.slice(i + 1) };
}

/** `-e KEY` without a value passes this process's KEY through, as docker does (dropped if unset). */
function passEnv(entries: string[]): string[] {
  return entries.flatMap((e) => (e.includes('=') ? [e] : process.env[e] !== undefined ? [`${e}=${process.env[e]}`] : []));
}

function parseHost(v: string): { name: string; ip: string } {
  const i = v.indexOf(':');
  if (i <= 0 || i === v.length - 1) throw new UsageError(`invalid --add-host ${JSON.stringify(v)}: use name:ip`);
  return { name: v.slice(0, i), ip: v.slice(i + 1) };
}

function parseNetwork(v: string): NetworkMode {
  if (v === 'none' || v === 'host') return v;
  if (v.startsWith('/')) return { path: v };
  throw new UsageError(`invalid --network ${JSON.stringify(v)}: use none, host or the path of a network namespace`);
}

interface RunOpts extends Roots {
  name?: string;
  env?: string[];
  volume?: string[];
  tmpfs?: string[];
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  blkioWeight?: string;
  hostname?: string;
  network: string;
  readOnly?: boolean;
  user?: string;
  workdir?: string;
  detach?: boolean;
  rm?: boolean;
  entrypoint?: string;
  logMaxSize?: string;
  logMaxFile?: string;
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
}

function limitsFrom(o: RunOpts): CgroupLimits {
  const l: CgroupLimits = {};
  if (o.memory !== undefined) l.memoryBytes = parseSize('--memory', o.memory);
  if (o.memorySwap !== undefined) l.memorySwapBytes = o.memorySwap === '-1' ? -1 : parseSize('--memory-swap', o.memorySwap);
  if (o.cpus !== undefined) {
    const n = Number(o.cpus);
    if (!/^\d*\.?\d+$/.test(o.cpus) || !(n > 0)) throw new UsageError(`invalid --cpus value ${JSON.stringify(o.cpus)}: use a positive number like 0.5 or 2`);
    l.cpuQuotaCores = n;
  }
  if (o.cpuShares !== undefined) l.cpuShares = parseIntFlag('--cpu-shares', o.cpuShares, 2);
  if (o.cpusetCpus !== undefined) l.cpusetCpus = o.cpusetCpus;
  if (o.cpusetMems !== undefined) l.cpusetMems = o.cpusetMems;
  if (o.pidsLimit !== undefined) l.pidsMax = parseIntFlag('--pids-limit', o.pidsLimit, -1);
  if (o.blkioWeight !== undefined) l.blkioWeight = parseIntFlag('--blkio-weight', o.blkioWeight, 10);
  return l;
}

async function specFrom(image: string, command: string[], o: RunOpts): Promise<ContainerSpec> {
  const limits = limitsFrom(o);
  const mounts = [...(o.volume ?? []).map(parseVolume), ...(o.tmpfs ?? []).map(parseTmpfs)];
  const network = parseNetwork(o.network);
  if (o.detach && o.rm) throw new UsageError('--rm cannot be combined with -d here (there is no daemon to remove it later): remove it with `shoal container rm`');
  const img = await new ImageStore({ root: imageStoreRoot(o.root ?? defaultShoalRoot()) }).resolve(image);
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint === '' ? [] : [o.entrypoint]) : (img.config.entrypoint ?? []);
  const cmd = command.length > 0 ? command : o.entrypoint !== undefined ? [] : (img.config.cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new UsageError(`image ${image} has no Entrypoint or Cmd: give a command after the image name`);
  return {
    name: o.name,
    rootfs: { layers: img.layerDirs },
    image: { ref: image, id: img.id },
    args,
    env: [...(img.config.env ?? []), ...passEnv(o.env ?? [])],
    cwd: o.workdir ?? (img.config.workingDir || undefined),
    user: o.user ?? (img.config.user || undefined),
    hostname: o.hostname,
    mounts,
    readOnly: o.readOnly ?? false,
    network,
    limits,
    stopSignal: img.config.stopSignal ? parseSignal(img.config.stopSignal) : undefined,
    extraHosts: (o.addHost ?? []).map(parseHost),
    dns: o.dns || o.dnsSearch ? { nameservers: o.dns ?? [], search: o.dnsSearch } : undefined,
    log: {
      maxBytes: o.logMaxSize !== undefined ? parseSize('--log-max-size', o.logMaxSize) : undefined,
      maxFiles: o.logMaxFile !== undefined ? parseIntFlag('--log-max-file', o.logMaxFile, 1) : undefined,
    },
  };
}

async function runForeground(rt: ContainerRuntime, info: ContainerInfo, rm: boolean): Promise<number> {
  // a container that already exited (or was removed) has nothing to receive the signal
  const forward = (sig: NodeJS.Signals) => (): void =>
    void unless(rt.kill(info.id, sig), ['ContainerStateError', 'NoSuchContainerError', 'ESRCH']).catch((err: unknown) =>
      process.stderr.write(`shoal: could not forward ${sig} to container ${info.id.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const closed = outputClosed();
  try {
    for await (const e of rt.logs(info.id, { follow: true, signal: closed })) (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.text);
    if (closed.aborted) {
      // nobody reads its output any more: stop it (its stop signal, then SIGKILL after the grace
      // period), as a closed pipe stops a local command; --rm then removes it below
      await rt.stop(info.id);
      return EXIT_READER_GONE;
    }
    const exit = await rt.wait(info.id);
    if (exit.oomKilled) process.stderr.write(`shoal: container ${info.name} was killed for exceeding its memory limit\n`);
    return exit.code;
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    if (rm) await rt.remove(info.id, { force: true });
  }
}

function status(c: ContainerInfo): string {
  if (c.state === 'running') return `Up since ${c.startedAt}`;
  if (c.state === 'exited') return `Exited (${c.exit?.code ?? '?'})${c.exit?.oomKilled ? ' OOM' : ''} ${c.exit?.finishedAt ?? ''}`.trim();
  return 'Created';
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd());
}

function parseSignal(v: string): NodeJS.Signals {
  const name = (/^sig/i.test(v) ? v : `SIG${v}`).toUpperCase();
  if (!(name in constants.signals)) throw new UsageError(`invalid signal ${JSON.stringify(v)}: use a name like TERM, KILL or HUP`);
  return name as NodeJS.Signals;
}

export function registerContainerCommands(program: Command): void {
  program.enablePositionalOptions();
  const container = program.command('container').description('run and manage containers on this host').enablePositionalOptions();

  withRoots(container.command('run'))
    .description('create and start a container from an image')
    .argument('<image>', 'image reference in the local store')
    .argument('[command...]', 'command and arguments (default: the image Entrypoint + Cmd)')
    .passThroughOptions()
    .option('--name <name>', 'container name')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collectOpt)
    .option('-v, --volume <src:dst[:ro]>', 'bind mount a host path (repeatable)', collectOpt)
    .option('--tmpfs <dst[:opts]>', 'mount a tmpfs (repeatable)', collectOpt)
    .option('-m, --memory <size>', 'memory limit, e.g. 64m')
    .option('--memory-swap <size>', 'memory + swap limit, -1 for unlimited swap')
    .option('--cpus <n>', 'CPU limit in cores, e.g. 0.5')
    .option('--cpu-shares <n>', 'relative CPU weight (default 1024)')
    .option('--cpuset-cpus <list>', 'CPUs allowed, e.g. 0-1')
    .option('--cpuset-mems <list>', 'memory nodes allowed')
    .option('--pids-limit <n>', 'maximum number of processes (-1 unlimited)')
    .option('--blkio-weight <n>', 'block IO weight (10-1000)')
    .option('-h, --hostname <name>', 'container hostname')
    .addOption(new Option('--network <mode>', 'none | host | /path/to/netns').default('none'))
    .option('--read-only', 'mount the root filesystem read-only')
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-d, --detach', 'print the id and leave the container running')
    .option('--rm', 'remove the container when it exits')
    .option('--entrypoint <cmd>', "override the image's Entrypoint")
    .option('--add-host <name:ip>', 'extra /etc/hosts entry (repeatable)', collectOpt)
    .option('--dns <ip>', 'DNS server for /etc/resolv.conf (repeatable)', collectOpt)
    .option('--dns-search <domain>', 'DNS search domain (repeatable)', collectOpt)
    .option('--log-max-size <size>', 'rotate the log at this size (default 10m)')
    .option('--log-max-file <n>', 'log files kept (default 3)')
    .action(async (image: string, command: string[], o: RunOpts) => {
      const spec = await specFrom(image, command, o);
      const rt = runtimeFor(o);
      const info = await rt.run(spec);
      if (o.detach) return out(info.id);
      process.exitCode = await runForeground(rt, info, o.rm ?? false);
    });

  withRoots(container.command('ls'))
    .alias('ps')
    .description('list containers')
    .option('-a, --all', 'include containers that are not running')
    .option('-q, --quiet', 'only ids')
    .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (o: Roots & { all?: boolean; quiet?: boolean; format: string }) => {
      const list = (await runtimeFor(o).list()).filter((c) => o.all || c.state === 'running');
      if (o.format === 'json') return out(JSON.stringify(list, null, 2));
      if (o.quiet) return list.forEach((c) => out(c.id.slice(0, 12)));
      table([
        ['CONTAINER ID', 'NAME', 'IMAGE', 'COMMAND', 'STATUS'],
        ...list.map((c) => [c.id.slice(0, 12), c.name, c.spec.image?.ref ?? '-', JSON.stringify(c.spec.args.join(' ').slice(0, 30)), status(c)]),
      ]);
    });

  withRoots(container.command('inspect'))
    .description('show containers as JSON')
    .argument('<container...>')
    .addOption(new Option('--format <fmt>', 'output format').choices(['json']).default('json'))
    .action(async (refs: string[], o: Roots) => {
      const rt = runtimeFor(o);
      const infos = [];
      for (const r of refs) infos.push(await rt.inspect(r));
      out(JSON.stringify(infos, null, 2));
    });

  withRoots(container.command('logs'))
    .description("print a container's output")
    .argument('<container>')
    .option('-f, --follow', 'keep printing until the container exits')
    .action(async (ref: string, o: Roots & { follow?: boolean }) => {
      const closed = outputClosed();
      for await (const e of runtimeFor(o).logs(ref, { follow: o.follow, signal: closed })) (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.text);
      if (closed.aborted) process.exitCode = EXIT_READER_GONE;
    });

  withRoots(container.command('exec'))
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collectOpt)
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-w, --workdir <dir>', 'working directory')
    .action(async (ref: string, command: string[], o: Roots & { env?: string[]; user?: string; workdir?: string }) => {
      const r = await runtimeFor(o).exec(ref, { args: command, env: passEnv(o.env ?? []), user: o.user, cwd: o.workdir, stdio: 'inherit' });
      process.exitCode = r.code;
    });

  withRoots(container.command('stop'))
    .description('stop containers: signal, grace period, then SIGKILL')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'grace period', '10')
    .option('-s, --signal <sig>', "signal to send first (default: the image's StopSignal, else SIGTERM)")
    .action(async (refs: string[], o: Roots & { time: string; signal?: string }) => {
      const rt = runtimeFor(o);
      const graceMs = parseIntFlag('--time', o.time, 0) * 1000;
      const signal = o.signal === undefined ? undefined : parseSignal(o.signal);
      for (const r of refs) {
        await rt.stop(r, { signal, graceMs });
        out(r);
      }
    });

  withRoots(container.command('kill'))
    .description('send a signal to containers')
    .argument('<container...>')
    .option('-s, --signal <sig>', 'signal', 'SIGKILL')
    .action(async (refs: string[], o: Roots & { signal: string }) => {
      const rt = runtimeFor(o);
      for (const r of refs) {
        await rt.kill(r, parseSignal(o.signal));
        out(r);
      }
    });

  withRoots(container.command('rm'))
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill running containers first')
    .action(async (refs: string[], o: Roots & { force?: boolean }) => {
      const rt = runtimeFor(o);
      for (const r of refs) {
        await rt.remove(r, { force: o.force });
        out(r);
      }
    });

  withRoots(container.command('stats'))
    .description('one snapshot of CPU, memory and pids from the cgroup')
    .argument('<container...>')
    .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (refs: string[], o: Roots & { format: string }) => {
      const rt = runtimeFor(o);
      const rows = [];
      for (const r of refs) {
        const info = await rt.inspect(r);
        rows.push({ id: info.id, name: info.name, ...(await rt.stats(r)) });
      }
      if (o.format === 'json') return out(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
      const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)}MiB`;
      table([
        ['CONTAINER ID', 'NAME', 'CPU TIME', 'MEM USAGE / LIMIT', 'PIDS', 'OOM KILLS'],
        ...rows.map((s) => [s.id.slice(0, 12), s.name, `${(Number(s.cpuUsageNs) / 1e9).toFixed(2)}s`, `${mib(s.memoryBytes)} / ${s.memoryLimitBytes === null ? 'unlimited' : mib(s.memoryLimitBytes)}`, String(s.pids), String(s.oomKills)]),
      ]);
    });
}
