// One canonical (merged) service -> ServiceSpec.
import type { FileReference, HealthcheckSpec, MountSpec, PortSpec, ServiceSpec } from './model.js';
import { normalizeDeploy, strings, unit } from './normalize-deploy.js';
import { splitShellWords } from './shell-words.js';
import { checkMode, parseDuration, parseSize } from './units.js';
import { checkCapability, checkSignal, checkSysctl, checkUlimit } from './linux-names.js';
import { emptyRecord, isMap, newMap, type KeyPath, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';
import { hostnameProblem, userProblem } from '../../rules/container.js';
import { healthDurationsProblem } from '../../rules/durations.js';
import { imageProblem } from '../../rules/image-reference.js';
import { labelsProblem } from '../../rules/labels.js';

export function normalizeService(svc: PlainMap, path: KeyPath, ctx: FileContext): ServiceSpec {
  const str = (k: string): string | undefined => (typeof svc[k] === 'string' ? (svc[k] as string) : undefined);
  const list = (k: string): string[] => (Array.isArray(svc[k]) ? (svc[k] as Plain[]).map(String) : []);
  if (typeof svc.image !== 'string' || svc.image.trim() === '') {
    const why = svc.build !== undefined ? 'cluster mode runs pushed images and does not build: ' : '';
    ctx.error(path, `no image: ${why}add \`image:\` naming an image the nodes can pull${ctx.blankHint([...path, 'image'])}`, 'key');
  } else if (/\s/.test(svc.image)) {
    // The control API refuses it; caught here so the deploy fails with a line number instead.
    ctx.error([...path, 'image'], `image "${svc.image}" contains whitespace: write one image reference, e.g. nginx:1.25 or registry.example.com/team/app:2`);
  } else {
    // the rules the control API and the nodes apply (rules/), here with the line
    const why = imageProblem(svc.image);
    if (why) ctx.error([...path, 'image'], `${why}${ctx.blankHint([...path, 'image'])}`);
  }
  const spec: ServiceSpec = {
    image: str('image') ?? '',
    environment: strings(svc.environment),
    labels: strings(svc.labels),
    readOnly: svc.read_only === true,
    tty: svc.tty === true,
    stdinOpen: svc.stdin_open === true,
    mounts: mounts(svc.volumes, [...path, 'volumes'], ctx),
    capAdd: list('cap_add'),
    capDrop: list('cap_drop'),
    sysctls: strings(svc.sysctls),
    ulimits: ulimits(svc.ulimits),
    secrets: references(svc.secrets, (s) => s),
    configs: references(svc.configs, (s) => `/${s}`),
    ports: ports(svc.ports),
    networks: networks(svc.networks),
    extraHosts: hostLists(svc.extra_hosts),
    dns: list('dns'),
    dnsSearch: list('dns_search'),
    dnsOptions: list('dns_opt'),
    groupAdd: list('group_add'),
    deploy: normalizeDeploy(svc, path, ctx),
  };
  checkNames(spec, path, ctx);
  const command = words(svc.command, [...path, 'command'], ctx);
  if (command) spec.command = command;
  const entrypoint = words(svc.entrypoint, [...path, 'entrypoint'], ctx);
  if (entrypoint) spec.entrypoint = entrypoint;
  if (str('user') !== undefined) {
    spec.user = str('user');
    const why = userProblem(spec.user!);
    if (why) ctx.error([...path, 'user'], why);
  }
  if (str('working_dir') !== undefined) spec.workingDir = str('working_dir');
  if (str('hostname') !== undefined) {
    spec.hostname = str('hostname');
    const why = spec.hostname ? hostnameProblem(spec.hostname) : undefined;
    if (why) ctx.error([...path, 'hostname'], why);
  }
  const labelsWhy = labelsProblem(`service ${String(path[path.length - 1])}`, [['deploy.labels', spec.deploy.labels], ['labels', spec.labels]]);
  if (labelsWhy) ctx.error([...path, 'labels'], labelsWhy);
  if (str('domainname') !== undefined) spec.domainname = str('domainname');
  if (typeof svc.init === 'boolean') spec.init = svc.init;
  if (str('stop_signal') !== undefined) {
    spec.stopSignal = str('stop_signal');
    const why = checkSignal(spec.stopSignal!);
    if (why) ctx.error([...path, 'stop_signal'], why);
  }
  const grace = unit(ctx, [...path, 'stop_grace_period'], svc.stop_grace_period, parseDuration);
  if (grace !== undefined) spec.stopGracePeriodMs = grace;
  const hc = healthcheck(svc.healthcheck, [...path, 'healthcheck'], ctx);
  if (hc) spec.healthcheck = hc;
  if (isMap(svc.logging)) {
    spec.logging = { options: strings(svc.logging.options) };
    if (typeof svc.logging.driver === 'string') spec.logging.driver = svc.logging.driver;
  }
  return spec;
}

function checkNames(spec: ServiceSpec, path: KeyPath, ctx: FileContext): void {
  for (const key of ['capAdd', 'capDrop'] as const) {
    spec[key].forEach((c, i) => {
      const why = checkCapability(c);
      if (why) ctx.error([...path, key === 'capAdd' ? 'cap_add' : 'cap_drop', i], why);
    });
  }
  for (const [name, u] of Object.entries(spec.ulimits)) {
    const why = checkUlimit(name, u.soft, u.hard);
    if (why) ctx.error([...path, 'ulimits', name], why, 'key');
  }
  for (const name of Object.keys(spec.sysctls)) {
    const why = checkSysctl(name);
    if (why) ctx.error([...path, 'sysctls'], why);
  }
}

function words(v: Plain | undefined, path: KeyPath, ctx: FileContext): string[] | undefined {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string') return undefined;
  const r = splitShellWords(v);
  if (Array.isArray(r)) return r;
  ctx.error(path, `${r.error} in ${JSON.stringify(v)}: close the quote, or write the command as a list`);
  return undefined;
}

function healthcheck(v: Plain | undefined, path: KeyPath, ctx: FileContext): HealthcheckSpec | undefined {
  if (!isMap(v)) return undefined;
  const out: HealthcheckSpec = {};
  if (v.disable === true) {
    if (v.test !== undefined && v.test !== null) {
      ctx.error([...path, 'disable'], 'healthcheck has both `test` and `disable: true`: remove one (disable: true means test: ["NONE"])', 'key');
    }
    return { test: ['NONE'] };
  }
  if (typeof v.test === 'string') out.test = ['CMD-SHELL', v.test];
  else if (Array.isArray(v.test)) {
    const t = v.test.map(String);
    if (!['CMD', 'CMD-SHELL', 'NONE'].includes(t[0] ?? '')) {
      ctx.error([...path, 'test'], `a healthcheck test list starts with "CMD", "CMD-SHELL" or "NONE", got ${JSON.stringify(t[0] ?? '')}`);
    } else if (t[0] !== 'NONE' && t.length < 2) {
      ctx.error([...path, 'test'], `healthcheck test ${t[0]} needs a command after it`);
    }
    out.test = t;
  }
  const ms = (k: string) => unit(ctx, [...path, k], v[k], parseDuration);
  const put = (k: keyof HealthcheckSpec, x: number | undefined) => { if (x !== undefined) (out as Record<string, unknown>)[k] = x; };
  put('intervalMs', ms('interval'));
  put('timeoutMs', ms('timeout'));
  put('startPeriodMs', ms('start_period'));
  put('startIntervalMs', ms('start_interval'));
  if (typeof v.retries === 'number') out.retries = v.retries;
  const nanos = (x: number | undefined) => (x === undefined ? undefined : { nanos: BigInt(Math.round(x * 1e6)) });
  const why = healthDurationsProblem(
    { interval: nanos(out.intervalMs), timeout: nanos(out.timeoutMs), startPeriod: nanos(out.startPeriodMs), startInterval: nanos(out.startIntervalMs) },
    { interval: 'interval', timeout: 'timeout', startPeriod: 'start_period', startInterval: 'start_interval' },
  );
  if (why) ctx.error(path, `healthcheck ${why}`);
  return out;
}

function mounts(v: Plain | undefined, path: KeyPath, ctx: FileContext): MountSpec[] {
  if (!Array.isArray(v)) return [];
  const out: MountSpec[] = [];
  v.forEach((m, i) => {
    if (!isMap(m)) return;
    const target = String(m.target);
    const readOnly = m.read_only === true;
    if (m.type === 'bind') {
      const b: MountSpec = { type: 'bind', source: String(m.source), target, readOnly };
      if (isMap(m.bind) && typeof m.bind.propagation === 'string') b.propagation = m.bind.propagation;
      if (typeof m.consistency === 'string') b.consistency = m.consistency;
      out.push(b);
    } else if (m.type === 'tmpfs') {
      const t: MountSpec = { type: 'tmpfs', target, readOnly };
      const opts = isMap(m.tmpfs) ? m.tmpfs : newMap();
      const size = unit(ctx, [...path, i, 'tmpfs', 'size'], opts.size, parseSize);
      if (size !== undefined) t.sizeBytes = size;
      if (typeof opts.mode === 'number') {
        const r = checkMode(opts.mode);
        if (r.ok) t.mode = r.value;
        else ctx.error([...path, i, 'tmpfs', 'mode'], r.message);
      }
      out.push(t);
    } else {
      const vol: MountSpec = { type: 'volume', target, readOnly, noCopy: isMap(m.volume) && m.volume.nocopy === true };
      if (typeof m.source === 'string' && m.source !== '') vol.source = m.source;
      if (typeof m.consistency === 'string') vol.consistency = m.consistency;
      out.push(vol);
    }
  });
  return out;
}

function references(v: Plain | undefined, defaultTarget: (source: string) => string): FileReference[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isMap).map((r) => {
    const source = String(r.source);
    return {
      source,
      target: typeof r.target === 'string' && r.target !== '' ? r.target : defaultTarget(source),
      uid: typeof r.uid === 'string' ? r.uid : '0',
      gid: typeof r.gid === 'string' ? r.gid : '0',
      mode: typeof r.mode === 'number' ? r.mode : 0o444,
    };
  });
}

function ports(v: Plain | undefined): PortSpec[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isMap).map((p) => {
    const out: PortSpec = {
      target: p.target as number,
      protocol: String(p.protocol) as PortSpec['protocol'],
      mode: p.mode === 'host' ? 'host' : 'ingress',
    };
    if (typeof p.published === 'number') out.published = p.published;
    return out;
  });
}

function hostLists(v: Plain | undefined): ServiceSpec['extraHosts'] {
  const out: ServiceSpec['extraHosts'] = emptyRecord();
  if (!isMap(v)) return out;
  for (const k of Object.keys(v)) if (Array.isArray(v[k])) out[k] = (v[k] as Plain[]).map(String);
  return out;
}

function ulimits(v: Plain | undefined): ServiceSpec['ulimits'] {
  const out: ServiceSpec['ulimits'] = emptyRecord();
  if (!isMap(v)) return out;
  for (const k of Object.keys(v)) {
    if (k.startsWith('x-')) continue;
    const x = v[k];
    if (typeof x === 'number') out[k] = { soft: x, hard: x };
    else if (isMap(x)) out[k] = { soft: Number(x.soft), hard: Number(x.hard) };
  }
  return out;
}

function networks(v: Plain | undefined): ServiceSpec['networks'] {
  const out: ServiceSpec['networks'] = emptyRecord();
  if (!isMap(v)) return Object.assign(out, { default: { aliases: [] } });
  for (const name of Object.keys(v)) {
    if (name.startsWith('x-')) continue;
    const n = v[name];
    const a: ServiceSpec['networks'][string] = { aliases: isMap(n) && Array.isArray(n.aliases) ? n.aliases.map(String) : [] };
    if (isMap(n) && typeof n.ipv4_address === 'string') a.ipv4Address = n.ipv4_address;
    if (isMap(n) && typeof n.ipv6_address === 'string') a.ipv6Address = n.ipv6_address;
    out[name] = a;
  }
  return out;
}
