// Starts, kills and restarts member.ts processes on loopback, and finds their leader.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Proc {
  id: number;
  dir: string;
  raftPort: number;
  httpPort: number;
  child?: ChildProcess;
  exited?: Promise<void>;
}

export class ProcCluster {
  procs: Proc[] = [];
  private log: WriteStream;

  constructor(
    private readonly base: string,
    raftPorts: number[],
    httpPorts: number[],
    private readonly extraArgs: string[] = [],
  ) {
    this.log = createWriteStream(path.join(base, 'members.log'), { flags: 'a' });
    this.procs = raftPorts.map((p, i) => ({ id: i + 1, dir: path.join(base, `m${i + 1}`), raftPort: p, httpPort: httpPorts[i]! }));
  }

  peersArg(): string {
    return this.procs.map((p) => `${p.id}=127.0.0.1:${p.raftPort}`).join(',');
  }

  /** Spawns a member and resolves once it serves HTTP. */
  async start(p: Proc): Promise<void> {
    const child = spawn(process.execPath, [
      '--import', 'tsx', path.join(here, 'member.ts'),
      '--id', String(p.id), '--dir', p.dir, '--listen', `127.0.0.1:${p.raftPort}`,
      '--peers', this.peersArg(), '--http', String(p.httpPort), ...this.extraArgs,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.child = child;
    p.exited = new Promise((r) => child.on('exit', () => r()));
    child.stderr!.on('data', (d: Buffer) => this.log.write(`[m${p.id}] ${d.toString()}`));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('"ready":true')) {
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`member ${p.id} exited (${code}) before it was ready; see ${this.base}/members.log`)));
    });
  }

  async kill(p: Proc): Promise<void> {
    p.child?.kill('SIGKILL');
    await p.exited;
    p.child = undefined;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.procs.filter((p) => p.child).map((p) => this.kill(p)));
    this.log.end();
  }

  async status(p: Proc): Promise<{ leader: string; role: string } | undefined> {
    if (!p.child) return undefined;
    try {
      const r = await fetch(`http://127.0.0.1:${p.httpPort}/status`, { signal: AbortSignal.timeout(1000) });
      return (await r.json()) as { leader: string; role: string };
    } catch {
      return undefined;
    }
  }

  /** The member that says it leads, once one does. */
  async leader(timeoutMs = 20_000): Promise<Proc> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (const p of this.procs) {
        const s = await this.status(p);
        if (s?.role === 'leader') return p;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no leader elected');
  }

  async items(p: Proc): Promise<string[]> {
    const r = await fetch(`http://127.0.0.1:${p.httpPort}/items`, { signal: AbortSignal.timeout(5000) });
    return (await r.json()) as string[];
  }
}

export type PutResult = { ok: true; n: number } | { ok: false; leader?: number; error: string };

export async function put(port: number, value: string, timeoutMs = 3000): Promise<PutResult> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/put`, { method: 'POST', body: value, signal: AbortSignal.timeout(timeoutMs) });
    const b = (await r.json()) as { n?: number; leader?: string; error?: string };
    if (r.status === 200) return { ok: true, n: b.n! };
    if (r.status === 421) return { ok: false, leader: Number(b.leader), error: 'not leader' };
    return { ok: false, error: b.error ?? `HTTP ${r.status}` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
