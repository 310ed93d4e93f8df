// The parent's side: forks worker processes (each a SimFleet) and waits until every session is
// open. The workers run under tsx like the bench itself.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FleetOptions } from './fleet.js';

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface SimProcessesOptions {
  addr: string;
  agents: number;
  processes?: number;
  connectionsPerProcess?: number;
  startMs?: number;
  prefix?: string;
}

export interface SimProcesses {
  pids: number[];
  /** Tasks the agents have reported RUNNING (as of each worker's last progress message). */
  runningReported(): number;
  /** Sessions that failed and were reopened (heartbeat deadline missed, stream error). */
  sessionFailures(): number;
  /** The last failure of each agent's session, grouped by message. */
  failureReasons(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export async function spawnSimAgents(o: SimProcessesOptions): Promise<SimProcesses> {
  const n = Math.max(1, Math.min(o.processes ?? 1, o.agents));
  const children: ChildProcess[] = [];
  const running = new Map<number, number>();
  const failures = new Map<number, number>();
  const reasons = new Map<number, Record<string, number>>();
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), 5_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (c.connected) c.send('stop');
            else c.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    const ready: Promise<void>[] = [];
    let first = 0;
    for (let k = 0; k < n; k++) {
      const count = Math.floor(o.agents / n) + (k < o.agents % n ? 1 : 0);
      const fo: FleetOptions = { addr: o.addr, prefix: o.prefix, first, count, connections: o.connectionsPerProcess, startMs: o.startMs };
      first += count;
      const c = fork(workerPath, [JSON.stringify(fo)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(c);
      ready.push(
        new Promise<void>((resolve, reject) => {
          c.on('message', (m: { type: string; running?: number; failures?: number; message?: string; reasons?: Record<string, number> }) => {
            if (m.type === 'ready') resolve();
            else if (m.type === 'reasons') reasons.set(k, m.reasons ?? {});
            else if (m.type === 'error') reject(new Error(`simulated agents (worker ${k}): ${m.message}`));
            else if (m.type === 'progress') {
              running.set(k, m.running ?? 0);
              failures.set(k, m.failures ?? 0);
            }
          });
          c.once('exit', (code) => reject(new Error(`simulated agents worker ${k} exited (${code})`)));
        }),
      );
    }
    await Promise.all(ready);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    async failureReasons() {
      reasons.clear();
      for (const c of children) if (c.connected) c.send('reasons');
      const end = Date.now() + 2_000;
      while (reasons.size < children.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const out: Record<string, number> = {};
      for (const r of reasons.values()) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
      return out;
    },
    pids: children.map((c) => c.pid!),
    runningReported: () => [...running.values()].reduce((a, b) => a + b, 0),
    sessionFailures: () => [...failures.values()].reduce((a, b) => a + b, 0),
    stop,
  };
}
