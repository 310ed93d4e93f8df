// Encryption at rest and autolock on a 3-manager lab cluster of real daemons (issue 9 point 4):
// the WAL and a forced snapshot hold no secret value, CA private key, join token or unlock key;
// a restarted manager is locked (the CLI says to run `shoal unlock`), refuses a wrong key, opens
// with the right one with its data intact; a rotated key replaces the old one; autolock off puts
// the key-encryption key back on disk and the manager restarts unlocked. Under autolock the
// managers' node.key is encrypted as well.
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeRole, type Secret } from '../../proto/gen/types.js';
import { TestCluster, until } from './cluster.js';

const REPO = resolve(import.meta.dirname, '../..');
const SECRET = 'autolock-e2e-secret-value-5b1f0c';
let c: TestCluster;
let workerToken = '';
let managerToken = '';
let unlockKey = '';

/** `shoal ARGS` against a host's local socket, with `input` on stdin (the unlock key). */
function shoal(host: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, SHOAL_RUN: c.host(host).run, SHOAL_HOST: '', SHOAL_DEBUG: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('error', rej);
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    p.stdin.end(input);
  });
}

const raftDir = (host: string): string => join(c.host(host).root, 'raft');
const nodeKey = (host: string): Promise<string> => readFile(join(c.host(host).root, 'certificates', 'node.key'), 'utf8');
const ENCRYPTED = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
const exists = (f: string): Promise<boolean> => stat(f).then(() => true, () => false);

async function raftFiles(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['wal', 'snap']) for (const n of await readdir(join(raftDir(host), sub))) out.push(join(raftDir(host), sub, n));
  return out;
}

/** The files under a manager's WAL and snapshot directories that contain `needle`. */
async function grepRaft(host: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await raftFiles(host)) if ((await readFile(f)).includes(Buffer.from(needle))) hits.push(f);
  return hits;
}

async function restart(host: string): Promise<void> {
  await c.kill(host, 'SIGTERM');
  await c.start(host);
}

beforeAll(async () => {
  // a snapshot every 20 entries, so that the test can force one by writing
  process.env.SHOAL_RAFT_SNAPSHOT_EVERY = '20';
  c = await TestCluster.up({ name: 'shoalake2e', subnet: '10.231.93.0/24', hosts: 4 });
  for (const h of ['h1', 'h2', 'h3', 'h4']) await c.start(h);
  const init = await shoal('h1', ['init', '--autolock', '--advertise-addr', c.addr('h1'), '--listen-addr', c.addr('h1')]);
  expect(init.code, init.stderr).toBe(0);
  unlockKey = /SHOALKEY-1-[A-Za-z0-9_-]{43}/.exec(init.stdout)?.[0] ?? '';
  expect(unlockKey, init.stdout).not.toBe('');
  workerToken = (await shoal('h1', ['join-token', 'worker', '-q'])).stdout.trim();
  managerToken = (await shoal('h1', ['join-token', 'manager', '-q'])).stdout.trim();
  await c.join('h2', managerToken, 'h1');
  await c.join('h3', managerToken, 'h1');
  await c.join('h4', workerToken, 'h1');
  await until(async () => (await c.control<{ nodes: { managerStatus?: { reachability: number } }[] }>('h1', 'listNodes', {})).nodes.filter((n) => n.managerStatus?.reachability === 2).length === 3, 'three reachable managers');
}, 240_000);

afterAll(async () => {
  delete process.env.SHOAL_RAFT_SNAPSHOT_EVERY;
  await c?.down();
}, 120_000);

describe('encryption at rest', () => {
  it('keeps secrets, the CA key, join tokens and the unlock key out of the WAL and a forced snapshot', async () => {
    const r = await c.control<{ secret: Secret }>('h1', 'createSecret', { spec: { annotations: { name: 'db-pass', labels: {} }, data: Buffer.from(SECRET) } });
    expect(r.secret.id).not.toBe('');
    // enough writes for a snapshot on every manager (SHOAL_RAFT_SNAPSHOT_EVERY=20)
    for (let i = 0; i < 30; i++) await c.control('h1', 'createConfig', { spec: { annotations: { name: `filler-${i}`, labels: {} }, data: Buffer.from(`filler ${i}`) } });
    const clusterId = (await c.info('h1')).clusterId;
    for (const h of ['h1', 'h2', 'h3']) {
      await until(async () => (await readdir(join(raftDir(h), 'snap'))).some((n) => n.endsWith('.snap')), `a snapshot on ${h}`);
      const files = await raftFiles(h);
      expect(files.some((f) => f.endsWith('.wal'))).toBe(true);
      // the grep works on these files: the segment header (cluster and member id) is plaintext
      expect((await grepRaft(h, clusterId)).length, `${h} cluster id`).toBeGreaterThan(0);
      for (const [what, needle] of [['secret', SECRET], ['CA key', 'PRIVATE KEY'], ['worker token', workerToken], ['manager token', managerToken], ['unlock key', unlockKey]] as const) {
        expect(await grepRaft(h, needle), `${what} on ${h}`).toEqual([]);
      }
      // autolock: the key-encryption key is nowhere on disk (a joined manager removes its own
      // once it follows the cluster object, within a second or so), the wrapped data keys are 0600
      await until(async () => !(await exists(join(raftDir(h), 'kek'))), `${h} without a kek file`);
      expect((await stat(join(raftDir(h), 'keys.json'))).mode & 0o777).toBe(0o600);
      expect((await readFile(join(raftDir(h), 'keys.json'), 'utf8')).includes(unlockKey)).toBe(false);
      // and the manager's own TLS key is encrypted too (a joined manager re-saves it once it follows autolock)
      await until(async () => (await nodeKey(h)).includes(ENCRYPTED), `${h} node.key encrypted`);
    }
    // and the managers read it all back
    const ls = await shoal('h2', ['secret', 'ls']);
    expect(ls.stdout).toContain('db-pass');
  }, 120_000);
});

describe('autolock', () => {
  it('a restarted manager is locked until unlocked with the right key, then has its data', async () => {
    await restart('h2');
    expect((await c.info('h2')).state).toBe('locked');
    expect(await nodeKey('h2')).toContain(ENCRYPTED);
    const refused = await shoal('h2', ['secret', 'ls']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/locked/);
    expect(refused.stderr).toContain('shoal unlock');
    const info = await shoal('h2', ['info']);
    expect(info.stdout).toContain('locked');
    // wrong keys: another well-formed key, and something that is not a key
    const wrong = await shoal('h2', ['unlock'], `SHOALKEY-1-${Buffer.alloc(32, 1).toString('base64url')}\n`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unlock key is wrong/);
    const garbage = await shoal('h2', ['unlock'], 'hunter2\n');
    expect(garbage.code).not.toBe(0);
    expect(garbage.stderr).toMatch(/not an unlock key/);
    expect((await c.info('h2')).state).toBe('locked');
    const ok = await shoal('h2', ['unlock'], `${unlockKey}\n`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Manager unlocked');
    await until(async () => (await c.info('h2')).state === 'active', 'h2 active');
    const ls = await until(async () => {
      const r = await shoal('h2', ['secret', 'ls']);
      return r.code === 0 && r.stdout.includes('db-pass') && r;
    }, 'the secret listed on h2', 30_000);
    expect(ls.stdout).toContain('db-pass');
    // the rest of the state too: every config, with its data, read from h2's own store
    const configs = await c.control<{ configs: { spec?: { annotations?: { name: string } } }[] }>('h2', 'listConfigs', {});
    expect(configs.configs.filter((x) => x.spec?.annotations?.name.startsWith('filler-')).length).toBe(30);
    const one = await c.control<{ config: { spec?: { data: Buffer } } }>('h2', 'getConfig', { configId: 'filler-7' });
    expect(Buffer.from(one.config.spec!.data).toString()).toBe('filler 7');
    const again = await shoal('h2', ['unlock'], `${unlockKey}\n`);
    expect(again.stderr).toMatch(/not locked/);
  }, 120_000);

  it('after a rotation only the new key unlocks', async () => {
    const before = await readFile(join(raftDir('h3'), 'keys.json'), 'utf8');
    const rot = await shoal('h1', ['unlock-key', '--rotate', '-q']);
    expect(rot.code, rot.stderr).toBe(0);
    const newKey = rot.stdout.trim();
    expect(newKey).toMatch(/^SHOALKEY-1-/);
    expect(newKey).not.toBe(unlockKey);
    expect((await shoal('h2', ['unlock-key', '-q'])).stdout.trim()).toBe(newKey);
    // h3 re-wraps its data keys with the new key (it follows the cluster object)
    await until(async () => (await readFile(join(raftDir('h3'), 'keys.json'), 'utf8')) !== before, 'h3 re-wrapped its keys');
    await restart('h3');
    expect((await c.info('h3')).state).toBe('locked');
    const old = await shoal('h3', ['unlock'], `${unlockKey}\n`);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/unlock key is wrong/);
    const ok = await shoal('h3', ['unlock'], newKey);
    expect(ok.code, ok.stderr).toBe(0);
    await until(async () => (await c.info('h3')).state === 'active', 'h3 active');
    unlockKey = newKey;
  }, 120_000);

  it('autolock off puts the key-encryption key back on disk: a restart needs no key', async () => {
    const off = await shoal('h1', ['cluster', 'update', '--autolock=false']);
    expect(off.code, off.stderr).toBe(0);
    await until(() => exists(join(raftDir('h2'), 'kek')), 'h2 kek on disk');
    expect((await stat(join(raftDir('h2'), 'kek'))).mode & 0o777).toBe(0o600);
    await until(async () => !(await nodeKey('h2')).includes(ENCRYPTED), 'h2 node.key stored plainly again');
    const none = await shoal('h1', ['unlock-key']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('--autolock=true');
    await restart('h2');
    await until(async () => (await c.info('h2')).state === 'active', 'h2 active without a key');
    const ls = await until(async () => {
      const r = await shoal('h2', ['secret', 'ls']);
      return r.code === 0 && r.stdout.includes('db-pass') && r;
    }, 'the secret listed on h2', 30_000);
    expect(ls.stdout).toContain('db-pass');
    // and back on: a new key, the managers' KEKs leave the disk again
    const on = await shoal('h1', ['cluster', 'update', '--autolock=true']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/SHOALKEY-1-/);
    await until(async () => !(await exists(join(raftDir('h2'), 'kek'))), 'h2 kek removed');
    await until(async () => (await nodeKey('h2')).includes(ENCRYPTED), 'h2 node.key encrypted again');
  }, 120_000);

  it('a worker promoted under autolock follows it (no KEK on disk, node.key encrypted); demoted, it keeps no Raft keys', async () => {
    const setRole = (desiredRole: NodeRole): Promise<void> => c.updateNodeSpec('h1', 'h4', (spec) => ({ ...spec, desiredRole }));
    expect(await nodeKey('h4')).not.toContain(ENCRYPTED);
    await setRole(NodeRole.MANAGER);
    await until(async () => (await c.info('h4')).role === NodeRole.MANAGER && (await exists(join(raftDir('h4'), 'keys.json'))), 'h4 a manager with raft keys', 60_000);
    await until(async () => !(await exists(join(raftDir('h4'), 'kek'))) && (await nodeKey('h4')).includes(ENCRYPTED), 'h4 following autolock', 30_000);
    await setRole(NodeRole.WORKER);
    await until(async () => (await c.info('h4')).role === NodeRole.WORKER, 'h4 a worker again', 60_000);
    await until(async () => !(await nodeKey('h4')).includes(ENCRYPTED) && !(await exists(raftDir('h4'))), 'h4 without raft keys, node.key plain', 30_000);
    // and it still works as a worker after a restart (its key is readable without any unlock key)
    await restart('h4');
    await until(async () => (await c.info('h4')).state === 'active', 'h4 active after restart');
  }, 180_000);
});
