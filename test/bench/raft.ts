// `npm run bench -- raft [--total-c1 N] [--total-c64 N] [--trials N] [--skip-etcd] [--skip-shoal] [--smoke]`
// A 3-member shoal Raft cluster (test/manager/raft/process/member.ts, fsync on, default timing)
// and a 3-member etcd 3.4 on loopback, the same load on both in the same run: 100-byte writes at
// concurrency 1 and 64 against the leader (ops/s, p50, p99 commit latency), then leader failover:
// SIGKILL the leader, probe the survivors every 5 ms until a write is acknowledged (median of N).
// --smoke: 100 and 300 writes, one failover trial, no etcd.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { freePorts } from '../helpers/ports.js';
import { ProcCluster, type Proc } from '../manager/raft/process/harness.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

const VALUE = Buffer.alloc(100, 'v');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

interface LoadResult { ops_per_s: number; p50_ms: number; p99_ms: number }

/** Runs `total` writes with `conc` workers (after a warm-up) and reports throughput and latency. */
async function load(write: (i: number) => Promise<void>, total: number, conc: number): Promise<LoadResult> {
  const phase = async (n: number, lat?: Float64Array): Promise<number> => {
    let next = 0;
    const t0 = now();
    await Promise.all(Array.from({ length: conc }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = now();
        await write(i);
        if (lat) lat[i] = now() - s;
      }
    }));
    return (now() - t0) / 1000;
  };
  await phase(Math.min(500, total));
  const lat = new Float64Array(total);
  const secs = await phase(total, lat);
  lat.sort();
  const q = (p: number): number => +lat[Math.min(total - 1, Math.floor(p * total))]!.toFixed(3);
  return { ops_per_s: Math.round(total / secs), p50_ms: q(0.5), p99_ms: q(0.99) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.floor(s.length / 2)]!.toFixed(1);
};

const progress = (msg: string): void => void process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

// ---- shoal ----
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function shoalPut(port: number, body: Buffer, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/put', method: 'POST', agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function probeUntilAck(tryOnce: (n: number) => Promise<boolean>, killAt: number): Promise<number> {
  let done = 0;
  let n = 0;
  return new Promise((resolve, reject) => {
    const giveUp = setTimeout(() => { clearInterval(tick); reject(new Error('no write acknowledged within 20 s of the kill')); }, 20_000);
    const tick = setInterval(() => {
      if (done) return;
      void tryOnce(n++).then((ok) => {
        if (!ok || done) return;
        done = now() - killAt;
        clearInterval(tick);
        clearTimeout(giveUp);
        resolve(done);
      }, () => {});
    }, 5);
  });
}

async function benchShoal(base: string, totals: { c1: number; c64: number }, trials: number, memberArgs: string[]) {
  await mkdir(base, { recursive: true });
  const ports = await freePorts(6);
  const c = new ProcCluster(base, ports.slice(0, 3), ports.slice(3), memberArgs);
  try {
    await Promise.all(c.procs.map((p) => c.start(p)));
    const ok = async (p: Proc, i: number): Promise<void> => {
      const code = await shoalPut(p.httpPort, VALUE);
      if (code !== 200) throw new Error(`shoal put ${i} on member ${p.id}: HTTP ${code}`);
    };
    let l = await c.leader();
    const c1 = await load((i) => ok(l, i), totals.c1, 1);
    console.log(JSON.stringify({ system: 'shoal', conc: 1, ...c1 }));
    const c64 = await load((i) => ok(l, i), totals.c64, 64);
    console.log(JSON.stringify({ system: 'shoal', conc: 64, ...c64 }));
    const failovers: number[] = [];
    for (let t = 0; t < trials; t++) {
      l = await c.leader();
      const survivors = c.procs.filter((p) => p !== l);
      for (let i = 0; i < 5; i++) await ok(l, i);
      await Promise.all(survivors.map((p) => shoalPut(p.httpPort, VALUE).catch(() => 0))); // warm connections
      const killAt = now();
      l.child!.kill('SIGKILL');
      const ms = await probeUntilAck(async (n) => {
        const p = survivors[n % 2]!;
        return (await shoalPut(p.httpPort, VALUE, 300).catch(() => 0)) === 200;
      }, killAt);
      failovers.push(ms);
      console.log(JSON.stringify({ system: 'shoal', failover_trial: t, killed: l.id, first_ack_ms: +ms.toFixed(1) }));
      await c.kill(l);
      await c.start(l);
      await sleep(2000);
    }
    return { c1, c64, failover: median(failovers) };
  } finally {
    await c.killAll();
  }
}

// ---- etcd ----
const exited = (p: ChildProcess): Promise<unknown> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r));

async function benchEtcd(base: string, totals: { c1: number; c64: number }, trials: number) {
  const ports = await freePorts(6);
  const cep = (i: number) => `http://127.0.0.1:${ports[i]}`;
  const pep = (i: number) => `http://127.0.0.1:${ports[3 + i]}`;
  const cluster = [0, 1, 2].map((i) => `m${i}=${pep(i)}`).join(',');
  const procs: (ChildProcess | undefined)[] = [undefined, undefined, undefined];
  const start = (i: number): void => {
    procs[i] = spawn('etcd', [
      '--name', `m${i}`, '--data-dir', path.join(base, `m${i}.etcd`),
      '--listen-client-urls', cep(i), '--advertise-client-urls', cep(i),
      '--listen-peer-urls', pep(i), '--initial-advertise-peer-urls', pep(i),
      '--initial-cluster', cluster, '--initial-cluster-token', `shoalri-${process.pid}`,
      '--initial-cluster-state', 'new', '--heartbeat-interval', '100', '--election-timeout', '1000',
      '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'error',
    ], { stdio: 'ignore' });
  };
  const client = (hosts: string[]) => new Etcd3({ hosts, faultHandling: { host: () => noop, global: noop } });
  const leaderIndex = async (): Promise<number> => {
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      for (let i = 0; i < 3; i++) {
        if (!procs[i]) continue;
        const cl = client([cep(i)]);
        try {
          const s = await cl.maintenance.status({ deadline: Date.now() + 500 } as never);
          if (s.leader === s.header.member_id) return i;
        } catch { /* not up yet */ } finally { cl.close(); }
      }
      await sleep(50);
    }
    throw new Error('etcd elected no leader');
  };
  try {
    for (let i = 0; i < 3; i++) start(i);
    let L = await leaderIndex();
    let lc = client([cep(L)]);
    const run = Math.random().toString(36).slice(2, 8);
    const c1 = await load(async (i) => { await lc.put(`b/${run}/a${i}`).value(VALUE); }, totals.c1, 1);
    console.log(JSON.stringify({ system: 'etcd', conc: 1, ...c1 }));
    const c64 = await load(async (i) => { await lc.put(`b/${run}/b${i}`).value(VALUE); }, totals.c64, 64);
    console.log(JSON.stringify({ system: 'etcd', conc: 64, ...c64 }));
    lc.close();
    const failovers: number[] = [];
    for (let t = 0; t < trials; t++) {
      progress(`etcd failover trial ${t}: finding the leader`);
      L = await leaderIndex();
      progress(`etcd failover trial ${t}: leader m${L}, warming`);
      const sv = client([0, 1, 2].filter((i) => i !== L).map(cep));
      for (let i = 0; i < 4; i++) await sv.put(`f/warm${i}`).value('x');
      progress(`etcd failover trial ${t}: killing m${L}`);
      const killAt = now();
      const victim = procs[L]!;
      victim.kill('SIGKILL');
      const ms = await probeUntilAck(async (n) => {
        await sv.put(`f/${t}/${n}`).value('v').options({ deadline: Date.now() + 300 } as never);
        return true;
      }, killAt);
      failovers.push(ms);
      console.log(JSON.stringify({ system: 'etcd', failover_trial: t, killed: L, first_ack_ms: +ms.toFixed(1) }));
      sv.close();
      await exited(victim);
      progress(`etcd failover trial ${t}: restarting m${L}`);
      start(L);
      await leaderIndex();
      await sleep(2000);
    }
    return { c1, c64, failover: median(failovers) };
  } finally {
    for (const p of procs) p?.kill('SIGKILL');
    await Promise.all(procs.map((p) => p && exited(p)));
  }
}

export default async function main(args: string[], { smoke }: BenchOptions): Promise<void> {
  const num = (name: string, dflt: number): number => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const totals = { c1: num('total-c1', smoke ? 100 : 3000), c64: num('total-c64', smoke ? 300 : 20000) };
  const trials = num('trials', smoke ? 1 : 5);
  const base = await mkdtemp(path.join(tmpdir(), 'shoalri-bench-'));
  try {
    // --member-args "--fsync off" etc. for diagnosis only: the reported figures use the defaults
    const mi = args.indexOf('--member-args');
    const memberArgs = mi >= 0 ? args[mi + 1]!.split(' ') : [];
    const shoal = args.includes('--skip-shoal') ? undefined : await benchShoal(path.join(base, 'shoal'), totals, trials, memberArgs);
    const etcd = smoke || args.includes('--skip-etcd') ? undefined : await benchEtcd(path.join(base, 'etcd'), totals, trials);
    console.log(JSON.stringify({ detail: { shoal, etcd } }));
    console.log(JSON.stringify({
      bench: 'raft',
      shoal_ops_c64: shoal?.c64.ops_per_s ?? null, etcd_ops_c64: etcd?.c64.ops_per_s ?? null,
      shoal_p99_ms_c1: shoal?.c1.p99_ms ?? null, etcd_p99_ms_c1: etcd?.c1.p99_ms ?? null,
      shoal_failover_ms: shoal?.failover ?? null, etcd_failover_ms: etcd?.failover ?? null,
      ...(smoke ? { smoke, totals, trials } : {}),
    }));
  } finally {
    agent.destroy();
    await rm(base, { recursive: true, force: true });
  }
}
