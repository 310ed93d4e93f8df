// Keys the schema accepts but a deploy does not carry to the cluster (no field for them yet, or
// nothing in a cluster that could honour them): each gets a warning at its line, so that
// `stack config` printing a value never suggests that the cluster will apply it.
import { isMap, hasKey, type KeyPath, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

const serviceNetworkKeys: Record<string, string> = {
  ipv4_address: 'static addresses are not sent: the allocator gives each task its own address (a service has many tasks)',
  ipv6_address: 'static addresses are not sent: the allocator gives each task its own address (a service has many tasks)',
  link_local_ips: 'link-local addresses are not sent: the allocator assigns task addresses',
  priority: 'ignored: every network of a task is attached, in name order',
  driver_opts: 'per-network driver options are not carried yet: network attachments take no driver options',
};

const mountKeys: [string, string, string][] = [
  ['bind', 'create_host_path', 'ignored: a bind source must already exist on every node the task may run on'],
  ['bind', 'selinux', 'ignored: bind sources are not relabelled for SELinux'],
];

const topLevel: [string, string, string][] = [
  ['volumes', 'driver', 'not sent: nodes create named volumes with the local driver on first use'],
  ['volumes', 'driver_opts', 'not sent: nodes create named volumes with the local driver on first use'],
  ['secrets', 'driver', 'ignored: secrets are stored in the cluster, there are no secret drivers'],
  ['secrets', 'driver_opts', 'ignored: secrets are stored in the cluster, there are no secret drivers'],
  ['secrets', 'template_driver', 'not sent: the content is used as it is, without templating'],
  ['configs', 'template_driver', 'not sent: the content is used as it is, without templating'],
  ['networks', 'scope', 'ignored: stack networks span the cluster'],
];

function each(v: Plain | undefined, fn: (key: string, value: PlainMap) => void): void {
  if (!isMap(v)) return;
  for (const k of Object.keys(v)) if (!k.startsWith('x-') && isMap(v[k])) fn(k, v[k] as PlainMap);
}

export function warnDroppedKeys(root: PlainMap, ctx: FileContext): void {
  const warn = (path: KeyPath, why: string) => ctx.warn(path, `\`${String(path[path.length - 1])}\` is ${why.startsWith('ignored') ? '' : 'accepted but '}${why}`, 'key');
  for (const [section, key, why] of topLevel) {
    each(root[section], (name, obj) => {
      if (!hasKey(obj, key)) return;
      if (section === 'volumes' && key === 'driver' && obj.driver === 'local') return;
      warn([section, name, key], why);
    });
  }
  each(root.networks, (name, net) => {
    if (!isMap(net.ipam)) return;
    if (hasKey(net.ipam, 'options')) warn(['networks', name, 'ipam', 'options'], 'ignored: the cluster\'s allocator takes no IPAM driver options');
    if (!Array.isArray(net.ipam.config)) return;
    net.ipam.config.forEach((c, i) => {
      if (isMap(c) && hasKey(c, 'aux_addresses')) {
        warn(['networks', name, 'ipam', 'config', i, 'aux_addresses'], 'ignored: the allocator does not reserve them; keep such addresses outside `ip_range`');
      }
    });
  });
  each(root.services, (name, svc) => {
    const at = ['services', name];
    if (hasKey(svc, 'domainname')) warn([...at, 'domainname'], 'not sent: a task has no domain name setting yet; write a fully qualified `hostname`');
    each(svc.networks, (net, opts) => {
      for (const key of Object.keys(opts)) {
        const why = serviceNetworkKeys[key];
        if (why) warn([...at, 'networks', net, key], why);
      }
    });
    if (Array.isArray(svc.volumes)) {
      svc.volumes.forEach((m, i) => {
        if (!isMap(m)) return;
        for (const [group, key, why] of mountKeys) {
          const g = m[group];
          if (isMap(g) && hasKey(g, key)) warn([...at, 'volumes', i, group, key], why);
        }
      });
    }
    if (Array.isArray(svc.ports)) {
      svc.ports.forEach((p, i) => {
        if (!isMap(p)) return;
        for (const key of ['name', 'app_protocol']) if (hasKey(p, key)) warn([...at, 'ports', i, key], 'ignored: published ports carry no name or application protocol');
      });
    }
  });
}
