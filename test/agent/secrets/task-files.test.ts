// A task's secret files on a real tmpfs of their own and its configs in a plain directory:
// owners, modes and bytes as planned; released (unmounted, removed) on request and on the
// failure path of materialize itself.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMountPoint, mountsUnder, TaskFiles, type PlannedFile } from '../../../agent/secrets/index.js';

const root = mkdtempSync(join(tmpdir(), 'shoalsa-files-'));
afterAll(async () => {
  const left = mountsUnder(root);
  rmSync(root, { recursive: true, force: true });
  expect(left).toEqual([]);
});

const file = (kind: 'secret' | 'config', id: string, target: string, data: string, extra: Partial<PlannedFile> = {}): PlannedFile => ({ kind, id, name: id, target, uid: 0, gid: 0, mode: 0o444, data: Buffer.from(data), ...extra });

describe('TaskFiles', () => {
  it('mounts a 0700 tmpfs for secrets, writes configs to a directory, and releases both', async () => {
    const tf = new TaskFiles({ secretsDir: join(root, 'run', 'secrets'), configsDir: join(root, 'run', 'configs') });
    const mounts = await tf.materialize('shoalsaT1', [
      file('secret', 's1', '/run/secrets/db', 'hunter2', { uid: 1000, gid: 1001, mode: 0o400 }),
      file('secret', 's1', '/etc/db.pw', 'hunter2'),
      file('config', 'c1', '/app.conf', 'port=80\n', { mode: 0o640 }),
    ]);
    const sdir = tf.secretsPath('shoalsaT1');
    expect(isMountPoint(sdir)).toBe(true);
    const mi = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === sdir)!;
    expect(mi).toMatch(/ - tmpfs shoal-secrets /);
    expect(mi).toMatch(/\bnosuid\b.*\bnodev\b.*\bnoexec\b|nosuid,nodev,noexec/);
    expect(statSync(sdir).mode & 0o7777).toBe(0o700);
    expect(mounts.map((m) => m.target)).toEqual(['/run/secrets/db', '/etc/db.pw', '/app.conf']);
    expect(mounts.every((m) => m.type === 'bind' && m.readOnly === true)).toBe(true);
    const [s0, s1, c0] = mounts.map((m) => (m.type === 'bind' ? m.source : ''));
    expect(s0!.startsWith(`${sdir}/`) && s1!.startsWith(`${sdir}/`)).toBe(true);
    expect(c0!.startsWith(`${tf.configsPath('shoalsaT1')}/`)).toBe(true);
    expect(readFileSync(s0!, 'utf8')).toBe('hunter2');
    const st = statSync(s0!);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o400, 1000, 1001]);
    expect(statSync(s1!).mode & 0o7777).toBe(0o444);
    expect(statSync(c0!).mode & 0o7777).toBe(0o640);
    expect(readFileSync(c0!, 'utf8')).toBe('port=80\n');
    expect(tf.taskIds()).toEqual(['shoalsaT1']);

    await tf.release('shoalsaT1');
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync(sdir)).toBe(false);
    expect(existsSync(tf.configsPath('shoalsaT1'))).toBe(false);
    expect(tf.taskIds()).toEqual([]);
    // twice is fine (remove after a failed prepare, then again from the task set)
    await tf.release('shoalsaT1');
  });

  it('leaves nothing mounted or written when making the files fails half-way', async () => {
    const configsDir = join(root, 'not-a-dir');
    writeFileSync(configsDir, 'x');
    const tf = new TaskFiles({ secretsDir: join(root, 'run2', 'secrets'), configsDir });
    await expect(tf.materialize('shoalsaT2', [file('secret', 's1', '/run/secrets/a', 'a'), file('config', 'c1', '/c', 'c')])).rejects.toThrow(/ENOTDIR|EEXIST/);
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync(tf.secretsPath('shoalsaT2'))).toBe(false);
  });

  it('starts over when an earlier attempt left the task files behind', async () => {
    const tf = new TaskFiles({ secretsDir: join(root, 'run3', 'secrets'), configsDir: join(root, 'run3', 'configs') });
    await tf.materialize('shoalsaT3', [file('secret', 's1', '/run/secrets/a', 'old')]);
    const again = await tf.materialize('shoalsaT3', [file('secret', 's1', '/run/secrets/a', 'new')]);
    expect(mountsUnder(tf.secretsPath('shoalsaT3'))).toHaveLength(1);
    expect(readFileSync(again[0]!.type === 'bind' ? again[0]!.source : '', 'utf8')).toBe('new');
    await tf.release('shoalsaT3');
    expect(mountsUnder(root)).toEqual([]);
  });

  it('sizes the tmpfs to hold the largest secrets the managers accept (500 KiB each)', async () => {
    const tf = new TaskFiles({ secretsDir: join(root, 'run5', 'secrets'), configsDir: join(root, 'run5', 'configs') });
    const big = 'x'.repeat(500 * 1024);
    const mounts = await tf.materialize('shoalsaT5', [file('secret', 'a', '/run/secrets/a', big), file('secret', 'b', '/run/secrets/b', `${big}y`), file('secret', 'c', '/run/secrets/c', '')]);
    expect(mounts.map((m) => (m.type === 'bind' ? readFileSync(m.source, 'utf8').length : -1))).toEqual([big.length, big.length + 1, 0]);
    await tf.release('shoalsaT5');
    expect(mountsUnder(root)).toEqual([]);
  });

  it('refuses a task id that would leave its directory', async () => {
    const tf = new TaskFiles({ secretsDir: join(root, 'run4', 'secrets'), configsDir: join(root, 'run4', 'configs') });
    await expect(tf.materialize('..', [file('secret', 's1', '/run/secrets/a', 'a')])).rejects.toThrow(/cannot name a directory/);
    await expect(tf.materialize('a/b', [file('secret', 's1', '/run/secrets/a', 'a')])).rejects.toThrow(/cannot name a directory/);
  });
});
