// The text of containers' resolv.conf and hosts files, and the host resolvers read from resolv.conf.
import { describe, expect, it } from 'vitest';
import { containerHosts, containerResolvConf, parseUpstream, resolversOf } from '../../overlay-net/dns/index.js';

describe('container resolv.conf', () => {
  it('names the embedded server, the service search domains and options, ndots:0 unless set', () => {
    expect(containerResolvConf({ nameservers: ['10.0.1.1', '10.0.2.1'] })).toBe('nameserver 10.0.1.1\nnameserver 10.0.2.1\noptions ndots:0\n');
    expect(containerResolvConf({ nameservers: ['10.0.1.1'], search: ['corp.example', 'example'], options: ['timeout:2', 'ndots:3'] })).toBe(
      'nameserver 10.0.1.1\nsearch corp.example example\noptions timeout:2 ndots:3\n',
    );
    // The C library reads three nameservers at most; duplicates (one gateway twice) count once.
    expect(containerResolvConf({ nameservers: ['10.0.1.1', '10.0.1.1', '10.0.2.1', '10.0.3.1', '10.0.4.1'] }).match(/nameserver/g)).toHaveLength(3);
  });

  it('refuses what would break the file', () => {
    expect(() => containerResolvConf({ nameservers: [] })).toThrow(/at least one/);
    expect(() => containerResolvConf({ nameservers: ['10.0.1.1'], search: ['a\nnameserver 1.2.3.4'] })).toThrow(/dns_search/);
    expect(() => containerResolvConf({ nameservers: ['nope'] })).toThrow(/nope/);
  });
});

describe('container hosts', () => {
  it('has loopback names, the container under its hostname and extra_hosts with every address', () => {
    const text = containerHosts({ hostname: 'web-1', addresses: ['10.0.1.7/24', '10.0.2.9'], extraHosts: { db: ['192.0.2.5', '2001:db8::5'] } });
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('127.0.0.1\tlocalhost');
    expect(lines.slice(-4)).toEqual(['10.0.1.7\tweb-1', '10.0.2.9\tweb-1', '192.0.2.5\tdb', '2001:db8::5\tdb']);
  });

  it('refuses bad names and addresses, naming them', () => {
    expect(() => containerHosts({ hostname: 'a b', addresses: [] })).toThrow(/"a b"/);
    expect(() => containerHosts({ hostname: 'x', addresses: ['10.0.1'] })).toThrow(/10\.0\.1/);
    expect(() => containerHosts({ hostname: 'x', addresses: [], extraHosts: { db: ['nope'] } })).toThrow(/db: "nope"/);
  });
});

describe('upstreams', () => {
  it('reads IPv4 nameservers of a resolv.conf and parses ip[:port]', () => {
    expect(resolversOf('# c\nnameserver 192.0.2.53\nnameserver ::1\nsearch x\n nameserver 127.0.0.53\n')).toEqual([
      { address: '192.0.2.53', port: 53 },
      { address: '127.0.0.53', port: 53 },
    ]);
    expect(parseUpstream('192.0.2.1:5353')).toEqual({ address: '192.0.2.1', port: 5353 });
    expect(() => parseUpstream('dns.example')).toThrow(/dns\.example/);
    expect(() => parseUpstream('192.0.2.1:70000')).toThrow();
  });
});
