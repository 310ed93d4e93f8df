// Per-file rewriting into one canonical shape before files are merged: list-or-mapping keys
// become mappings, short syntaxes become long ones, env_file is read into environment.
// Problems found here still know their exact file, line and column.
import { isIP } from 'node:net';
import { parsePortEntry } from './ports.js';
import { parseMountEntry, parseTmpfsEntry, resolveHostPath } from './mounts.js';
import { readEnvFile } from './env-file.js';
import { isMap, newMap, hasKey, type KeyPath, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

/** `KEY=VALUE` lists (or mappings) -> mapping of strings; `KEY` alone maps to `bare`. */
function toDict(v: Plain | undefined, bare: string | null, sep: RegExp = /=/): PlainMap | undefined {
  if (v === undefined || v === null) return undefined;
  const out = newMap();
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = String(item);
      const m = sep.exec(s);
      if (m) out[s.slice(0, m.index)] = s.slice(m.index + m[0].length);
      else out[s] = bare;
    }
  } else if (isMap(v)) {
    for (const k of Object.keys(v)) {
      const x = v[k]!;
      out[k] = x === null ? bare : typeof x === 'object' ? JSON.stringify(x) : String(x);
    }
  }
  return out;
}

/** extra_hosts as name -> addresses in file order: /etc/hosts takes one line per address, so an
 *  IPv4 and an IPv6 address for one name are both kept ("host:ip" or "host=ip", or a mapping). */
function extraHosts(v: Plain | undefined, path: KeyPath, ctx: FileContext): PlainMap {
  const out = newMap();
  const add = (name: string, address: string, at: KeyPath) => {
    const ip = address.replace(/^\[(.*)\]$/, '$1');
    if (isIP(ip) === 0) {
      ctx.error(at, `extra host ${name}: "${address}" is not an IP address: write "${name}:10.0.0.5" (or "${name}=::1" for IPv6)`);
      return;
    }
    const list = (out[name] ??= []) as Plain[];
    if (!list.includes(ip)) list.push(ip);
  };
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      const s = String(item);
      const m = /[=:]/.exec(s);
      if (!m || m.index === 0) ctx.error([...path, i], `extra host "${s}" needs a name and an address: write "name:10.0.0.5" or "name=::1"`);
      else add(s.slice(0, m.index), s.slice(m.index + 1), [...path, i]);
    });
  } else if (isMap(v)) {
    for (const name of Object.keys(v)) {
      const x = v[name];
      for (const a of Array.isArray(x) ? x : [x]) add(name, a === null ? '' : String(a), [...path, name]);
    }
  }
  return out;
}

export function canonicalize(root: PlainMap, ctx: FileContext): void {
  for (const section of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    const s = root[section];
    if (!isMap(s)) continue;
    for (const name of Object.keys(s)) {
      if (name.startsWith('x-')) continue;
      if (s[name] === null) s[name] = newMap();
      const obj = s[name];
      if (!isMap(obj)) continue;
      if (hasKey(obj, 'labels')) obj.labels = toDict(obj.labels, '') ?? newMap();
      if ((section === 'secrets' || section === 'configs') && typeof obj.file === 'string') {
        obj.file = resolveHostPath(obj.file, ctx.workingDir, ctx.env);
      }
    }
  }
  const services = root.services;
  if (!isMap(services)) return;
  for (const name of Object.keys(services)) {
    if (name.startsWith('x-')) continue;
    const svc = services[name];
    if (isMap(svc)) canonicalService(svc, ['services', name], ctx);
  }
}

function canonicalService(svc: PlainMap, path: KeyPath, ctx: FileContext): void {
  const environment = toDict(svc.environment, null) ?? newMap();
  // A bare KEY takes the caller's value; unset in the caller means unset in the container.
  for (const k of Object.keys(environment)) if (environment[k] === null) environment[k] = ctx.env[k] ?? null;
  if (svc.env_file !== undefined) {
    const files = Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
    const fromFiles = newMap();
    files.forEach((f, i) => {
      const p = typeof f === 'string' ? f : isMap(f) && typeof f.path === 'string' ? f.path : undefined;
      const required = !(isMap(f) && f.required === false);
      if (p === undefined) return;
      const { vars, error } = readEnvFile(resolveHostPath(p, ctx.workingDir, ctx.env), ctx.env);
      if (error && required) ctx.error([...path, 'env_file', ...(Array.isArray(svc.env_file) ? [i] : [])], error);
      for (const [k, v] of vars) fromFiles[k] = v;
    });
    for (const k of Object.keys(environment)) fromFiles[k] = environment[k]!;
    svc.environment = fromFiles;
    delete svc.env_file;
  } else if (hasKey(svc, 'environment')) {
    svc.environment = environment;
  }
  for (const key of ['labels', 'sysctls'] as const) if (hasKey(svc, key)) svc[key] = toDict(svc[key], '') ?? newMap();
  if (hasKey(svc, 'extra_hosts')) svc.extra_hosts = extraHosts(svc.extra_hosts, [...path, 'extra_hosts'], ctx);
  const deploy = svc.deploy;
  if (isMap(deploy) && hasKey(deploy, 'labels')) deploy.labels = toDict(deploy.labels, '') ?? newMap();
  if (Array.isArray(svc.networks)) {
    const nets = newMap();
    for (const n of svc.networks) nets[String(n)] = null;
    svc.networks = nets;
  }
  for (const key of ['dns', 'dns_search', 'tmpfs'] as const) if (typeof svc[key] === 'string') svc[key] = [svc[key]];
  for (const key of ['secrets', 'configs'] as const) {
    const list = svc[key];
    if (Array.isArray(list)) svc[key] = list.map((e) => (typeof e === 'string' ? Object.assign(newMap(), { source: e }) : e));
  }
  if (Array.isArray(svc.ports)) {
    const out: Plain[] = [];
    svc.ports.forEach((entry, i) => {
      const r = parsePortEntry(entry);
      for (const e of r.errors) ctx.error([...path, 'ports', i], e);
      for (const w of r.warnings) ctx.warn([...path, 'ports', i], w);
      for (const p of r.ports) out.push(Object.assign(newMap(), p) as PlainMap);
    });
    svc.ports = out;
  }
  const mounts: Plain[] = [];
  if (Array.isArray(svc.volumes)) {
    svc.volumes.forEach((entry, i) => {
      const at = [...path, 'volumes', i];
      const hint = ctx.blankHint(isMap(entry) ? [...at, 'source'] : at);
      const r = parseMountEntry(entry, ctx.workingDir, ctx.env, hint !== '');
      for (const e of r.errors) ctx.error(at, `${e}${hint}`);
      for (const w of r.warnings ?? []) ctx.warn(at, w);
      if (r.mount) mounts.push(r.mount);
    });
  }
  if (Array.isArray(svc.tmpfs)) {
    svc.tmpfs.forEach((entry, i) => {
      const r = parseTmpfsEntry(String(entry));
      for (const e of r.errors) ctx.error([...path, 'tmpfs', i], e);
      if (r.mount) mounts.push(r.mount);
    });
    delete svc.tmpfs;
  }
  if (hasKey(svc, 'volumes') || mounts.length > 0) svc.volumes = mounts;
}
