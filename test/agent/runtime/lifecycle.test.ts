import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect, leftoverCgroups, leftoverMounts, makeFixture, type Fixture } from './helpers.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('life');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
  expect(leftoverMounts(fx.root)).toEqual([]);
});

async function runToEnd(args: string[], extra: Record<string, unknown> = {}) {
  const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args, ...extra });
  await fx.runtime.start(c.id);
  const exit = await fx.runtime.wait(c.id);
  const logs = await collect(fx.runtime.logs(c.id));
  const out = logs.filter((l) => l.stream === 'stdout').map((l) => l.text).join('');
  const err = logs.filter((l) => l.stream === 'stderr').map((l) => l.text).join('');
  return { id: c.id, exit, out, err };
}

describe('container lifecycle', () => {
  it('runs a command and records its exit code and output', async () => {
    const r = await runToEnd(['/bin/sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    expect(r.exit.code).toBe(3);
    expect(r.exit.signal).toBeNull();
    expect(r.exit.oomKilled).toBe(false);
    expect(r.out).toBe('hello\n');
    expect(r.err).toBe('oops\n');
    const info = await fx.runtime.inspect(r.id);
    expect(info.state).toBe('exited');
  });

  it('isolates pid, uts and net namespaces and the rootfs', async () => {
    const r = await runToEnd(['/bin/sh', '-c', 'echo pid=$$; hostname; ls /sys/class/net | tr "\\n" " "; echo; ls /'], { hostname: 'shoalrt-box' });
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('pid=1');
    expect(lines[1]).toBe('shoalrt-box');
    expect(lines[2]!.trim()).toBe('lo');
    expect(lines.slice(3).filter(Boolean).sort()).toEqual(['bin', 'dev', 'etc', 'proc', 'sys', 'tmp']);
  });

  it('writes go to the container upper dir, never to the image layer', async () => {
    const r = await runToEnd(['/bin/sh', '-c', 'echo x > /etc/new-file && rm /bin/ls && cat /etc/new-file']);
    expect(r.exit.code).toBe(0);
    expect(r.out).toBe('x\n');
    expect(existsSync(join(fx.layer, 'etc/new-file'))).toBe(false);
    expect(existsSync(join(fx.layer, 'bin/ls'))).toBe(true);
  });

  it('reports a signal death with the signal name', async () => {
    const r = await runToEnd(['/bin/sh', '-c', 'kill -9 $$']);
    // pid 1 cannot be killed by itself with SIGKILL from inside; the shell's own kill is ignored
    expect([0, 137]).toContain(r.exit.code);
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '60'] });
    await fx.runtime.start(c.id);
    await fx.runtime.kill(c.id, 'SIGKILL');
    const exit = await fx.runtime.wait(c.id);
    expect(exit.signal).toBe('SIGKILL');
    expect(exit.code).toBe(137);
  });

  it('stop sends the signal, then kills after the grace period', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', 'trap "" TERM; sleep 1000 & wait'] });
    await fx.runtime.start(c.id);
    const exit = await fx.runtime.stop(c.id, { signal: 'SIGTERM', graceMs: 300 });
    expect(exit?.signal).toBe('SIGKILL');
    const c2 = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', 'trap "exit 7" TERM; while true; do sleep 0.1; done'] });
    await fx.runtime.start(c2.id);
    await new Promise((r) => setTimeout(r, 300));
    const exit2 = await fx.runtime.stop(c2.id, { graceMs: 20_000 });
    expect(exit2?.code).toBe(7);
    const c3 = await fx.runtime.create({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'trap "exit 8" USR1; while true; do sleep 0.1; done'],
      stopSignal: 'SIGUSR1',
    });
    await fx.runtime.start(c3.id);
    await new Promise((r) => setTimeout(r, 300));
    expect((await fx.runtime.stop(c3.id, { graceMs: 20_000 }))?.code).toBe(8);
  });

  it('remove leaves no state, cgroup or mount; a running container needs force', async () => {
    const c = await fx.runtime.create({ name: 'shoalrt-rm', rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '60'] });
    await fx.runtime.start('shoalrt-rm');
    await expect(fx.runtime.remove('shoalrt-rm')).rejects.toThrow(/is running/);
    await fx.runtime.remove('shoalrt-rm', { force: true });
    expect(existsSync(join(fx.stateDir, c.id))).toBe(false);
    expect(leftoverCgroups(`${fx.cgroupParent}/${c.id}`)).toEqual([]);
    expect(leftoverMounts(c.id)).toEqual([]);
    await expect(fx.runtime.inspect('shoalrt-rm')).rejects.toThrow(/no such container/);
  });

  it('reports the images its containers use', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/true'], image: { ref: 'shoalrt:1', id: 'sha256:shoalrt' } });
    expect(await fx.runtime.imagesInUse()).toEqual(['sha256:shoalrt']);
    await fx.runtime.remove(c.id);
    expect(await fx.runtime.imagesInUse()).toEqual([]);
  });

  it('a container whose starter died before recording the pid is still found running', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '60'] });
    await fx.runtime.start(c.id);
    const recPath = join(fx.stateDir, c.id, 'container.json');
    const rec = JSON.parse(readFileSync(recPath, 'utf8')) as Record<string, unknown>;
    delete rec.pid;
    delete rec.pidStart;
    delete rec.startedAt;
    writeFileSync(recPath, JSON.stringify(rec));
    expect((await fx.runtime.adopt()).map((x) => x.id)).toContain(c.id);
    const exit = await fx.runtime.stop(c.id, { graceMs: 100 });
    expect(exit?.signal).toBe('SIGKILL');
    await fx.runtime.remove(c.id);
  });

  it('adopt() sweeps what an interrupted create() left behind', async () => {
    const id = 'ab'.repeat(32);
    const dir = join(fx.stateDir, id);
    mkdirSync(join(dir, 'upper'), { recursive: true });
    const old = new Date(Date.now() - 120_000);
    utimesSync(dir, old, old);
    const fresh = 'cd'.repeat(32);
    mkdirSync(join(fx.stateDir, fresh));
    await fx.runtime.adopt();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(join(fx.stateDir, fresh))).toBe(true); // may still be under way elsewhere
    rmSync(join(fx.stateDir, fresh), { recursive: true });
  });

  it('refuses a name in use', async () => {
    await fx.runtime.create({ name: 'shoalrt-dup', rootfs: { layers: [fx.layer] }, args: ['/bin/true'] });
    await expect(fx.runtime.create({ name: 'shoalrt-dup', rootfs: { layers: [fx.layer] }, args: ['/bin/true'] })).rejects.toMatchObject({
      userError: true,
      message: expect.stringMatching(/already in use/),
    });
    expect(readdirSync(fx.stateDir).filter((e) => e.length === 64)).toHaveLength((await fx.runtime.list()).length);
  });
});
