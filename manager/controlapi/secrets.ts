// Secret and config rpcs. The two kinds are the same shape (a named blob of at most 500 KiB)
// and follow the same rules, so one implementation serves both; they differ only in that a
// secret's data never leaves the managers through this API (the dispatcher sends it to nodes).
import type {
  CreateConfigRequest,
  CreateConfigResponse,
  CreateSecretRequest,
  CreateSecretResponse,
  GetConfigRequest,
  GetConfigResponse,
  GetSecretRequest,
  GetSecretResponse,
  ListConfigsRequest,
  ListConfigsResponse,
  ListSecretsRequest,
  ListSecretsResponse,
  RemoveConfigRequest,
  RemoveConfigResponse,
  RemoveSecretRequest,
  RemoveSecretResponse,
  UpdateConfigRequest,
  UpdateConfigResponse,
  UpdateSecretRequest,
  UpdateSecretResponse,
} from '../../proto/gen/control.js';
import { Config, Secret, type SecretSpec } from '../../proto/gen/types.js';
import { cloneObject, newObjectId, type MemoryStore, type ReadonlyDeep, type ReadTx, type WriteTable, type WriteTx } from '../store/index.js';
import { alreadyExists, asMessage, failedPrecondition, invalidArgument } from './errors.js';
import { findConfig, findSecret } from './lookup.js';
import { onePage, type PageRequest } from './paging.js';
import { servicesUsing } from './references.js';
import { validateLabels, validateObjectName } from './validate.js';

/** Largest secret or config (Swarm's limit). */
export const MAX_BLOB_BYTES = 500 * 1024;

type Kind = 'secret' | 'config';
// Secret and Config are structurally identical; Secret stands for both below.
type Blob = Secret;
type RO<T> = ReadonlyDeep<T>;

const EMPTY = Buffer.alloc(0);

function table(tx: WriteTx, kind: Kind): WriteTable<'secret'> {
  return kind === 'secret' ? tx.secrets : (tx.configs as unknown as WriteTable<'secret'>);
}

function find(tx: ReadTx, kind: Kind, ref: string): RO<Blob> {
  return kind === 'secret' ? findSecret(tx, ref) : (findConfig(tx, ref) as RO<Blob>);
}

/** What a read returns: a secret without its data; a config whole. */
function shown(kind: Kind, b: RO<Blob>): Blob {
  if (kind === 'config' || !b.spec) return asMessage<Blob>(b);
  return { ...asMessage<Blob>(b), spec: { ...asMessage<SecretSpec>(b.spec), data: EMPTY } };
}

function validateSpec(kind: Kind, spec: RO<SecretSpec> | undefined): asserts spec is RO<SecretSpec> {
  if (!spec) throw invalidArgument(`the request has no ${kind} spec`);
  const name = spec.annotations?.name ?? '';
  validateObjectName(kind, name);
  validateLabels(kind, spec.annotations?.labels ?? {});
  if (spec.data.length === 0) throw invalidArgument(`${kind} "${name}" has no data: give a file or - for standard input with some content`);
  if (spec.data.length > MAX_BLOB_BYTES) {
    throw invalidArgument(`${kind} "${name}" is ${spec.data.length} bytes; at most ${MAX_BLOB_BYTES} (500 KiB) are allowed`);
  }
}

async function create(store: MemoryStore, kind: Kind, spec: RO<SecretSpec> | undefined): Promise<Blob> {
  validateSpec(kind, spec);
  const id = newObjectId();
  const name = spec.annotations!.name;
  await store.update((tx) => {
    const t = table(tx, kind);
    if (t.find('name', name).length > 0) throw alreadyExists(`${kind} "${name}" already exists: choose another name (e.g. ${name}.v2), or remove the old one first`);
    t.create(Secret.fromPartial({ id, spec: cloneObject(spec) }));
  });
  return store.view((tx) => shown(kind, find(tx, kind, id)));
}

async function update(store: MemoryStore, kind: Kind, ref: string, version: bigint, labels: Readonly<Record<string, string>>): Promise<Blob> {
  validateLabels(kind, labels);
  const id = await store.update((tx) => {
    const cur = find(tx, kind, ref);
    const stored = cur.meta?.version ?? 0n;
    const name = cur.spec?.annotations?.name ?? cur.id;
    if (version !== 0n && version !== stored) {
      throw failedPrecondition(`${kind} "${name}" changed since it was read (version ${version}, now ${stored}); read it again and retry`);
    }
    const spec = cur.spec!;
    table(tx, kind).update({ ...cur, spec: { ...spec, annotations: { name: spec.annotations?.name ?? '', labels: { ...labels } } } });
    return cur.id;
  });
  return store.view((tx) => shown(kind, find(tx, kind, id)));
}

async function remove(store: MemoryStore, kind: Kind, ref: string): Promise<void> {
  await store.update((tx) => {
    const cur = find(tx, kind, ref);
    const users = servicesUsing(tx, kind, cur.id);
    const name = cur.spec?.annotations?.name ?? cur.id;
    if (users.length > 0) {
      throw failedPrecondition(
        `${kind} "${name}" is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: update ${users.length > 1 ? 'those services' : 'that service'} without it, or remove ${users.length > 1 ? 'them' : 'it'}, first`,
      );
    }
    table(tx, kind).delete(cur.id);
  });
}

function list(store: MemoryStore, kind: Kind, req: { names: readonly string[]; labels: Readonly<Record<string, string>> } & PageRequest): { items: Blob[]; nextPageToken: string } {
  const { names, labels } = req;
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const want = Object.entries(labels);
  const found = store.view((tx) =>
    (kind === 'secret' ? tx.secrets.all() : (tx.configs.all() as RO<Blob>[])).filter((b) => {
      const a = b.spec?.annotations;
      if (wanted.size > 0 && !wanted.has((a?.name ?? '').toLowerCase())) return false;
      return want.every(([k, v]) => a?.labels[k] !== undefined && (v === '' || a.labels[k] === v));
    }),
  );
  const encode = (b: Blob): number => (kind === 'secret' ? Secret.encode(b as Secret) : Config.encode(b as Config)).finish().length;
  const page = onePage(found.map((b) => shown(kind, b)), (b) => [b.spec?.annotations?.name ?? '', b.id], encode, req);
  return page;
}

export async function createSecret(store: MemoryStore, req: CreateSecretRequest): Promise<CreateSecretResponse> {
  return { secret: await create(store, 'secret', req.spec) };
}
export function getSecret(store: MemoryStore, req: GetSecretRequest): GetSecretResponse {
  return { secret: store.view((tx) => shown('secret', findSecret(tx, req.secretId))) };
}
export async function updateSecret(store: MemoryStore, req: UpdateSecretRequest): Promise<UpdateSecretResponse> {
  return { secret: await update(store, 'secret', req.secretId, req.version, req.labels) };
}
export function listSecrets(store: MemoryStore, req: ListSecretsRequest): ListSecretsResponse {
  const page = list(store, 'secret', req);
  return { secrets: page.items, nextPageToken: page.nextPageToken };
}
export async function removeSecret(store: MemoryStore, req: RemoveSecretRequest): Promise<RemoveSecretResponse> {
  await remove(store, 'secret', req.secretId);
  return {};
}

export async function createConfig(store: MemoryStore, req: CreateConfigRequest): Promise<CreateConfigResponse> {
  return { config: (await create(store, 'config', req.spec)) as Config };
}
export function getConfig(store: MemoryStore, req: GetConfigRequest): GetConfigResponse {
  return { config: store.view((tx) => shown('config', findConfig(tx, req.configId) as RO<Blob>)) as Config };
}
export async function updateConfig(store: MemoryStore, req: UpdateConfigRequest): Promise<UpdateConfigResponse> {
  return { config: (await update(store, 'config', req.configId, req.version, req.labels)) as Config };
}
export function listConfigs(store: MemoryStore, req: ListConfigsRequest): ListConfigsResponse {
  const page = list(store, 'config', req);
  return { configs: page.items as Config[], nextPageToken: page.nextPageToken };
}
export async function removeConfig(store: MemoryStore, req: RemoveConfigRequest): Promise<RemoveConfigResponse> {
  await remove(store, 'config', req.configId);
  return {};
}
