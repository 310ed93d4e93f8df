// A stack's networks.*.ipam.config is checked by the loader for its shape (the manager checks
// overlaps when the network is created): one subnet, CIDR blocks, an IP gateway.
import { describe, expect, it } from 'vitest';
import { expectProblem, load, loadError } from './helpers.js';

const stack = (ipam: string): string => `services:
  web:
    image: nginx
    networks: [back]
networks:
  back:
    ipam:
      config:
${ipam}`;

describe('stack ipam.config', () => {
  it('maps subnet, ip_range and gateway', () => {
    const s = load(stack('        - { subnet: 172.28.0.0/16, ip_range: 172.28.5.0/24, gateway: 172.28.5.254 }\n'));
    expect(s.stack.networks.back!.ipam).toEqual({ config: [{ subnet: '172.28.0.0/16', ipRange: '172.28.5.0/24', gateway: '172.28.5.254' }] });
  });

  it('refuses malformed blocks, a bad gateway, a range without a subnet, and two subnets, naming the key', () => {
    expectProblem(loadError(stack('        - { subnet: 172.28.0.0 }\n')), { path: 'networks.back.ipam.config[0].subnet', message: /"172.28.0.0" is not a CIDR block; write e.g. 10.10.9.0\/24/ });
    expectProblem(loadError(stack('        - { subnet: 172.28.0.0/16, ip_range: 172.28.5/24 }\n')), { path: 'networks.back.ipam.config[0].ip_range', message: /is not a CIDR block/ });
    expectProblem(loadError(stack('        - { subnet: 172.28.0.0/16, gateway: 172.28.0.0/16 }\n')), { path: 'networks.back.ipam.config[0].gateway', message: /is not an IP address/ });
    expectProblem(loadError(stack('        - { gateway: 172.28.0.1 }\n')), { message: /ip_range and gateway need a subnet in the same entry/ });
    expectProblem(loadError(stack('        - { subnet: 172.28.0.0/24 }\n        - { subnet: 172.28.1.0/24 }\n')), { path: 'networks.back.ipam.config', message: /2 subnets: a network has one/ });
  });
});
