// The allocator's arithmetic: CIDR parsing, the default pool, one network's address pool, user
// subnets and their conflicts, the host's routes.
import { describe, expect, it } from 'vitest';
import { AddressPool } from '../../../manager/allocator/address-pool.js';
import { CidrError, formatIPv4, macForAddress, parseCidr, parseIPv4 } from '../../../manager/allocator/cidr.js';
import { parseProcRoutes } from '../../../manager/allocator/host-routes.js';
import { resolveDriver } from '../../../manager/allocator/drivers.js';
import { checkDefaultPool, defaultPoolOf, nextFreeSubnet } from '../../../manager/allocator/subnet-pool.js';
import { parseAddressing, subnetConflict } from '../../../manager/allocator/user-subnet.js';
import { Cluster, IPAMConfig } from '../../../proto/gen/types.js';

const c = (s: string) => parseCidr(s, 'test');
const cfg = (subnet: string, range = '', gateway = '') => IPAMConfig.fromPartial({ subnet, range, gateway });

describe('CIDR blocks', () => {
  it('parses and formats IPv4 blocks', () => {
    expect(c('10.1.2.0/24')).toEqual({ base: parseIPv4('10.1.2.0'), prefix: 24 });
    expect(formatIPv4(c('192.168.255.252/30').base)).toBe('192.168.255.252');
    expect(macForAddress(parseIPv4('10.0.1.5')!)).toBe('02:42:0a:00:01:05');
  });

  it('refuses malformed, host-bit and IPv6 blocks with the input and a fix', () => {
    expect(() => parseCidr('10.0.9.1/24', '--subnet')).toThrow('--subnet "10.0.9.1/24" has host bits set; write 10.0.9.0/24');
    expect(() => parseCidr('10.0.9/24', '--subnet')).toThrow(/not an IPv4 CIDR block; write e.g. 10.0.9.0\/24/);
    expect(() => parseCidr('10.0.9.0/33', '--subnet')).toThrow(CidrError);
    expect(() => parseCidr('10.0.9.0', '--subnet')).toThrow(CidrError);
    expect(() => parseCidr('fd00::/64', '--subnet')).toThrow(/IPv6/);
  });
});

describe('default address pool', () => {
  it('is 10.0.0.0/8 in /24s unless the cluster says otherwise', () => {
    const p = defaultPoolOf(undefined);
    expect(nextFreeSubnet(p, [])).toEqual(c('10.0.0.0/24'));
    const custom = defaultPoolOf(Cluster.fromPartial({ defaultAddressPool: ['172.20.0.0/16'], defaultAddressPoolMaskLength: 26 }));
    expect(nextFreeSubnet(custom, [c('172.20.0.0/26')])).toEqual(c('172.20.0.64/26'));
  });

  it('jumps over taken networks and routes, and says when it is exhausted', () => {
    const p = defaultPoolOf(Cluster.fromPartial({ defaultAddressPool: ['10.10.0.0/22'], defaultAddressPoolMaskLength: 24 }));
    // a /23 route covers two candidate /24s; a /25 network blocks its whole /24
    expect(nextFreeSubnet(p, [c('10.10.0.0/23'), c('10.10.2.128/25')])).toEqual(c('10.10.3.0/24'));
    expect(nextFreeSubnet(p, [c('10.10.0.0/22')])).toBeUndefined();
    expect(nextFreeSubnet(p, [c('10.0.0.0/8')])).toBeUndefined();
  });

  it('checks init flags', () => {
    expect(() => checkDefaultPool(['10.20.0.0/16'], 24)).not.toThrow();
    expect(() => checkDefaultPool(['10.20.0.0/16'], 31)).toThrow(/mask-length 31 is out of range/);
    expect(() => checkDefaultPool(['10.20.0.0/26'], 24)).toThrow(/smaller than one \/24 subnet/);
    expect(() => checkDefaultPool(['10.20.0.0/16', '10.20.128.0/17'], 24)).toThrow(/10.20.0.0\/16 overlaps 10.20.128.0\/17/);
    expect(() => checkDefaultPool(['10.20.0.1/16'], 24)).toThrow(/host bits/);
  });
});

describe('one network address pool', () => {
  it('hands out a /24 as 253 addresses (network, broadcast and gateway kept), serially, and reuses freed ones', () => {
    const s = c('10.0.5.0/24');
    const pool = new AddressPool(s, s, s.base + 1);
    expect(pool.capacity).toBe(253);
    const got: number[] = [];
    for (let i = 0; i < 253; i++) got.push(pool.allocate(`t${i}`)!);
    expect(new Set(got).size).toBe(253);
    expect(got[0]).toBe(parseIPv4('10.0.5.2'));
    expect(got).not.toContain(parseIPv4('10.0.5.255'));
    expect(pool.allocate('extra')).toBeUndefined();
    expect(pool.release(got[10]!, 'someone-else')).toBe(false);
    expect(pool.release(got[10]!, 't10')).toBe(true);
    expect(pool.allocate('again')).toBe(got[10]);
    expect(pool.claim(got[11]!, 'intruder')).toEqual({ ok: false, holder: 't11' });
  });

  it('allocates after the last one given, not the lowest freed one', () => {
    const s = c('10.0.6.0/29');
    const pool = new AddressPool(s, s, s.base + 1);
    const a = pool.allocate('a')!;
    const b = pool.allocate('b')!;
    pool.release(a, 'a');
    expect(pool.allocate('c')).toBe(b + 1);
  });

  it('keeps to the ip range', () => {
    const p = parseAddressing('n', cfg('10.0.7.0/24', '10.0.7.128/28'));
    const pool = new AddressPool(p.subnet, p.range, p.gateway);
    expect(pool.capacity).toBe(16);
    const got = Array.from({ length: 16 }, (_, i) => pool.allocate(`t${i}`)!);
    expect(Math.min(...got)).toBe(parseIPv4('10.0.7.128'));
    expect(pool.allocate('x')).toBeUndefined();
  });
});

describe('user subnets', () => {
  it('refuse a malformed subnet, range or gateway naming the network', () => {
    expect(() => parseAddressing('app', cfg('10.0.9.0/24', '', '10.0.8.1'))).toThrow('network "app": gateway 10.0.8.1 is not inside subnet 10.0.9.0/24');
    expect(() => parseAddressing('app', cfg('10.0.9.0/24', '', '10.0.9.255'))).toThrow(/broadcast address/);
    expect(() => parseAddressing('app', cfg('10.0.9.0/24', '10.0.10.0/25'))).toThrow('network "app": ip range 10.0.10.0/25 is not inside subnet 10.0.9.0/24');
    expect(() => parseAddressing('app', cfg('10.0.9.0/31'))).toThrow(/too small/);
    expect(() => parseAddressing('app', cfg('10.0.0.0/7'))).toThrow(/larger than a \/8/);
    expect(() => parseAddressing('app', cfg('10.0.9.0/24', '', 'gw'))).toThrow(/gateway "gw" is not an IPv4 address/);
    expect(parseAddressing('app', cfg('10.0.9.0/24')).gateway).toBe(parseIPv4('10.0.9.1'));
  });

  it('name both sides of an overlap: another network, the default pool, a host route', () => {
    const pool = defaultPoolOf(undefined);
    const taken = [{ network: 'other', subnet: c('172.30.0.0/16') }];
    const routes = [{ cidr: c('192.168.50.0/24'), dev: 'eth0' }];
    expect(subnetConflict('app', c('172.30.5.0/24'), taken, pool, routes)).toBe(
      'network "app": subnet 172.30.5.0/24 overlaps network "other" (172.30.0.0/16): choose a subnet no other network uses',
    );
    expect(subnetConflict('app', c('10.5.0.0/16'), taken, pool, routes)).toMatch(/subnet 10.5.0.0\/16 overlaps the default address pool 10.0.0.0\/8/);
    expect(subnetConflict('app', c('192.168.0.0/16'), taken, pool, routes)).toMatch(/overlaps the route to 192.168.50.0\/24 \(dev eth0\) on the manager's host/);
    expect(subnetConflict('app', c('172.31.0.0/24'), taken, pool, routes)).toBeUndefined();
  });

  it('reads the host routes from /proc/net/route, without the default route', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'br0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n');
    expect(parseProcRoutes(text)).toEqual([
      { cidr: c('192.168.1.0/24'), dev: 'eth0' },
      { cidr: c('10.77.0.0/16'), dev: 'br0' },
    ]);
  });
});

describe('network drivers', () => {
  it('resolve to the data path an agent runs: vxlan, gre or routed', () => {
    expect(resolveDriver('overlay', {})).toEqual({ driver: 'vxlan' });
    expect(resolveDriver('', {})).toEqual({ driver: 'vxlan' });
    expect(resolveDriver('overlay', { encap: 'gre' })).toEqual({ driver: 'gre' });
    expect(resolveDriver('host-gw', {})).toEqual({ driver: 'routed' });
    expect(resolveDriver('gre', { encap: 'gre' })).toEqual({ driver: 'gre' });
    expect(resolveDriver('bridge', {})).toEqual({ problem: expect.stringMatching(/^driver "bridge" is unknown: use overlay/) });
    expect(resolveDriver('overlay', { encap: 'ipip' })).toEqual({ problem: 'encap option "ipip" is not one of vxlan, gre, routed' });
    expect(resolveDriver('vxlan', { encap: 'gre' })).toEqual({ problem: 'driver "vxlan" and encap option "gre" disagree: give one of them' });
  });
});
