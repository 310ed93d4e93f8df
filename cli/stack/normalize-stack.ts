// The merged canonical tree -> StackSpec: top-level objects, every service, names, and the
// cross references between them (a service naming an undeclared network is an error).
import { isIP } from 'node:net';
import type { FileObjectSpec, NetworkSpec, StackSpec, VolumeSpec } from './model.js';
import { normalizeService } from './normalize-service.js';
import { strings } from './normalize-deploy.js';
import { checkMode } from './units.js';
import { emptyRecord, isMap, newMap, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

const serviceName = /^[a-zA-Z0-9._-]+$/;

function entries(v: Plain | undefined): [string, PlainMap][] {
  if (!isMap(v)) return [];
  return Object.keys(v).filter((k) => !k.startsWith('x-')).map((k) => [k, isMap(v[k]) ? (v[k] as PlainMap) : newMap()]);
}

function external(v: Plain | undefined): { external: boolean; name?: string } {
  if (v === true) return { external: true };
  if (isMap(v)) return typeof v.name === 'string' ? { external: true, name: v.name } : { external: true };
  return { external: false };
}

/** "a.b.c.d/n" (IPv4 or IPv6 with a prefix length that fits); the manager checks the rest. */
function isCidr(v: string): boolean {
  const [addr, bits, extra] = v.split('/');
  const family = isIP(addr ?? '');
  return !!family && extra === undefined && bits !== undefined && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32);
}

/** ipam.config as the manager takes it: one subnet, an ip_range and gateway only with it. */
function checkIpam(ctx: FileContext, path: (string | number)[], configs: { subnet?: string; ipRange?: string; gateway?: string }[]): void {
  if (configs.length > 1) ctx.error(path, `${configs.length} subnets: a network has one; keep one ipam.config entry`);
  configs.forEach((c, i) => {
    const at = [...path, i];
    if (c.subnet !== undefined && !isCidr(c.subnet)) ctx.error([...at, 'subnet'], `"${c.subnet}" is not a CIDR block; write e.g. 10.10.9.0/24`);
    if (c.ipRange !== undefined && !isCidr(c.ipRange)) ctx.error([...at, 'ip_range'], `"${c.ipRange}" is not a CIDR block; write e.g. 10.10.9.128/25`);
    if (c.gateway !== undefined && !isIP(c.gateway)) ctx.error([...at, 'gateway'], `"${c.gateway}" is not an IP address; write e.g. 10.10.9.1`);
    if (c.subnet === undefined && (c.ipRange !== undefined || c.gateway !== undefined)) ctx.error(at, 'ip_range and gateway need a subnet in the same entry');
  });
}

export function normalizeStack(root: PlainMap, stackName: string, ctx: FileContext): StackSpec {
  const spec: StackSpec = { services: emptyRecord(), networks: emptyRecord(), volumes: emptyRecord(), secrets: emptyRecord(), configs: emptyRecord() };
  for (const [name, n] of entries(root.networks)) {
    const ext = external(n.external);
    const net: NetworkSpec = {
      external: ext.external,
      driver: typeof n.driver === 'string' ? n.driver : 'overlay',
      driverOpts: strings(n.driver_opts),
      attachable: n.attachable === true,
      internal: n.internal === true,
      enableIpv6: n.enable_ipv6 === true,
      labels: strings(n.labels),
    };
    const nm = typeof n.name === 'string' ? n.name : ext.name;
    if (nm !== undefined) net.name = nm;
    if (isMap(n.ipam)) {
      net.ipam = {
        config: Array.isArray(n.ipam.config)
          ? n.ipam.config.filter(isMap).map((c) => {
            const o: { subnet?: string; ipRange?: string; gateway?: string } = {};
            if (typeof c.subnet === 'string') o.subnet = c.subnet;
            if (typeof c.ip_range === 'string') o.ipRange = c.ip_range;
            if (typeof c.gateway === 'string') o.gateway = c.gateway;
            return o;
          })
          : [],
      };
      if (typeof n.ipam.driver === 'string') net.ipam.driver = n.ipam.driver;
      checkIpam(ctx, ['networks', name, 'ipam', 'config'], net.ipam.config);
    }
    conflictsWithExternal(ctx, ['networks', name], n, ['driver', 'driver_opts', 'ipam', 'internal', 'attachable', 'enable_ipv6']);
    if (!net.external && (net.driver === 'bridge' || net.driver === 'host')) {
      ctx.warn(['networks', name, 'driver'], `driver ${net.driver} is local to one host: tasks on different nodes will not reach each other; use overlay`);
    }
    spec.networks[name] = net;
  }
  for (const [name, v] of entries(root.volumes)) {
    const ext = external(v.external);
    conflictsWithExternal(ctx, ['volumes', name], v, ['driver', 'driver_opts']);
    const vol: VolumeSpec = { external: ext.external, driver: typeof v.driver === 'string' ? v.driver : 'local', driverOpts: strings(v.driver_opts), labels: strings(v.labels) };
    const nm = typeof v.name === 'string' ? v.name : ext.name;
    if (nm !== undefined) vol.name = nm;
    spec.volumes[name] = vol;
  }
  for (const section of ['secrets', 'configs'] as const) {
    for (const [name, s] of entries(root[section])) {
      const ext = external(s.external);
      const obj: FileObjectSpec = { external: ext.external, labels: strings(s.labels) };
      const nm = typeof s.name === 'string' ? s.name : ext.name;
      if (nm !== undefined) obj.name = nm;
      if (typeof s.file === 'string') obj.file = s.file;
      if (typeof s.environment === 'string') obj.environment = s.environment;
      if (typeof s.template_driver === 'string') obj.templateDriver = s.template_driver;
      const sources = [obj.external && 'external', obj.file !== undefined && 'file', obj.environment !== undefined && 'environment'].filter((x): x is string => typeof x === 'string');
      const kind = section.slice(0, -1);
      if (sources.length === 0) {
        ctx.error([section, name], `${kind} ${name} needs \`file:\` (a path), \`environment:\` (a variable name) or \`external: true\` (created with shoal ${kind} create)`, 'key');
      } else if (sources.length > 1) {
        ctx.error([section, name], `\`${sources.join('` and `')}\` exclude each other: keep one`, 'key');
      } else if (obj.environment !== undefined && ctx.env[obj.environment] === undefined) {
        ctx.error([section, name, 'environment'], `environment variable ${obj.environment} (content of ${kind} ${name}) is not set: export it before deploying, or use \`file:\``);
      }
      spec[section][name] = obj;
    }
  }
  if (entries(root.services).length === 0) {
    ctx.error(root.services === undefined ? [] : ['services'], root.services === undefined
      ? 'no `services:` key: a stack file needs a mapping of service names to definitions'
      : '`services` is empty: define at least one service (name: {image: ...})');
  }
  const prefix = stackName ? `${stackName}_` : '';
  for (const [name, svc] of entries(root.services)) {
    const path = ['services', name];
    if (!serviceName.test(name)) {
      ctx.error(path, `invalid service name "${name}": use letters, digits, ".", "_" and "-" only`, 'key');
    } else if (prefix.length + name.length > 63) {
      ctx.error(path, `service name "${prefix}${name}" is ${prefix.length + name.length} characters: the stack name, "_" and the service name must fit in 63`, 'key');
    }
    const s = normalizeService(svc, path, ctx);
    checkReferences(s, name, spec, ctx);
    checkMountTargets(s, name, ctx);
    spec.services[name] = s;
  }
  checkPublishedPorts(spec, ctx);
  return spec;
}

/** Docker refuses an external object that also says how to create it. */
function conflictsWithExternal(ctx: FileContext, path: string[], obj: PlainMap, keys: string[]): void {
  if (obj.external === undefined || obj.external === false) return;
  for (const k of keys) {
    if (obj[k] !== undefined) ctx.error([...path, k], `\`${k}\` cannot be used with \`external\`: an external object already exists; remove one of them`, 'key');
  }
}

function checkMountTargets(s: StackSpec['services'][string], name: string, ctx: FileContext): void {
  const seen = new Set<string>();
  s.mounts.forEach((m, i) => {
    const t = m.target.replace(/\/+$/, '') || '/';
    if (seen.has(t)) ctx.error(['services', name, 'volumes', i], `two mounts target ${t}: keep one per container path`);
    seen.add(t);
  });
}

/** An ingress port is published on every node, so two publications cannot share it. Host-mode
 *  ports are checked by the scheduler, per node. */
function checkPublishedPorts(spec: StackSpec, ctx: FileContext): void {
  const owner = new Map<string, string>();
  for (const [name, s] of Object.entries(spec.services)) {
    for (const p of s.ports) {
      if (p.published === undefined || p.mode !== 'ingress') continue;
      const key = `${p.published}/${p.protocol}`;
      const other = owner.get(key);
      if (other !== undefined) {
        const who = other === name ? `twice by service ${name}` : `by services ${other} and ${name}`;
        ctx.error(['services', name, 'ports'], `port ${key} is published ${who}: pick another published port`, 'key');
      }
      owner.set(key, name);
    }
  }
}

function checkReferences(s: StackSpec['services'][string], name: string, spec: StackSpec, ctx: FileContext): void {
  const path = ['services', name];
  for (const net of Object.keys(s.networks)) {
    if (net === 'default' && !spec.networks.default) continue;
    if (!spec.networks[net]) ctx.error([...path, 'networks', net], `network "${net}" is not declared: add it under the top-level \`networks:\``, 'key');
  }
  s.mounts.forEach((m, i) => {
    if (m.type === 'volume' && m.source !== undefined && !spec.volumes[m.source]) {
      ctx.error([...path, 'volumes', i], `volume "${m.source}" is not declared: add it under the top-level \`volumes:\`, or write a path starting with / or ./ for a bind mount`);
    }
  });
  // Where each file lands, as the manager and the agent resolve targets: a relative secret
  // target is under /run/secrets, a relative config target under /.
  const targets = new Map<string, string>();
  for (const section of ['secrets', 'configs'] as const) {
    const kind = section.slice(0, -1);
    s[section].forEach((r, i) => {
      if (!spec[section][r.source]) {
        ctx.error([...path, section, i], `${kind} "${r.source}" is not declared: add it under the top-level \`${section}:\``);
      }
      const m = checkMode(r.mode);
      if (!m.ok) ctx.error([...path, section, i, 'mode'], m.message);
      for (const id of ['uid', 'gid'] as const) {
        if (!/^\d+$/.test(r[id])) ctx.error([...path, section, i, id], `${id} "${r[id]}" must be a number (e.g. "1000"): user and group names are not resolved on the node`);
      }
      if (r.target.includes('\0') || r.target.split('/').includes('..') || r.target.endsWith('/')) {
        ctx.error([...path, section, i, 'target'], `target "${r.target}" must be a file path without ".." (e.g. ${kind === 'secret' ? 'db_password' : '/etc/app.conf'})`);
        return;
      }
      const at = r.target.startsWith('/') ? r.target : kind === 'secret' ? `/run/secrets/${r.target}` : `/${r.target}`;
      const other = targets.get(at);
      if (other !== undefined) ctx.error([...path, section, i, 'target'], `${other} and ${kind} "${r.source}" both land at ${at}: give one of them another \`target:\``);
      targets.set(at, `${kind} "${r.source}"`);
    });
  }
}
