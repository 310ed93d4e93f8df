// What a service spec refers to: secrets and configs (by id, with the name the CLI resolved),
// and networks (by id or name). The shape of the file targets is checked before any
// transaction; existence is checked inside the transaction that writes the service, so a
// secret removed concurrently cannot slip in. The reverse lookups say who uses an object, for
// refusing its removal.
import { posix } from 'node:path';
import type { ConfigReference, FileTarget, Network, SecretReference, ServiceSpec } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';
import { failedPrecondition, invalidArgument, notFound } from './errors.js';
import { checkNetworkRoom } from './network-addressing.js';

type RO<T> = ReadonlyDeep<T>;

/** Where a secret or config lands in the container (the agent applies the same rule). */
export function targetPath(kind: 'secret' | 'config', target: string): string {
  return posix.normalize(target.startsWith('/') ? target : kind === 'secret' ? `/run/secrets/${target}` : `/${target}`);
}

/** A uid or gid as the agent accepts it: a number below 2^32 - 1 (empty = 0). */
function validId(v: string): boolean {
  return /^\d{1,10}$/.test(v) && Number(v) <= 0xfffffffe;
}

function checkFile(kind: 'secret' | 'config', name: string, file: RO<FileTarget> | undefined): string | undefined {
  const target = file?.name || name;
  if (file) {
    if (file.uid && !validId(file.uid)) throw invalidArgument(`${kind} "${name}": uid "${file.uid}" must be a number (e.g. 1000)`);
    if (file.gid && !validId(file.gid)) throw invalidArgument(`${kind} "${name}": gid "${file.gid}" must be a number (e.g. 1000)`);
    if (file.mode > 0o777) throw invalidArgument(`${kind} "${name}": mode 0${file.mode.toString(8)} is not a file mode; use 0400 to 0777 (default 0444)`);
  }
  if (!target) return undefined; // no name at all: refused when the reference is resolved
  if (target.includes('\0') || target.split('/').some((seg) => seg === '..') || target.endsWith('/') || targetPath(kind, target) === '/') {
    throw invalidArgument(`${kind} "${name}": target "${target}" must be a file path without ".." (e.g. ${kind === 'secret' ? 'db_password' : '/etc/app.conf'})`);
  }
  return targetPath(kind, target);
}

/** Target shape, uid/gid/mode, and one file per path in the container. Needs no store. */
export function validateFileTargets(spec: RO<ServiceSpec>): void {
  const c = spec.task?.container;
  if (!c) return;
  const seen = new Map<string, string>();
  const add = (kind: 'secret' | 'config', name: string, file: RO<FileTarget> | undefined): void => {
    const path = checkFile(kind, name, file);
    if (!path) return;
    const other = seen.get(path);
    if (other) throw invalidArgument(`${other} and ${kind} "${name}" both target ${path} in service "${spec.annotations?.name}": give one of them another target`);
    seen.set(path, `${kind} "${name}"`);
  };
  for (const r of c.secrets ?? []) add('secret', r.secretName || r.secretId, r.file);
  for (const r of c.configs ?? []) add('config', r.configName || r.configId, r.file);
}

function checkRef(
  kind: 'secret' | 'config',
  id: string,
  name: string,
  found: { readonly spec?: { readonly annotations?: { readonly name: string } | undefined } | undefined } | undefined,
): void {
  const fix = `create it with \`shoal ${kind} create\``;
  if (!name) throw invalidArgument(`a ${kind} reference${id ? ` to ${id}` : ''} has no ${kind} name; the client must send the name and id it resolved`);
  if (!id) throw invalidArgument(`${kind} reference "${name}" has no ${kind} id; resolve the name with List${kind === 'secret' ? 'Secrets' : 'Configs'} first`);
  if (!found) throw notFound(`${kind} "${name}" not found: ${fix}`);
  const stored = found.spec?.annotations?.name ?? '';
  if (stored.toLowerCase() !== name.toLowerCase()) throw notFound(`${kind} "${name}" not found (id ${id} is ${kind} "${stored}"): ${fix}`);
}

/** The network a target (id or name, any case) denotes, if any. */
export function resolveNetwork(tx: ReadTx, target: string): RO<Network> | undefined {
  return tx.networks.get(target) ?? tx.networks.find('name', target)[0];
}

function networkTargets(spec: RO<ServiceSpec> | undefined): string[] {
  return [...(spec?.networks ?? []), ...(spec?.task?.networks ?? [])].map((n) => n.target);
}

/** Every secret, config and network the spec names exists (inside the writing transaction). */
export function checkReferences(tx: ReadTx, spec: RO<ServiceSpec>): void {
  const c = spec.task?.container;
  for (const r of (c?.secrets ?? []) as readonly RO<SecretReference>[]) checkRef('secret', r.secretId, r.secretName, r.secretId ? tx.secrets.get(r.secretId) : undefined);
  for (const r of (c?.configs ?? []) as readonly RO<ConfigReference>[]) checkRef('config', r.configId, r.configName, r.configId ? tx.configs.get(r.configId) : undefined);
  const svc = spec.annotations?.name ?? '';
  const attached = new Set<string>();
  for (const target of networkTargets(spec)) {
    if (!target) throw invalidArgument(`service "${svc}" has a network attachment without a network name or id`);
    const net = resolveNetwork(tx, target);
    if (!net) throw notFound(`network "${target}" not found: create it with \`shoal network create ${target}\``);
    if (net.pendingDelete) throw failedPrecondition(`network "${target}" is being removed (its last tasks are stopping): attach service "${svc}" to another network`);
    if (net.spec?.ingress) throw invalidArgument(`service "${svc}" cannot attach to the ingress network "${target}" explicitly: published ports use it already`);
    if (attached.has(net.id)) throw invalidArgument(`service "${svc}" attaches to network "${target}" twice; list each network once`);
    checkNetworkRoom(tx, spec, net, target);
    attached.add(net.id);
  }
}

/** Names of the services whose spec refers to the secret or config with that id. */
export function servicesUsing(tx: ReadTx, kind: 'secret' | 'config', id: string): string[] {
  const out: string[] = [];
  for (const s of tx.services.all()) {
    const c = s.spec?.task?.container;
    const refs = kind === 'secret' ? (c?.secrets ?? []).map((r) => r.secretId) : (c?.configs ?? []).map((r) => r.configId);
    if (refs.includes(id)) out.push(s.spec?.annotations?.name ?? s.id);
  }
  return out.sort();
}
