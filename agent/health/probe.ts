// One health probe inside a container, with a deadline. The runtime's exec has no handle on the
// process it starts, so each probe carries a unique environment variable and, past its timeout,
// every process that has it (the probe and whatever it started) is killed from the host.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ExecResult, ExecSpec } from '../runtime/index.js';

/** The runtime call a probe needs (ContainerRuntime has it). */
export interface ProbeRuntime {
  exec(ref: string, spec: ExecSpec): Promise<ExecResult>;
}

export const PROBE_ENV = 'SHOAL_HEALTHCHECK';
/** Docker keeps this much of a probe's output. */
export const MAX_OUTPUT = 4096;

export interface ProbeResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** Host pids whose environment holds NAME=VALUE exactly. */
export function pidsWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`);
      if (env.indexOf(needle) === 0 || env.indexOf(Buffer.concat([Buffer.from([0]), needle])) >= 0) out.push(Number(d));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out;
}

function killTagged(token: string): number {
  let n = 0;
  for (const pid of pidsWithEnv(PROBE_ENV, token)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

export interface RunningProbe {
  result: Promise<ProbeResult>;
  /** Kills the probe now (monitor stopped). */
  kill(): void;
}

export function runProbe(runtime: ProbeRuntime, containerId: string, args: string[], timeoutMs: number, timers: Timers): RunningProbe {
  const token = randomBytes(8).toString('hex');
  let timedOut = false;
  const kill = (): void => {
    let tries = 0;
    const again = (): void => {
      killTagged(token);
      // until the exec returns: a probe still being set up (slow host) is caught on a later try
      if (!finished && tries++ < 600) setTimeout(again, 50);
    };
    again();
  };
  let finished = false;
  const timer = timers.setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  const result = runtime
    .exec(containerId, { args, env: [`${PROBE_ENV}=${token}`] })
    .then(
      (r): ProbeResult => ({ exitCode: r.code, output: (r.stdout + r.stderr).slice(0, MAX_OUTPUT), timedOut }),
      (err: unknown): ProbeResult => ({ exitCode: -1, output: (err instanceof Error ? err.message : String(err)).slice(0, MAX_OUTPUT), timedOut }),
    )
    .then((r) => {
      finished = true;
      timer.cancel();
      if (r.timedOut) return { ...r, exitCode: -1, output: `Health check exceeded timeout (${timeoutMs} ms)` };
      return r;
    });
  return { result, kill };
}
