// The real-process test of issue 3: three member processes with real WALs on loopback, a steady
// write load, the leader SIGKILLed and restarted again and again; every acknowledged write must
// be present at the end, once, in its writer's order, on every member.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePorts } from '../../helpers/ports.js';
import { ProcCluster, put } from './process/harness.js';

let cluster: ProcCluster | undefined;
let base = '';
afterAll(async () => {
  await cluster?.killAll();
  if (base) await rm(base, { recursive: true, force: true });
});

it('loses no acknowledged write while the leader is SIGKILLed repeatedly', { timeout: 90_000 }, async () => {
  base = await mkdtemp(path.join(tmpdir(), 'shoalri-'));
  const ports = await freePorts(6);
  // small snapshot interval so restarts also recover from snapshots and compacted logs
  const c = new ProcCluster(base, ports.slice(0, 3), ports.slice(3), ['--snapshot-every', '300']);
  cluster = c;
  await Promise.all(c.procs.map((p) => c.start(p)));
  let leaderPort = (await c.leader()).httpPort;

  const acked: string[][] = [[], [], [], []];
  let failures = 0;
  let running = true;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const v = `w${w}-${i}`;
      const r = await put(leaderPort, v);
      if (r.ok) {
        acked[w]!.push(v);
        continue;
      }
      failures++;
      // an unknown outcome is never retried with the same value, so duplicates would be bugs
      const target = r.leader ? c.procs.find((p) => p.id === r.leader) : undefined;
      if (target?.child) leaderPort = target.httpPort;
      else await new Promise((res) => setTimeout(res, 50));
      if (!target) {
        const l = await c.leader().catch(() => undefined);
        if (l) leaderPort = l.httpPort;
      }
    }
  };
  const writers = acked.map((_, w) => writer(w));

  for (let round = 0; round < 5; round++) {
    await new Promise((r) => setTimeout(r, 1500));
    const l = await c.leader();
    const before = acked.flat().length;
    await c.kill(l);
    // liveness without a timing assert: writes resume on the survivors (generous deadline)
    const deadline = Date.now() + 30_000;
    while (acked.flat().length <= before + 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(acked.flat().length, `writes continue without member ${l.id}`).toBeGreaterThan(before + 10);
    await c.start(l);
  }
  await new Promise((r) => setTimeout(r, 1000));
  running = false;
  await Promise.all(writers);

  const total = acked.flat().length;
  expect(total).toBeGreaterThan(200);
  // converge: every member applies the same log
  const end = Date.now() + 30_000;
  let logs: string[][] = [];
  for (;;) {
    logs = await Promise.all(c.procs.map((p) => c.items(p)));
    if (logs.every((l) => l.length === logs[0]!.length) || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const l of logs) expect(l).toEqual(logs[0]);
  const log = logs[0]!;
  expect(new Set(log).size).toBe(log.length);
  const pos = new Map(log.map((v, i) => [v, i]));
  for (const seq of acked) {
    let last = -1;
    for (const v of seq) {
      const at = pos.get(v);
      expect(at, `acknowledged ${v} is in the log`).toBeDefined();
      expect(at!, `${v} after its predecessor`).toBeGreaterThan(last);
      last = at!;
    }
  }
  console.log(JSON.stringify({ acked: total, applied: log.length, failedOrUnknown: failures }));
});
