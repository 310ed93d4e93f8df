// A task's overlay networking on this node: its own network namespace (a bind-mounted file under
// SHOAL_RUN/netns, named after the task), joined to each of its networks through overlay-net,
// and the peers the managers send per network. Tasks without attachments, or asking for the
// host's network, keep the host's network (nothing here is made for them).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { NetworkAttachment, Task } from '../../proto/gen/types.js';
import { adopt, type AdoptReport, type AttachmentSpec, type NetworkSpec, type OverlayHost, type PeerSpec } from '../../overlay-net/index.js';
import { settled } from '../../proto/undo.js';

const run = promisify(execFile);

/** Prefix of the namespace files this agent makes (the rest is the task id). */
export const NETNS_PREFIX = 'shoal-';

/** The data path a stored driver names (manager/allocator/README.md): overlay = vxlan unless encap says. */
export function dataPathOf(a: NetworkAttachment): string {
  const name = a.driver?.name ?? '';
  if (name === '' || name === 'overlay') return a.driver?.options?.encap || 'vxlan';
  if (name === 'host-gw') return 'routed';
  return name;
}

/** The overlay attachments a task needs on this node, or none (host or none mode, no networks). */
export function overlayAttachments(task: Pick<Task, 'networks' | 'spec'>): NetworkAttachment[] {
  const targets = task.spec?.networks ?? [];
  if (targets.some((n) => n.target === 'host' || n.target === 'none')) return [];
  return task.networks.filter((a) => a.networkId && a.addresses.length > 0);
}

export function networkSpecOf(a: NetworkAttachment): NetworkSpec {
  return { id: a.networkId, name: a.networkName, driver: dataPathOf(a), vni: a.vni, subnet: a.subnet, gateway: a.gateway, internal: a.internal, attachable: false };
}

/** One AttachmentSpec per attachment: eth0, eth1... in order, the default route on the first non-internal. */
export function attachmentSpecsOf(taskId: string, netnsPath: string, as: NetworkAttachment[]): { networkId: string; spec: AttachmentSpec }[] {
  const routeAt = as.findIndex((a) => !a.internal);
  return as.map((a, i) => ({
    networkId: a.networkId,
    spec: { taskId, netnsPath, address: a.addresses[0]!, mac: a.macAddress, ifName: `eth${i}`, defaultRoute: i === routeAt },
  }));
}

export interface TaskNetworkOptions {
  host: OverlayHost;
  /** Where task namespaces are bind-mounted (SHOAL_RUN/netns). */
  netnsDir: string;
  logger: Logger;
}

/** The overlay side of this node's tasks; every change is serialized (network create/remove races). */
export class TaskNetworks {
  private queue: Promise<unknown> = Promise.resolve();
  /** The latest peer list the managers sent, per network (applied once the network exists here). */
  private readonly peers = new Map<string, PeerSpec[]>();

  constructor(private readonly o: TaskNetworkOptions) {
    mkdirSync(o.netnsDir, { recursive: true, mode: 0o700 });
  }

  /** Drivers this host's kernel supports. */
  get drivers(): readonly string[] {
    return this.o.host.drivers;
  }

  netnsPath(taskId: string): string {
    return join(this.o.netnsDir, `${NETNS_PREFIX}${taskId}`);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = settled(p); // the caller gets p's error; the queue goes on
    return p;
  }

  /**
   * Makes the task's namespace and joins it to its networks; returns the namespace's path. On
   * failure everything made for the task is removed before the error is thrown.
   */
  prepare(taskId: string, attachments: NetworkAttachment[]): Promise<string> {
    return this.serial(async () => {
      const path = this.netnsPath(taskId);
      // an earlier attempt (before an agent restart) left its namespace or attachments: start clean
      if (existsSync(path) || this.attachedNetworks(taskId).length > 0) await this.releaseNow(taskId);
      try {
        await this.makeNetns(path);
        for (const { networkId, spec } of attachmentSpecsOf(taskId, path, attachments)) {
          const a = attachments.find((x) => x.networkId === networkId)!;
          const fresh = !this.o.host.ledger.data.networks[networkId]?.committed;
          await this.o.host.ensureNetwork(networkSpecOf(a));
          if (fresh) await this.applyPeers(networkId);
          await this.o.host.attach(networkId, spec);
        }
        return path;
      } catch (err) {
        await this.releaseNow(taskId, attachments.map((a) => a.networkId)).catch((e: unknown) => this.o.logger.warn({ task: taskId, err: e }, 'cleaning up a failed network setup failed'));
        throw err;
      }
    });
  }

  /** Detaches the task everywhere, removes networks no task here uses any more, and its namespace. */
  release(taskId: string): Promise<void> {
    return this.serial(() => this.releaseNow(taskId));
  }

  /** `networks`: also those a failed prepare may have made without attaching the task. */
  private async releaseNow(taskId: string, networks: string[] = []): Promise<void> {
    const ledger = this.o.host.ledger.data;
    const nets = this.attachedNetworks(taskId);
    for (const n of nets) await this.o.host.detach(n, taskId);
    for (const n of new Set([...nets, ...networks])) {
      if (!ledger.networks[n] || Object.values(ledger.attachments).some((a) => a.networkId === n)) continue;
      this.o.logger.info({ network: n }, 'last task of the network left this node: removing it');
      await this.o.host.removeNetwork(n);
    }
    await this.removeNetns(this.netnsPath(taskId));
  }

  private attachedNetworks(taskId: string): string[] {
    return Object.values(this.o.host.ledger.data.attachments)
      .filter((a) => a.spec.taskId === taskId)
      .map((a) => a.networkId);
  }

  /** The managers' peer list for one network (full); programmed if the network exists here. */
  setPeers(networkId: string, peers: PeerSpec[]): Promise<void> {
    return this.serial(async () => {
      if (peers.length === 0) this.peers.delete(networkId);
      else this.peers.set(networkId, peers);
      await this.applyPeers(networkId);
    });
  }

  private async applyPeers(networkId: string): Promise<void> {
    if (!this.o.host.ledger.data.networks[networkId]?.committed) return;
    await this.o.host.setPeers(networkId, this.peers.get(networkId) ?? []);
  }

  /**
   * Agent start: keeps the namespaces and attachments of the tasks it still runs (their traffic
   * does not stop), removes every other namespace file and every overlay object nobody needs.
   */
  adopt(tasks: { id: string; attachments: NetworkAttachment[] }[]): Promise<AdoptReport> {
    return this.serial(async () => {
      const keep = new Set<string>();
      const networks = new Map<string, NetworkSpec>();
      const attachments: { networkId: string; spec: AttachmentSpec }[] = [];
      const present = new Set(readdirSync(this.o.netnsDir));
      for (const t of tasks) {
        if (t.attachments.length === 0 || !present.has(`${NETNS_PREFIX}${t.id}`)) continue;
        keep.add(`${NETNS_PREFIX}${t.id}`);
        for (const a of t.attachments) networks.set(a.networkId, networkSpecOf(a));
        attachments.push(...attachmentSpecsOf(t.id, this.netnsPath(t.id), t.attachments));
      }
      for (const name of present) {
        if (keep.has(name) || !name.startsWith(NETNS_PREFIX)) continue;
        this.o.logger.info({ netns: name }, 'removing the network namespace of a task this node no longer runs');
        await this.removeNetns(join(this.o.netnsDir, name));
      }
      const report = await adopt(this.o.host, { networks: [...networks.values()], attachments });
      this.o.logger.info(report, 'overlay networks adopted');
      return report;
    });
  }

  /** The file is the record: it exists before the namespace is bound on it. */
  private async makeNetns(path: string): Promise<void> {
    writeFileSync(path, '', { flag: 'a', mode: 0o600 });
    try {
      await run('umount', [path]);
    } catch {
      // not mounted: the usual case
    }
    await run('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
  }

  private async removeNetns(path: string): Promise<void> {
    if (!existsSync(path)) return;
    try {
      await run('umount', [path]);
    } catch {
      // never mounted (a failure before unshare), or already unmounted
    }
    rmSync(path, { force: true });
  }
}
