// Start-up reconciliation for an agent that restarted or crashed: keep what running tasks
// still need (their traffic never stops), make what is missing, and remove every shoal object
// nobody needs, whether the ledger knows it or only its name prefix / route protocol does.
import type { OverlayHost } from './host.js';
import { attachmentKey } from './ledger.js';
import { bridgeName, LINK_PREFIX, ROUTE_PROTO, vethHostName } from './names.js';
import { checkAttachment, checkNetwork, checkPeer } from './validate.js';
import type { AttachmentSpec, NetworkSpec } from './types.js';
import { contains, parsePrefix } from './addr.js';
import { InvalidNetworkInputError } from './errors.js';

export interface DesiredState {
  networks: NetworkSpec[];
  attachments: { networkId: string; spec: AttachmentSpec }[];
}

export interface AdoptReport {
  /** Networks and attachments found working and left alone. */
  kept: string[];
  /** What was made because it was missing. */
  created: string[];
  /** Kernel objects removed (links, routes) and ledger entries dropped. */
  removed: string[];
  /** Attachments that could not be made again (their namespace is gone): the task must restart. */
  skipped: string[];
}

interface LinkJson {
  ifname: string;
}
interface RouteJson {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
}

export async function adopt(host: OverlayHost, desired: DesiredState): Promise<AdoptReport> {
  // All input is checked before anything is touched.
  const nets = new Map(desired.networks.map((s) => [s.id, checkNetwork(s)]));
  for (const a of desired.attachments) {
    const net = nets.get(a.networkId);
    if (!net) throw new InvalidNetworkInputError(`adopt: attachment of task ${a.spec.taskId} names network ${a.networkId}, which is not among the desired networks`);
    checkAttachment(net, a.spec);
  }
  return host.withLock(async () => {
    const ops = host.ops();
    const ledger = host.ledger.data;
    const report: AdoptReport = { kept: [], created: [], removed: [], skipped: [] };
    const links = new Set(
      (await host.kernel.json<LinkJson[]>(['ip', '-j', 'link', 'show'])).map((l) => l.ifname).filter((n) => n.startsWith(LINK_PREFIX)),
    );

    // 1. Networks: drop the unwanted, the changed, the half-made and the damaged.
    for (const [id, rec] of Object.entries(ledger.networks)) {
      const want = nets.get(id);
      const intact = rec.committed && rec.links.every((l) => links.has(l));
      if (want && intact && JSON.stringify(want.spec) === JSON.stringify(rec.spec)) continue;
      await ops.remove(id);
      report.removed.push(`network ${id}`);
    }
    // 2. Attachments: drop those no task needs, and those whose veth is gone.
    const wanted = new Set(desired.attachments.map((a) => attachmentKey(a.networkId, a.spec.taskId)));
    for (const [key, att] of Object.entries(ledger.attachments)) {
      const same = desired.attachments.find((a) => attachmentKey(a.networkId, a.spec.taskId) === key);
      if (wanted.has(key) && att.committed && links.has(att.hostLink) && JSON.stringify(same?.spec) === JSON.stringify(att.spec)) continue;
      await ops.detach(att.networkId, att.spec.taskId);
      report.removed.push(`attachment ${key}`);
    }
    // 3. Links with shoal's prefix that nothing desired explains (the ledger may be lost).
    // A desired object the ledger does not vouch for is removed too, and made again below.
    const keep = new Set<string>();
    for (const id of nets.keys()) {
      if (!ledger.networks[id]?.committed) continue;
      keep.add(bridgeName(id));
      for (const l of ledger.networks[id]!.links.slice(1)) keep.add(l);
    }
    for (const a of desired.attachments)
      if (ledger.attachments[attachmentKey(a.networkId, a.spec.taskId)]?.committed) keep.add(vethHostName(a.networkId, a.spec.taskId));
    const strays = [...links].filter((l) => !keep.has(l)).sort(byKind);
    await host.kernel.removeIp(strays.map((l) => `link del ${l}`));
    report.removed.push(...strays.map((l) => `link ${l}`));
    // 4. Routes stamped with shoal's protocol outside its links, that no kept network explains.
    const routes = await host.kernel.json<RouteJson[]>(['ip', '-j', 'route', 'show', 'proto', String(ROUTE_PROTO)]);
    const stale: string[] = [];
    for (const r of routes) {
      if (r.dev && r.dev.startsWith(LINK_PREFIX) && keep.has(r.dev)) continue;
      const dst = parsePrefix(r.dst.includes('/') ? r.dst : `${r.dst}/32`, false)?.prefix;
      const owner = [...nets.values()].find((n) => ledger.networks[n.spec.id] && dst && contains(n.subnet, dst.base));
      if (owner && r.type === 'unreachable' && r.dst === owner.cidr) continue;
      if (owner && owner.driver === 'routed' && r.dev === ops.ctx.underlay.device) {
        const peers = Object.values(ledger.peers[owner.spec.id] ?? {});
        if (peers.some((p) => p.underlayAddress === r.gateway && checkPeer(owner, p).includes(r.dst.includes('/') ? r.dst : `${r.dst}/32`))) continue;
      }
      stale.push(
        r.type === 'unreachable'
          ? `route del unreachable ${r.dst} proto ${ROUTE_PROTO}`
          : `route del ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''} proto ${ROUTE_PROTO}`,
      );
    }
    await host.kernel.removeIp(stale);
    report.removed.push(...stale.map((l) => l.replace(/^route del /, 'route ')));
    // 5. Make what is missing, keep the rest.
    for (const [id, net] of nets) {
      if (ledger.networks[id]?.committed) report.kept.push(`network ${id}`);
      else {
        await ops.ensure(net.spec);
        report.created.push(`network ${id}`);
      }
    }
    for (const a of desired.attachments) {
      const key = attachmentKey(a.networkId, a.spec.taskId);
      if (ledger.attachments[key]?.committed) {
        report.kept.push(`attachment ${key}`);
        continue;
      }
      try {
        await ops.attach(a.networkId, a.spec);
        report.created.push(`attachment ${key}`);
      } catch {
        report.skipped.push(`attachment ${key}`);
      }
    }
    await ops.firewall();
    await host.ledger.save();
    // shoal-gre serves what is kept (or stops when no userspace GRE network is left).
    await ops.userspace();
    return report;
  });
}

/** Removes everything the data path has on this host (agent leaving the cluster, tests). */
export async function removeAll(host: OverlayHost): Promise<AdoptReport> {
  return adopt(host, { networks: [], attachments: [] });
}

// Veths before tunnels before bridges: a port goes before its bridge.
function byKind(a: string, b: string): number {
  const rank = (n: string) => 'vcxb'.indexOf(n[LINK_PREFIX.length] ?? 'b');
  return rank(a) - rank(b) || a.localeCompare(b);
}

