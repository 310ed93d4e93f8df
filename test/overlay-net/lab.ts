// The overlay tests' lab: hosts are the lab's network namespaces, each with its own
// OverlayHost driven from this process through nsenter; "containers" are network namespaces
// (shoal-<lab>-cN) joined to a host by the data path, with processes started in them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type LabHost } from '../../deploy/lab/lab.js';
import { OverlayHost, removeAll } from '../../overlay-net/index.js';
import { spawnRunner, type CommandResult } from '../../overlay-net/kernel.js';

export interface TestLab {
  /** The lab's name: the tag given to upLab and this process's pid. */
  name: string;
  lab: Lab;
  base: string;
  hosts: readonly LabHost[];
  overlay: Map<string, OverlayHost>;
  /** Opens (or reopens, as a restarted agent) the data path of a host. */
  open(host: string, opts?: { dataPathPort?: number }): Promise<OverlayHost>;
  container(host: string): Promise<Container>;
  /** Removes every overlay object, container namespace and process the test made. */
  reset(): Promise<void>;
  down(): Promise<void>;
}

export interface Container {
  name: string;
  path: string;
  host: string;
  exec(argv: string[], timeoutMs?: number): Promise<CommandResult>;
  spawn(argv: string[]): ChildProcess;
}

export async function run(argv: string[], input?: string): Promise<CommandResult> {
  return spawnRunner(argv, input);
}

export async function must(argv: string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} -> ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export async function upLab(tag: string, hosts: number, subnet: string): Promise<TestLab> {
  // The pid keeps two runs of one file (two engineers, one machine) out of each other's way.
  const name = `${tag}-${process.pid}`;
  const base = mkdtempSync(join(tmpdir(), `shoal-ovt-${name}-`));
  const lab = await Lab.up({ name, hosts, subnet, stateDir: join(base, 'state'), dataDir: join(base, 'data') });
  // Strict reverse-path filtering, as RHEL-like hosts have it: the data path must pass it.
  for (const h of lab.hosts)
    await must(['nsenter', `--net=${h.netnsPath}`, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1']);
  const overlay = new Map<string, OverlayHost>();
  const containers: Container[] = [];
  const procs = new Set<ChildProcess>();
  let seq = 0;

  const t: TestLab = {
    name,
    lab,
    base,
    hosts: lab.hosts,
    overlay,
    async open(host, opts) {
      const h = lab.host(host);
      const o = await OverlayHost.open({
        underlayAddress: h.addr,
        stateDir: join(base, 'overlay', host),
        hostNetns: h.netnsPath,
        dataPathPort: opts?.dataPathPort,
      });
      overlay.set(host, o);
      return o;
    },
    async container(host) {
      const cname = `shoal-${name}-c${++seq}`;
      await must(['ip', 'netns', 'add', cname]);
      const path = `/run/netns/${cname}`;
      const c: Container = {
        name: cname,
        path,
        host,
        exec: (argv, timeoutMs = 20_000) => execWithTimeout(['nsenter', `--net=${path}`, ...argv], timeoutMs),
        spawn: (argv) => {
          const p = spawn('nsenter', [`--net=${path}`, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
          procs.add(p);
          p.on('exit', () => procs.delete(p));
          return p;
        },
      };
      containers.push(c);
      return c;
    },
    async reset() {
      for (const p of procs) p.kill('SIGKILL');
      for (const [, o] of overlay) await removeAll(o);
      overlay.clear();
      for (const c of containers.splice(0)) await run(['ip', 'netns', 'del', c.name]);
      const deadline = Date.now() + 10_000;
      while (procs.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
    async down() {
      await t.reset();
      await lab.down({ graceMs: 0 });
      rmSync(base, { recursive: true, force: true });
      const left = (await must(['ip', 'netns', 'list'])).split('\n').filter((l) => l.startsWith(`shoal-${name}-`));
      if (left.length > 0) throw new Error(`lab ${name} left namespaces: ${left.join(', ')}`);
    },
  };
  return t;
}

function execWithTimeout(argv: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** What the data path could leave in a host's namespace; empty when clean. */
export async function residue(host: LabHost): Promise<string[]> {
  const ns = ['nsenter', `--net=${host.netnsPath}`];
  const left: string[] = [];
  const links = JSON.parse(await must([...ns, 'ip', '-j', 'link', 'show'])) as { ifname: string }[];
  left.push(...links.filter((l) => l.ifname.startsWith('shov')).map((l) => `link ${l.ifname}`));
  const routes = (await must([...ns, 'ip', 'route', 'show', 'proto', '83'])).trim();
  if (routes) left.push(...routes.split('\n').map((r) => `route ${r}`));
  const neigh = (await must([...ns, 'ip', 'neigh', 'show', 'nud', 'permanent'])).trim();
  if (neigh) left.push(...neigh.split('\n').map((r) => `neigh ${r}`));
  const fdb = (await must([...ns, 'bridge', 'fdb', 'show'])).split('\n').filter((l) => l.includes('shov'));
  left.push(...fdb.map((l) => `fdb ${l}`));
  const tables = (await must([...ns, 'nft', 'list', 'tables'])).trim();
  if (tables) left.push(...tables.split('\n').map((l) => `nft ${l}`));
  return left;
}

/** Container namespaces of a lab, by its full name or by the tag it was made from. */
export async function containerNamespacesLeft(lab: string): Promise<string[]> {
  const out = await must(['ip', 'netns', 'list']);
  const mine = lab.includes(`-${process.pid}`) ? lab : `${lab}-${process.pid}`;
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => new RegExp(`^shoal-${mine}-c\\d+$`).test(n));
}

export async function waitUntil(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
