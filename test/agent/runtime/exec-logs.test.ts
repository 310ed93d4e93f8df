// exec into a running container, and the JSON-lines log: capture, rotation, follow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { collect, leftoverCgroups, makeFixture, type Fixture } from './helpers.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('exec');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
});

describe('exec', () => {
  it('runs inside every namespace and the cgroup of the container, with its hardening', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '120'], hostname: 'shoalrt-exec', env: ['FOO=bar'] });
    const r = await fx.runtime.exec(c.id, {
      args: ['/bin/sh', '-c', 'echo $$ $FOO $EXTRA; hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/self/cgroup | grep -c ":/$"; ls /sys/class/net; grep -E "^(CapEff|Seccomp:)" /proc/self/status'],
      env: ['EXTRA=more'],
    });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\d+ bar more$/);
    expect(lines[0]).not.toMatch(/^1 /);
    expect(lines[1]).toBe('shoalrt-exec');
    expect(lines[2]!.trim()).toBe('/bin/sleep 120');
    expect(Number(lines[3])).toBeGreaterThan(0); // the cgroup namespace is rooted at the container's cgroup
    expect(lines[4]).toBe('lo');
    expect(r.stdout).toContain('CapEff:\t00000000a80425fb');
    expect(r.stdout).toContain('Seccomp:\t2');
    const pids = await fx.runtime.stats(c.id);
    expect(pids.pids).toBe(1); // the exec'd process has gone again
    expect((await fx.runtime.exec(c.id, { args: ['/bin/sh', '-c', 'echo err >&2; exit 5'] }))).toMatchObject({ code: 5, stderr: 'err\n' });
    expect((await fx.runtime.exec(c.id, { args: ['/bin/id', '-u'], user: 'app' })).stdout).toBe('1000\n');
    await expect(fx.runtime.exec(c.id, { args: ['nope'] })).rejects.toMatchObject({ userError: true, message: expect.stringMatching(/nope not found/) });
    await fx.runtime.remove(c.id, { force: true });
  });

  it('refuses exec into a container that is not running', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/true'] });
    await expect(fx.runtime.exec(c.id, { args: ['/bin/true'] })).rejects.toThrow(/not running/);
    await fx.runtime.remove(c.id);
  });
});

describe('logs', () => {
  it('rotates by size and keeps the newest lines', async () => {
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'for i in $(seq 1 300); do echo "line $i padded to make the record longer"; done'],
      log: { maxBytes: 4096, maxFiles: 3 },
    });
    await fx.runtime.wait(c.id);
    const dir = join(fx.stateDir, c.id);
    for (const f of ['container.log', 'container.log.1', 'container.log.2']) {
      expect(existsSync(join(dir, f))).toBe(true);
      expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    }
    expect(existsSync(join(dir, 'container.log.3'))).toBe(false);
    const first = JSON.parse(readFileSync(join(dir, 'container.log'), 'utf8').split('\n')[0]!) as Record<string, string>;
    expect(Object.keys(first).sort()).toEqual(['stream', 'text', 'time']);
    expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const entries = await collect(fx.runtime.logs(c.id));
    const nums = entries.map((e) => Number(/line (\d+)/.exec(e.text)![1]));
    expect(nums.at(-1)).toBe(300);
    expect(nums[0]).toBeGreaterThan(1);
    expect(nums).toEqual(nums.map((_, i) => nums[0]! + i)); // contiguous and in order
  });

  it('keeps long lines, partial last lines and control characters intact across records', async () => {
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo; printf "tab\\there \\033[1mbold\\"q\\" back\\\\slash\\n"; printf "no newline at the end"'],
    });
    await fx.runtime.wait(c.id);
    const entries = await collect(fx.runtime.logs(c.id));
    const text = entries.map((e) => e.text).join('');
    expect(text).toBe(`${'x'.repeat(40000)}\ntab\there \u001b[1mbold"q" back\\slash\nno newline at the end`);
    expect(entries.length).toBeGreaterThanOrEqual(5); // the 40000-byte line is cut into buffer-sized records
  });

  it('follows output until the container exits, across rotations', async () => {
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'for i in $(seq 1 40); do echo "tick $i ................................................"; [ $((i % 10)) = 0 ] && sleep 0.2; done; echo bye >&2'],
      log: { maxBytes: 2048, maxFiles: 5 },
    });
    const entries = await collect(fx.runtime.logs(c.id, { follow: true }));
    expect(entries.filter((e) => e.stream === 'stdout')).toHaveLength(40);
    expect(entries.at(-1)).toMatchObject({ stream: 'stderr', text: 'bye\n' });
  });
});
