// Two daemons in one process over real mTLS gRPC on loopback, with node certificates of 8 s
// (Tuning.nodeCertExpiryMs): the worker renews before expiry without a new agent session, stays
// Ready past its first certificate's end, the manager's CA signs only those renewals, and a
// restarted worker resumes with the renewed pair from disk (the first one has expired by then).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../agent/runtime/cgroups/index.js';
import { certificateInfo } from '../../manager/ca/index.js';
import { Daemon } from '../../daemon/daemon.js';
import { daemonPaths, type DaemonPaths } from '../../daemon/paths.js';
import { NodeRole } from '../../proto/gen/types.js';

const EXPIRY_MS = 8_000;
const base = 30000 + Math.floor(Math.random() * 20000);
const roots: string[] = [];
const live: Daemon[] = [];
const cgroupParents: string[] = [];

interface LogLine {
  msg: string;
  time: number;
  node?: string;
  renewal?: boolean;
  role?: string;
  component?: string;
}
const lines: LogLine[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
    done();
  },
});
const log = pino({ level: 'info' }, sink);

async function host(i: number): Promise<{ paths: DaemonPaths; listen: string; cgroupParent: string }> {
  const root = await mkdtemp(join(tmpdir(), 'shoalcr-'));
  roots.push(root);
  const cgroupParent = `shoalcr-${i}-${process.pid}`;
  cgroupParents.push(cgroupParent);
  return { paths: daemonPaths(join(root, 'lib'), join(root, 'run')), listen: `127.0.0.1:${base + i * 2}`, cgroupParent };
}

async function start(h: Awaited<ReturnType<typeof host>>): Promise<Daemon> {
  const d = new Daemon({
    paths: h.paths,
    listenAddr: h.listen,
    advertiseAddr: h.listen,
    tuning: { heartbeatMs: 500, nodeCertExpiryMs: EXPIRY_MS, cgroupParent: h.cgroupParent, agentBackoff: { initialMs: 20, maxMs: 300 }, raft: { fsync: false } },
    logger: log,
  });
  await d.resume();
  live.push(d);
  return d;
}

async function stop(d: Daemon): Promise<void> {
  live.splice(live.indexOf(d), 1);
  await d.stop();
}

async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  for (const d of live.splice(0)) await d.stop().catch(() => undefined);
  const cgroups = detectCgroups({ logger: pino({ level: 'silent' }) });
  for (const p of cgroupParents) await cgroups.open(p)?.remove().catch(() => undefined);
  for (const r of roots) await rm(r, { recursive: true, force: true });
}, 60_000);

describe('certificate renewal of in-process daemons', () => {
  it('renews before expiry on the open session, stays Ready past the first expiry, resumes with the renewed pair', async () => {
    const [h1, h2] = [await host(0), await host(1)];
    const d1 = await start(h1);
    const init = await d1.init({ advertiseAddr: h1.listen, listenAddr: h1.listen, forceNewCluster: false, defaultAddrPool: [], defaultAddrPoolMaskLength: 0, autolock: false });
    let d2 = await start(h2);
    const joined = await d2.join({ token: init.workerToken, remoteAddr: h1.listen, advertiseAddr: h2.listen, listenAddr: h2.listen });
    expect(joined.role).toBe(NodeRole.WORKER);
    const store = d1.manager!.store;
    const ready = (): boolean => store.view((tx) => tx.nodes.get(joined.nodeId))?.status?.state === 2;
    await until(ready, 'worker ready');

    const certFile = join(h2.paths.certDir, 'node.crt');
    const first = certificateInfo(await readFile(certFile, 'utf8'));
    const since = Date.now();
    await until(async () => certificateInfo(await readFile(certFile, 'utf8')).serial !== first.serial, 'a renewed certificate');
    expect(Date.now()).toBeLessThan(first.notAfterMs);

    while (Date.now() < first.notAfterMs + 1_000) await new Promise((r) => setTimeout(r, 100));
    expect(ready()).toBe(true);
    expect(d2.info().state).toBe('active');
    // one agent session all along: renewing did not drop it, nor did the first certificate's end
    const sessions = lines.filter((l) => l.msg === 'node session opened' && l.node === joined.nodeId);
    expect(sessions.length).toBe(1);
    // the CA signed renewals only: the worker's, and the manager's own (init signs it for the
    // same lifetime)
    const signed = lines.filter((l) => l.msg === 'signed node certificate' && l.time >= since);
    const ofWorker = signed.filter((l) => l.node === joined.nodeId);
    expect(ofWorker.length).toBeGreaterThanOrEqual(1);
    expect(ofWorker.length).toBeLessThanOrEqual(Math.ceil((Date.now() - since) / (0.5 * EXPIRY_MS)) + 1);
    expect(signed.every((l) => l.renewal === true && (l.node === joined.nodeId ? l.role === 'worker' : l.node === init.nodeId && l.role === 'manager'))).toBe(true);

    // a restart resumes from the renewed pair on disk (the first certificate has expired)
    await stop(d2);
    d2 = await start(h2);
    expect(d2.info().state).toBe('active');
    const onDisk = certificateInfo(await readFile(certFile, 'utf8'));
    expect(onDisk.notAfterMs).toBeGreaterThan(Date.now());
    await until(() => lines.filter((l) => l.msg === 'node session opened' && l.node === joined.nodeId).length === 2, 'a session after the restart');
    await until(ready, 'worker ready after the restart');
  }, 90_000);
});
