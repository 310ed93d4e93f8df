// Where a converge phase's time goes: reads the daemons' pino logs (one JSON object a line) and,
// for each stage of a task's way (orchestrator -> scheduler -> agent -> container -> report),
// the first and last time it was seen inside a phase, as milliseconds from the phase's start.
import { readFileSync } from 'node:fs';

export interface Stage {
  /** Short name printed in the table. */
  name: string;
  msg: string;
  /** The task state a 'task state changed' line must carry. */
  state?: number;
}

export interface StageTimes {
  name: string;
  count: number;
  firstMs: number;
  lastMs: number;
}

interface LogLine {
  time: number;
  msg: string;
  state?: number;
}

/** Stages in the order a task goes through them (TaskState numbers from proto/types.proto). */
export const CONVERGE_STAGES: Stage[] = [
  { name: 'orchestrator reconciled', msg: 'reconciled service' },
  { name: 'scheduler pass', msg: 'scheduling pass' },
  { name: 'agent accepted', msg: 'task state changed', state: 256 },
  { name: 'container created', msg: 'container created' },
  { name: 'container started', msg: 'container started' },
  { name: 'agent RUNNING', msg: 'task state changed', state: 512 },
  { name: 'agent stopping', msg: 'stopping task container' },
  { name: 'agent SHUTDOWN', msg: 'task state changed', state: 640 },
  { name: 'reaper deleted', msg: 'deleted old tasks' },
  { name: 'agent removing', msg: 'task removed from this node' },
  { name: 'container removed', msg: 'container removed' },
];

export function readLogLines(paths: string[]): LogLine[] {
  const out: LogLine[] = [];
  for (const p of paths) {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      continue;
    }
    for (const l of text.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        const o = JSON.parse(l) as { time?: unknown; msg?: unknown; state?: unknown };
        if (typeof o.time === 'number' && typeof o.msg === 'string') out.push({ time: o.time, msg: o.msg, state: typeof o.state === 'number' ? o.state : undefined });
      } catch {
        // a line cut by a kill: skip it
      }
    }
  }
  return out;
}

/** Stages seen in [startMs, endMs] (epoch ms), in stage order; stages never seen are left out. */
export function stageTimes(lines: LogLine[], startMs: number, endMs: number, stages: Stage[] = CONVERGE_STAGES): StageTimes[] {
  const out: StageTimes[] = [];
  for (const s of stages) {
    const hits = lines.filter((l) => l.time >= startMs && l.time <= endMs && l.msg === s.msg && (s.state === undefined || l.state === s.state)).map((l) => l.time);
    if (hits.length === 0) continue;
    out.push({ name: s.name, count: hits.length, firstMs: Math.min(...hits) - startMs, lastMs: Math.max(...hits) - startMs });
  }
  return out;
}

export function formatStages(phase: string, totalMs: number, stages: StageTimes[]): string {
  const rows = stages.map((s) => `  ${s.name.padEnd(24)} x${String(s.count).padEnd(4)} ${String(s.firstMs).padStart(6)} .. ${String(s.lastMs).padStart(6)} ms`);
  return [`${phase}: ${totalMs.toFixed(0)} ms (stage: count, first .. last, from the phase's start)`, ...rows].join('\n');
}

/** CPU time (user + system, with reaped children) of a process in ms, from /proc; 0 if gone. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which may hold spaces: state is field 3, utime field 14
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0);
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}
