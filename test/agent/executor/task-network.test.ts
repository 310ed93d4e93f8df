// TaskNetworks over a real data path: two lab hosts (network namespaces on one underlay), each
// with its OverlayHost; tasks get a namespace of their own joined to the network from their
// NetworkAttachment records, reach each other across hosts once the peers are set, and leave
// nothing behind (namespace files, links, nft table) when released; adopt keeps a kept task
// connected and removes the namespace of a task no longer run.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkAttachment } from '../../../proto/gen/types.js';
import { TaskNetworks, attachmentSpecsOf, dataPathOf, overlayAttachments } from '../../../agent/executor/index.js';
import { must, residue, run, upLab, type TestLab } from '../../overlay-net/lab.js';

let t: TestLab;
const quiet = pino({ level: 'silent' });

beforeAll(async () => {
  t = await upLab('tnet', 2, '10.212.0.0/24');
}, 120_000);

afterAll(async () => {
  await t?.down();
}, 60_000);

function attachment(addr: string, o: Partial<NetworkAttachment> = {}): NetworkAttachment {
  return NetworkAttachment.fromPartial({
    networkId: 'net1',
    networkName: 'app_default',
    addresses: [`${addr}/24`],
    driver: { name: 'overlay', options: {} },
    vni: 4200,
    subnet: '10.212.9.0/24',
    gateway: '10.212.9.1',
    macAddress: `02:42:0a:d4:09:${Number(addr.split('.')[3]).toString(16).padStart(2, '0')}`,
    ...o,
  });
}

async function networksOn(host: string): Promise<TaskNetworks> {
  const dir = join(t.base, 'netns', host);
  mkdirSync(dir, { recursive: true });
  return new TaskNetworks({ host: await t.open(host), netnsDir: dir, logger: quiet });
}

const ping = (path: string, addr: string, count = 2) => run(['nsenter', `--net=${path}`, 'ping', '-n', '-c', String(count), '-W', '3', addr]);

describe('TaskNetworks', () => {
  it('maps the stored records: driver, interface order, the default route on the first non-internal network', () => {
    expect(dataPathOf(attachment('10.212.9.2'))).toBe('vxlan');
    expect(dataPathOf(attachment('10.212.9.2', { driver: { name: 'overlay', options: { encap: 'gre' } } }))).toBe('gre');
    expect(dataPathOf(attachment('10.212.9.2', { driver: { name: 'host-gw', options: {} } }))).toBe('routed');
    const specs = attachmentSpecsOf('t1', '/x', [attachment('10.212.9.2', { internal: true }), attachment('10.212.8.2', { networkId: 'net2' }), attachment('10.212.7.2', { networkId: 'net3' })]);
    expect(specs.map((s) => [s.spec.ifName, s.spec.defaultRoute])).toEqual([['eth0', false], ['eth1', true], ['eth2', false]]);
    const a = attachment('10.212.9.2');
    expect(overlayAttachments({ networks: [a], spec: undefined })).toHaveLength(1);
    expect(overlayAttachments({ networks: [a], spec: { networks: [{ target: 'host', aliases: [], driverAttachmentOpts: {} }] } as never })).toHaveLength(0);
  });

  it('joins tasks on two hosts, reaches across once peers are set, adopts, and leaves nothing when released', async () => {
    const [h1, h2] = t.hosts as [(typeof t.hosts)[0], (typeof t.hosts)[0]];
    const n1 = await networksOn(h1.name);
    const n2 = await networksOn(h2.name);
    try {
      const p1 = await n1.prepare('task1', [attachment('10.212.9.2')]);
      const p2 = await n2.prepare('task2', [attachment('10.212.9.3')]);
      expect(existsSync(p1) && existsSync(p2)).toBe(true);
      expect(await must(['nsenter', `--net=${p1}`, 'ip', '-4', 'addr', 'show', 'eth0'])).toContain('10.212.9.2/24');
      // peers before they are known: unreachable
      expect((await ping(p1, '10.212.9.3', 1)).code).not.toBe(0);
      // peer lists as the dispatcher sends them, including this host itself (skipped) on h2
      await n1.setPeers('net1', [{ hostId: 'h2', underlayAddress: h2.addr, prefixes: ['10.212.9.3/32'] }]);
      await n2.setPeers('net1', [{ hostId: 'h1', underlayAddress: h1.addr, prefixes: ['10.212.9.2/32'] }]);
      expect((await ping(p1, '10.212.9.3')).code).toBe(0);
      expect((await ping(p2, '10.212.9.2')).code).toBe(0);

      // agent restart on h1: a new data path object, adopt keeps task1 (and removes a stray namespace)
      const stray = join(t.base, 'netns', h1.name, 'shoal-gone');
      await must(['sh', '-c', `touch ${stray} && unshare --net=${stray} true`]);
      const again = new TaskNetworks({ host: await t.open(h1.name), netnsDir: join(t.base, 'netns', h1.name), logger: quiet });
      const report = await again.adopt([{ id: 'task1', attachments: [attachment('10.212.9.2')] }]);
      expect(report.kept.length).toBeGreaterThan(0);
      expect(existsSync(stray)).toBe(false);
      await again.setPeers('net1', [{ hostId: 'h2', underlayAddress: h2.addr, prefixes: ['10.212.9.3/32'] }]);
      expect((await ping(p1, '10.212.9.3')).code).toBe(0);

      await again.release('task1');
      await n2.release('task2');
      expect(readdirSync(join(t.base, 'netns', h1.name))).toEqual([]);
      expect(readdirSync(join(t.base, 'netns', h2.name))).toEqual([]);
      expect(await residue(h1)).toEqual([]);
      expect(await residue(h2)).toEqual([]);
    } finally {
      await n1.release('task1').catch(() => undefined);
      await n2.release('task2').catch(() => undefined);
    }
  }, 120_000);

  it('a failed attach removes the namespace it made', async () => {
    const h1 = t.hosts[0]!;
    const n1 = await networksOn(h1.name);
    // an address outside the subnet is refused by the data path
    await expect(n1.prepare('bad', [attachment('10.212.9.4', { addresses: ['10.99.0.4/24'] })])).rejects.toThrow();
    expect(readdirSync(join(t.base, 'netns', h1.name))).toEqual([]);
    expect(await residue(h1)).toEqual([]);
  }, 60_000);
});
