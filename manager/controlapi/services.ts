// Service rpcs: create, update (spec, scale, rollback), remove, get, list. Every write is one
// store transaction that re-reads and re-checks inside it, so a concurrent change is caught.
import { Service, ServiceSpec, UpdateStatus_State } from '../../proto/gen/types.js';
import type {
  CreateServiceRequest,
  CreateServiceResponse,
  GetServiceRequest,
  GetServiceResponse,
  ListServicesRequest,
  ListServicesResponse,
  RemoveServiceRequest,
  RemoveServiceResponse,
  UpdateServiceRequest,
  UpdateServiceResponse,
} from '../../proto/gen/control.js';
import { cloneObject, newObjectId, type MemoryStore, type ReadonlyDeep } from '../store/index.js';
import { asMessage, failedPrecondition, invalidArgument } from './errors.js';
import { findService } from './lookup.js';
import { onePage } from './paging.js';
import { checkReferences } from './references.js';
import { DEFAULT_MAX_REPLICAS, modeName, validateServiceSpec, type SpecLimits } from './validate.js';

function sameSpec(a: ReadonlyDeep<ServiceSpec> | undefined, b: ReadonlyDeep<ServiceSpec> | undefined): boolean {
  if (!a || !b) return a === b;
  return Buffer.compare(ServiceSpec.encode(a as ServiceSpec).finish(), ServiceSpec.encode(b as ServiceSpec).finish()) === 0;
}

/** The bounds a spec is checked against now: the configured replicas limit and the largest node. */
export function specLimits(store: MemoryStore, maxReplicas = DEFAULT_MAX_REPLICAS): SpecLimits {
  const nanos = store.view((tx) => tx.nodes.all().reduce((m, n) => (n.description?.resources?.nanoCpus ?? 0n) > m ? n.description!.resources!.nanoCpus : m, 0n));
  return { maxReplicas, largestNodeCpus: Number(nanos) / 1e9 };
}

export async function createService(store: MemoryStore, req: CreateServiceRequest, limits = specLimits(store)): Promise<CreateServiceResponse> {
  const spec = req.spec;
  validateServiceSpec(spec, limits);
  const id = newObjectId();
  await store.update((tx) => {
    checkReferences(tx, spec);
    tx.services.create(
      Service.fromPartial({ id, spec: cloneObject(spec), specVersion: 1n, endpoint: spec.endpoint ? { spec: cloneObject(spec.endpoint) } : undefined }),
    );
  });
  return { service: store.view((tx) => asMessage<Service>(tx.services.get(id)!)) };
}

export async function updateService(store: MemoryStore, req: UpdateServiceRequest, limits = specLimits(store)): Promise<UpdateServiceResponse> {
  if (!req.rollback) validateServiceSpec(req.spec, limits);
  const id = await store.update((tx) => {
    const cur = findService(tx, req.serviceId);
    const stored = cur.meta?.version ?? 0n;
    if (req.version !== 0n && req.version !== stored) {
      throw failedPrecondition(`service ${cur.spec?.annotations?.name} changed since it was read (version ${req.version}, now ${stored}); read it again and retry`);
    }
    let next: ReadonlyDeep<ServiceSpec>;
    if (req.rollback) {
      if (!cur.previousSpec) throw failedPrecondition(`service ${cur.spec?.annotations?.name} has no previous spec to roll back to`);
      next = cur.previousSpec;
    } else {
      next = req.spec!;
    }
    const oldName = cur.spec?.annotations?.name ?? '';
    const newName = next.annotations?.name ?? '';
    if (oldName.toLowerCase() !== newName.toLowerCase()) throw invalidArgument(`renaming service "${oldName}" to "${newName}" is not supported; create a new service`);
    if (modeName(cur.spec) !== modeName(next)) {
      throw invalidArgument(`service ${oldName} is ${modeName(cur.spec)}: changing it to ${modeName(next)} is not supported; remove it and create it again`);
    }
    if (sameSpec(cur.spec, next)) return cur.id;
    // A rollback is checked too: its spec may name a secret or network removed since.
    checkReferences(tx, next);
    tx.services.update({
      ...cur,
      spec: cloneObject(next),
      specVersion: cur.specVersion + 1n,
      previousSpec: cur.spec,
      previousSpecVersion: cur.specVersion,
      endpoint: next.endpoint ? { ...(cur.endpoint ?? { ports: [], virtualIps: [] }), spec: next.endpoint } : cur.endpoint,
      // a manual rollback runs with rollback_config (manager/orchestrator/update/README.md)
      ...(req.rollback
        ? { updateStatus: { state: UpdateStatus_State.ROLLBACK_STARTED, startedAtMs: BigInt(Date.now()), completedAtMs: 0n, message: 'manually requested rollback' } }
        : {}),
    });
    return cur.id;
  });
  return { service: store.view((tx) => asMessage<Service>(tx.services.get(id)!)) };
}

export async function removeService(store: MemoryStore, req: RemoveServiceRequest): Promise<RemoveServiceResponse> {
  await store.update((tx) => {
    tx.services.delete(findService(tx, req.serviceId).id);
  });
  return {};
}

export function getService(store: MemoryStore, req: GetServiceRequest): GetServiceResponse {
  return { service: store.view((tx) => asMessage<Service>(findService(tx, req.serviceId))) };
}

export function listServices(store: MemoryStore, req: ListServicesRequest): ListServicesResponse {
  const names = new Set(req.names.map((n) => n.toLowerCase()));
  const labels = Object.entries(req.labels);
  const services = store.view((tx) =>
    tx.services.all().filter((s) => {
      const a = s.spec?.annotations;
      if (names.size > 0 && !names.has((a?.name ?? '').toLowerCase())) return false;
      if (req.idPrefixes.length > 0 && !req.idPrefixes.some((p) => s.id.startsWith(p))) return false;
      return labels.every(([k, v]) => a?.labels[k] !== undefined && (v === '' || a.labels[k] === v));
    }),
  );
  const page = onePage(services, (s) => [s.spec?.annotations?.name ?? '', s.id], (s) => Service.encode(s as Service).finish().length, req);
  return { services: page.items.map((s) => asMessage<Service>(s)), nextPageToken: page.nextPageToken };
}
