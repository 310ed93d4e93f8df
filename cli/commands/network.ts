// `shoal network create|ls|inspect|rm`: the cluster's networks as objects (stack files create
// theirs too). The managers allocate and the agents wire them; here they are only described.
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { Network, NetworkSpec } from '../../proto/gen/types.js';
import { addConnectionOptions } from '../client/index.js';
import { UsageError } from '../errors.js';
import { ago, formatOf, printJson, renderTable, shortId } from '../format/index.js';
import { STACK_NAMESPACE_LABEL } from '../stack/to-proto.js';
import { collect, parseLabels, withObjectControl } from './secret.js';

interface CreateFlags {
  driver: string;
  label?: string[];
  opt?: string[];
  subnet?: string[];
  gateway?: string[];
  ipRange?: string[];
  attachable?: boolean;
  internal?: boolean;
  ipv6?: boolean;
}

function cidr(flag: string, v: string): string {
  const [addr, bits, extra] = v.split('/');
  const family = isIP(addr ?? '');
  if (!family || extra !== undefined || bits === undefined || !/^\d+$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)) {
    throw new UsageError(`invalid ${flag} "${v}": write a CIDR block, e.g. 10.0.9.0/24`);
  }
  return v;
}

/** --subnet, --gateway and --ip-range pair up in order, as Docker's flags do. */
export function networkSpecFromFlags(name: string, f: CreateFlags): NetworkSpec {
  const subnets = (f.subnet ?? []).map((s) => cidr('--subnet', s));
  const gateways = f.gateway ?? [];
  const ranges = (f.ipRange ?? []).map((r) => cidr('--ip-range', r));
  if (gateways.length > subnets.length || ranges.length > subnets.length) {
    throw new UsageError('each --gateway and --ip-range needs a --subnet before it: give --subnet 10.0.9.0/24 --gateway 10.0.9.1');
  }
  for (const g of gateways) if (!isIP(g)) throw new UsageError(`invalid --gateway "${g}": write an IP address, e.g. 10.0.9.1`);
  return NetworkSpec.fromPartial({
    annotations: { name, labels: parseLabels(f.label) },
    driverConfig: { name: f.driver, options: parseLabels(f.opt) },
    attachable: f.attachable === true,
    internal: f.internal === true,
    ipv6Enabled: f.ipv6 === true,
    ipam: subnets.length > 0 ? { configs: subnets.map((subnet, i) => ({ subnet, gateway: gateways[i] ?? '', range: ranges[i] ?? '', reserved: {} })) } : undefined,
  });
}

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  subnets: string;
  stack: string;
  created: string;
}

function rowOf(n: Network, now = Date.now()): NetworkRow {
  // The allocated subnets when the allocator has run; the requested ones before.
  const configs = n.ipam?.configs.length ? n.ipam.configs : n.spec?.ipam?.configs ?? [];
  return {
    id: n.id,
    name: n.spec?.annotations?.name ?? '',
    driver: n.spec?.driverConfig?.name ?? '',
    subnets: configs.map((c) => c.subnet).filter(Boolean).join(','),
    stack: n.spec?.annotations?.labels[STACK_NAMESPACE_LABEL] ?? '',
    created: ago(n.meta?.createdAtMs ?? 0n, now),
  };
}

export function registerNetworkCommands(program: Command): void {
  const group = addConnectionOptions(program.command('network').description('manage the networks of the cluster'));

  group
    .command('create')
    .description('create a network')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'network driver', 'overlay')
    .option('-l, --label <KEY=VALUE>', 'network label (repeatable)', collect)
    .option('-o, --opt <KEY=VALUE>', 'driver option (repeatable)', collect)
    .option('--subnet <cidr>', 'subnet, e.g. 10.0.9.0/24 (repeatable)', collect)
    .option('--gateway <ip>', 'gateway of the subnet given before it (repeatable)', collect)
    .option('--ip-range <cidr>', 'addresses of the subnet given before it that tasks get (repeatable)', collect)
    .option('--attachable', 'let standalone containers attach')
    .option('--internal', 'no traffic to or from outside the network')
    .option('--ipv6', 'enable IPv6')
    .action(async (name: string, f: CreateFlags, cmd: Command) => {
      const spec = networkSpecFromFlags(name, f);
      const n = await withObjectControl(cmd, (c) => c.createNetwork(spec));
      process.stdout.write(`${n.id}\n`);
    });

  group
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'print only ids')
    .action(async (f: { format?: string; quiet?: boolean }, cmd: Command) => {
      const format = formatOf(f.format);
      const list = await withObjectControl(cmd, (c) => c.listNetworks());
      if (format === 'json') return printJson(list.map((n) => rowOf(n)));
      if (f.quiet) return void process.stdout.write(list.map((n) => `${n.id}\n`).join(''));
      process.stdout.write(renderTable(['ID', 'NAME', 'DRIVER', 'SUBNETS', 'STACK', 'CREATED'], list.map((n) => {
        const r = rowOf(n);
        return [shortId(r.id), r.name, r.driver, r.subnets, r.stack, r.created];
      })));
    });

  group
    .command('inspect')
    .description('show networks as JSON')
    .argument('<name...>', 'network names or ids')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      const found = await withObjectControl(cmd, async (c) => {
        const out: Network[] = [];
        for (const ref of refs) out.push(await c.getNetwork(ref));
        return out;
      });
      printJson(found.map((n) => Network.toJSON(n)));
    });

  group
    .command('rm')
    .alias('remove')
    .description('remove networks (refused while a service is attached)')
    .argument('<name...>', 'network names or ids')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withObjectControl(cmd, async (c) => {
        for (const ref of refs) {
          await c.removeNetwork(ref);
          process.stdout.write(`${ref}\n`);
        }
      });
    });
}
