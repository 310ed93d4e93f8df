// Network modes: a new namespace with only lo (default), the host's, or an existing one by path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { collect, leftoverCgroups, makeFixture, type Fixture } from './helpers.js';
import type { ContainerSpec } from '../../../agent/runtime/index.js';

const ns = `shoalrt-net-${process.pid}`;
let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('net');
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'add', 'shoalrt-va', 'type', 'veth', 'peer', 'name', 'shoalrt-vb']);
});
afterAll(async () => {
  await fx.cleanup();
  spawnSync('ip', ['netns', 'del', ns]);
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
});

async function links(network: ContainerSpec['network']): Promise<string[]> {
  const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', 'ls /sys/class/net'], network });
  await fx.runtime.wait(c.id);
  const out = (await collect(fx.runtime.logs(c.id))).map((l) => l.text).join('');
  await fx.runtime.remove(c.id);
  return out.split('\n').filter(Boolean).sort();
}

describe('network modes', () => {
  it('none: a fresh namespace with only lo', async () => {
    expect(await links('none')).toEqual(['lo']);
  });

  it('host: the host interfaces', async () => {
    const host = execFileSync('ls', ['/sys/class/net'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(await links('host')).toEqual(host);
  });

  it('path: joins an existing namespace', async () => {
    expect(await links({ path: `/run/netns/${ns}` })).toEqual(['lo', 'shoalrt-va', 'shoalrt-vb']);
  });

  it('gives each container its own /etc/hostname, /etc/hosts and /etc/resolv.conf', async () => {
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'cat /etc/hostname /etc/hosts /etc/resolv.conf'],
      hostname: 'shoalrt-web',
      extraHosts: [{ name: 'shoalrt-db', ip: '10.9.8.7' }],
      dns: { nameservers: ['10.0.0.53'], search: ['shoalrt.internal'] },
    });
    await fx.runtime.wait(c.id);
    const out = (await collect(fx.runtime.logs(c.id))).map((l) => l.text).join('');
    await fx.runtime.remove(c.id);
    expect(out).toBe(
      'shoalrt-web\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.9.8.7\tshoalrt-db\n127.0.1.1\tshoalrt-web\n' +
        'nameserver 10.0.0.53\nsearch shoalrt.internal\n',
    );
  });
});
