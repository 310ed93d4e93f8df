// `npx tsx test/bench-helpers/smoke-all.ts [--leaks warn] [NAME...]`: CI's check that every
// benchmark still runs (deploy/test.sh, after the tests). Each test/bench/NAME.ts runs as
// `run.ts NAME --smoke` in its own process group; it passes when it exits 0 within its time limit,
// its last stdout line is one JSON object naming it, and it left no network namespace or
// top-level shoal cgroup behind. Figures are not judged: smoke sizes measure nothing.
// The leak check compares the whole machine before and after: on a machine where others run
// labs meanwhile, their objects show up too; `--leaks warn` reports them without failing.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { listLeftovers, type Leftovers } from './leftovers.js';
import { checkLastLine } from './last-line.js';

const BENCH_DIR = join(import.meta.dirname, '..', 'bench');
const REPO = join(import.meta.dirname, '..', '..');
const LIMIT_MS = Number(process.env.SHOAL_SMOKE_LIMIT_S ?? 300) * 1000;

interface Outcome { name: string; ok: boolean; seconds: number; why?: string; json?: string }

function benchNames(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .map((f) => basename(f, '.ts'))
    .sort();
}

/** Runs one benchmark in smoke mode; its stderr goes to ours, its stdout is kept and echoed. */
function runOne(name: string): Promise<{ code: number | null; signal: string | null; stdout: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'run.ts'), name, '--smoke'], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // its own process group: a timeout takes the lab daemons it spawned too
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      process.stdout.write(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: already gone
      }
    }, LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, timedOut });
    });
  });
}

function describe(l: Leftovers): string {
  return [...l.netns.map((n) => `netns ${n}`), ...l.cgroups.map((c) => `cgroup ${c}`)].join(', ');
}

/** What appeared while the bench ran and is still there a few seconds after it ended. */
async function leftBehind(before: Leftovers): Promise<Leftovers> {
  const fresh = (): Leftovers => {
    const now = listLeftovers();
    return { netns: now.netns.filter((n) => !before.netns.includes(n)), cgroups: now.cgroups.filter((c) => !before.cgroups.includes(c)) };
  };
  for (let i = 0; i < 10; i++) {
    const l = fresh();
    if (l.netns.length + l.cgroups.length === 0) return l;
    await new Promise((r) => setTimeout(r, 500)); // removal of a namespace can lag its process's exit
  }
  return fresh();
}

const argv = process.argv.slice(2);
const leaksAt = argv.indexOf('--leaks');
const leaksFail = leaksAt < 0 || argv[leaksAt + 1] !== 'warn';
const only = argv.filter((_, i) => leaksAt < 0 || (i !== leaksAt && i !== leaksAt + 1));
const names = only.length ? only : benchNames();
const outcomes: Outcome[] = [];
for (const name of names) {
  process.stderr.write(`\n== bench ${name} --smoke\n`);
  const before = listLeftovers();
  const t0 = performance.now();
  const r = await runOne(name);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const left = await leftBehind(before);
  let why: string | undefined;
  if (r.timedOut) why = `no result within ${LIMIT_MS / 1000} s (killed)`;
  else if (r.code !== 0) why = `exited with ${r.code ?? r.signal}`;
  const line = checkLastLine(r.stdout, name);
  why ??= line.error;
  const leaked = left.netns.length + left.cgroups.length > 0 ? `left behind: ${describe(left)}` : undefined;
  if (leaked && leaksFail) why = `${why ? `${why}; ` : ''}${leaked}`;
  else if (leaked) process.stderr.write(`warning: ${name}: ${leaked} (another user's, or a leak)\n`);
  outcomes.push({ name, ok: !why, seconds, why, json: line.json });
}

process.stderr.write('\n== smoke run of the benchmarks\n');
for (const o of outcomes) process.stderr.write(`${o.ok ? 'ok  ' : 'FAIL'} ${o.name.padEnd(16)} ${String(o.seconds).padStart(6)} s  ${o.why ?? o.json ?? ''}\n`);
process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
