// Every kernel change goes through here as one process per batch: `ip -batch`, `bridge -batch`,
// one `nft -f` transaction, one `sysctl` with all its keys. When the data path is driven from
// outside the host's network namespace (the lab, tests), each command is wrapped in
// `nsenter --net=PATH`, which keeps the caller's mounts.
import { spawn } from 'node:child_process';
import { KernelCommandError } from './errors.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv with optional stdin; the seam tests use to inject a kernel that lacks a feature. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

export const spawnRunner: CommandRunner = (argv, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });

// What a removal may meet when its object is already gone (a container's netns died, a crash
// between record and create): these are not failures of a cleanup.
const GONE =
  /Cannot find device|No such process|No such file or directory|does not exist|Command failed|^\s*$|Error: argument .* is wrong: Device does not exist/;

export class Kernel {
  constructor(
    /** The host's network namespace, or undefined when this process already runs in it. */
    readonly hostNetns: string | undefined,
    private readonly runner: CommandRunner = spawnRunner,
  ) {}

  private wrap(argv: readonly string[], netns: string | undefined): string[] {
    return netns ? ['nsenter', `--net=${netns}`, ...argv] : [...argv];
  }

  async run(argv: readonly string[], input?: string, netns = this.hostNetns): Promise<CommandResult> {
    return this.runner(this.wrap(argv, netns), input);
  }

  async must(argv: readonly string[], input?: string, netns = this.hostNetns): Promise<string> {
    const full = this.wrap(argv, netns);
    const r = await this.runner(full, input);
    if (r.code !== 0) throw new KernelCommandError(full, r.code, withFailedLine(r.stderr, input));
    return r.stdout;
  }

  /** `ip -batch`: stops at the first failing line, which the error names. */
  async ip(lines: readonly string[], netns = this.hostNetns): Promise<void> {
    if (lines.length > 0) await this.must(['ip', '-batch', '-'], lines.join('\n') + '\n', netns);
  }

  /** `bridge -batch` (FDB entries have no `ip` subcommand). */
  async bridge(lines: readonly string[]): Promise<void> {
    if (lines.length > 0) await this.must(['bridge', '-batch', '-'], lines.join('\n') + '\n');
  }

  /** Removal batches: every line is tried; "already gone" is success, anything else throws. */
  async removeIp(lines: readonly string[], tool: 'ip' | 'bridge' = 'ip', netns = this.hostNetns): Promise<void> {
    if (lines.length === 0) return;
    const full = this.wrap([tool, '-force', '-batch', '-'], netns);
    const r = await this.runner(full, lines.join('\n') + '\n');
    if (r.code === 0) return;
    const real = r.stderr.split('\n').filter((l) => !GONE.test(l));
    if (real.length > 0) throw new KernelCommandError(full, r.code, real.join('\n'));
  }

  /**
   * Whether the kernel can make a link of `kind`, asked in a throwaway network namespace
   * (`unshare -n`): the probe link dies with the process, so nothing is left to record.
   */
  async canMakeLink(kind: string, args: readonly string[] = []): Promise<boolean> {
    const r = await this.runner(['unshare', '--net', 'ip', 'link', 'add', 'shovprobe', 'type', kind, ...args]);
    return r.code === 0;
  }

  /** One atomic nftables transaction. */
  async nft(script: string): Promise<void> {
    await this.must(['nft', '-f', '-'], script);
  }

  async sysctl(pairs: Record<string, string | number>): Promise<void> {
    const args = Object.entries(pairs).map(([k, v]) => `${k}=${v}`);
    if (args.length > 0) await this.must(['sysctl', '-q', '-w', ...args]);
  }

  async json<T>(argv: readonly string[]): Promise<T> {
    const out = await this.must(argv);
    return (out.trim() === '' ? [] : JSON.parse(out)) as T;
  }
}

/** Batch tools say only "Command failed -:N": name the line itself. */
function withFailedLine(stderr: string, input: string | undefined): string {
  const m = /Command failed -:(\d+)/.exec(stderr);
  const line = m && input ? input.split('\n')[Number(m[1]) - 1] : undefined;
  return line ? `${stderr.trim()} (line ${m![1]}: ${line})` : stderr;
}
