// Finding the object a user named: by full id, by name (hostname for nodes), or by a unique id
// prefix. An ambiguous prefix is refused with the candidates, as Docker does.
import type { Config, Network, Node, Secret, Service, Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';
import { invalidArgument, notFound } from './errors.js';

type RO<T> = ReadonlyDeep<T>;

function byPrefix<T extends { readonly id: string }>(all: readonly T[], ref: string): T[] {
  return all.filter((o) => o.id.startsWith(ref));
}

function single<T extends { readonly id: string }>(kind: string, ref: string, found: readonly T[], label: (o: T) => string): T {
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw notFound(`${kind} "${ref}" not found; list them with \`shoal ${kind === "task" ? "service ps SERVICE" : `${kind} ls`}\``);
  const names = found.slice(0, 10).map((o) => `${o.id} (${label(o)})`);
  throw invalidArgument(`"${ref}" matches ${found.length} ${kind}s: ${names.join(', ')}; give more of the id`);
}

export function findService(tx: ReadTx, ref: string): RO<Service> {
  if (!ref) throw invalidArgument('no service given: name a service by id, id prefix or name');
  const exact = tx.services.get(ref);
  if (exact) return exact;
  const named = tx.services.find('name', ref);
  if (named.length === 1) return named[0]!;
  return single('service', ref, byPrefix(tx.services.all(), ref), (s) => s.spec?.annotations?.name ?? '');
}

export function findNode(tx: ReadTx, ref: string): RO<Node> {
  if (!ref) throw invalidArgument('no node given: name a node by id, id prefix or hostname');
  const exact = tx.nodes.get(ref);
  if (exact) return exact;
  const named = tx.nodes.find('hostname', ref);
  if (named.length > 0) return single('node', ref, named, (n) => n.description?.hostname ?? '');
  return single('node', ref, byPrefix(tx.nodes.all(), ref), (n) => n.description?.hostname ?? '');
}

export function findTask(tx: ReadTx, ref: string): RO<Task> {
  if (!ref) throw invalidArgument('no task given: name a task by id or id prefix');
  const exact = tx.tasks.get(ref);
  if (exact) return exact;
  return single('task', ref, byPrefix(tx.tasks.all(), ref), (t) => `${t.serviceName}.${t.slot || t.nodeId}`);
}

type Named = { readonly id: string; readonly spec?: { readonly annotations?: { readonly name: string } | undefined } | undefined };

// Secrets, configs and networks are found like services: id, then name (any case), then prefix.
function findNamed<T extends Named>(kind: string, table: { get(id: string): T | undefined; find(index: 'name', key: string): T[]; all(): T[] }, ref: string): T {
  if (!ref) throw invalidArgument(`no ${kind} given: name a ${kind} by id, id prefix or name`);
  const exact = table.get(ref);
  if (exact) return exact;
  const named = table.find('name', ref);
  if (named.length === 1) return named[0]!;
  return single(kind, ref, byPrefix(table.all(), ref), (o) => o.spec?.annotations?.name ?? '');
}

export function findSecret(tx: ReadTx, ref: string): RO<Secret> {
  return findNamed('secret', tx.secrets, ref);
}

export function findConfig(tx: ReadTx, ref: string): RO<Config> {
  return findNamed('config', tx.configs, ref);
}

export function findNetwork(tx: ReadTx, ref: string): RO<Network> {
  return findNamed('network', tx.networks, ref);
}
