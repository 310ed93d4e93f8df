// Network rpcs. A network is recorded here as the user described it; the allocator gives it a
// subnet and a VNI, and agents wire it. Services name networks by id or name, so a network is
// refused removal while any service names it; while only tasks of removed services are still
// stopping, it is marked for deletion and the allocator deletes it after them.
import { isIP } from 'node:net';
import type {
  CreateNetworkRequest,
  CreateNetworkResponse,
  GetNetworkRequest,
  GetNetworkResponse,
  ListNetworksRequest,
  ListNetworksResponse,
  RemoveNetworkRequest,
  RemoveNetworkResponse,
} from '../../proto/gen/control.js';
import { Network, type NetworkSpec } from '../../proto/gen/types.js';
import { cloneObject, newObjectId, type MemoryStore, type ReadonlyDeep } from '../store/index.js';
import { alreadyExists, asMessage, failedPrecondition, invalidArgument } from './errors.js';
import { findNetwork } from './lookup.js';
import { onePage } from './paging.js';
import { checkNetworkAddressing, checkNetworkDriver, servicesNaming, tasksOnNetwork } from './network-addressing.js';
import { validateLabels, validateObjectName } from './validate.js';

export const DEFAULT_NETWORK_DRIVER = 'overlay';
const DRIVER_RE = /^[a-z0-9][a-z0-9_.-]*$/;

function checkCidr(name: string, what: string, v: string): void {
  const [addr, bits, extra] = v.split('/');
  const family = isIP(addr ?? '');
  const max = family === 6 ? 128 : 32;
  if (!family || extra !== undefined || bits === undefined || !/^\d+$/.test(bits) || Number(bits) > max) {
    throw invalidArgument(`network "${name}": ${what} "${v}" is not a CIDR block; write e.g. 10.0.9.0/24`);
  }
}

function validateNetworkSpec(spec: ReadonlyDeep<NetworkSpec> | undefined): asserts spec is ReadonlyDeep<NetworkSpec> {
  if (!spec) throw invalidArgument('the request has no network spec');
  const name = spec.annotations?.name ?? '';
  validateObjectName('network', name);
  validateLabels('network', spec.annotations?.labels ?? {});
  const driver = spec.driverConfig?.name ?? '';
  if (driver && !DRIVER_RE.test(driver)) throw invalidArgument(`network "${name}": driver "${driver}" is not a driver name (e.g. overlay)`);
  for (const c of spec.ipam?.configs ?? []) {
    if (c.subnet) checkCidr(name, 'subnet', c.subnet);
    if (c.range) checkCidr(name, 'ip range', c.range);
    if (c.gateway && !isIP(c.gateway)) throw invalidArgument(`network "${name}": gateway "${c.gateway}" is not an IP address`);
    if (!c.subnet && (c.range || c.gateway)) throw invalidArgument(`network "${name}": an ip range or gateway needs a subnet (--subnet)`);
  }
}

export async function createNetwork(store: MemoryStore, req: CreateNetworkRequest): Promise<CreateNetworkResponse> {
  const spec = req.spec;
  validateNetworkSpec(spec);
  const name = spec.annotations!.name;
  const id = newObjectId();
  const stored = cloneObject(spec);
  // The one default the system fills in, as Swarm does: a network without a driver is an overlay.
  stored.driverConfig = { name: stored.driverConfig?.name || DEFAULT_NETWORK_DRIVER, options: stored.driverConfig?.options ?? {} };
  await store.update((tx) => {
    const same = tx.networks.find('name', name)[0];
    if (same?.pendingDelete) throw alreadyExists(`network "${name}" is being removed (its last tasks are stopping): try again in a moment, or choose another name`);
    if (same) throw alreadyExists(`network "${name}" already exists: choose another name, or use the existing one`);
    if (spec.ingress) {
      const other = tx.networks.all().find((n) => n.spec?.ingress);
      if (other) throw alreadyExists(`an ingress network already exists ("${other.spec?.annotations?.name}"); a cluster has one`);
    }
    checkNetworkDriver(name, stored);
    checkNetworkAddressing(tx, name, stored);
    tx.networks.create(Network.fromPartial({ id, spec: stored }));
  });
  return { network: store.view((tx) => asMessage<Network>(tx.networks.get(id)!)) };
}

export function getNetwork(store: MemoryStore, req: GetNetworkRequest): GetNetworkResponse {
  return { network: store.view((tx) => asMessage<Network>(findNetwork(tx, req.networkId))) };
}

export function listNetworks(store: MemoryStore, req: ListNetworksRequest): ListNetworksResponse {
  const names = new Set(req.names.map((n) => n.toLowerCase()));
  const labels = Object.entries(req.labels);
  const nets = store.view((tx) =>
    tx.networks.all().filter((n) => {
      const a = n.spec?.annotations;
      if (names.size > 0 && !names.has((a?.name ?? '').toLowerCase())) return false;
      return labels.every(([k, v]) => a?.labels[k] !== undefined && (v === '' || a.labels[k] === v));
    }),
  );
  const page = onePage(nets, (n) => [n.spec?.annotations?.name ?? '', n.id], (n) => Network.encode(n as Network).finish().length, req);
  return { networks: page.items.map((n) => asMessage<Network>(n)), nextPageToken: page.nextPageToken };
}

export async function removeNetwork(store: MemoryStore, req: RemoveNetworkRequest): Promise<RemoveNetworkResponse> {
  await store.update((tx) => {
    const net = findNetwork(tx, req.networkId);
    const name = net.spec?.annotations?.name ?? net.id;
    const users = servicesNaming(tx, net);
    if (users.length > 0) {
      throw failedPrecondition(
        `network "${name}" is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: detach ${users.length > 1 ? 'those services' : 'that service'} or remove ${users.length > 1 ? 'them' : 'it'} first`,
      );
    }
    if (net.pendingDelete) return;
    // Tasks of removed services may still be stopping on their nodes: the network is marked, and
    // the allocator deletes it once the last of them has given its address back.
    if (tasksOnNetwork(tx, net) > 0) tx.networks.update({ ...net, pendingDelete: true });
    else tx.networks.delete(net.id);
  });
  return {};
}
