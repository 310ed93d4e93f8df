// /etc/hostname, /etc/hosts and /etc/resolv.conf of a container, written into its state
// directory and bind-mounted over the image's, as Docker does, so that networking can give each
// container its own name and resolver without touching the image.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerSpec, MountSpec } from './types.js';
import { hasCode } from '../../proto/undo.js';

function hostFile(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return fallback;
  }
}

function hostsFile(spec: ContainerSpec, hostname: string): string {
  if (spec.network === 'host') return hostFile('/etc/hosts', '127.0.0.1\tlocalhost\n');
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const h of spec.extraHosts ?? []) lines.push(`${h.ip}\t${h.name}`);
  if (!(spec.extraHosts ?? []).some((h) => h.name === hostname)) lines.push(`127.0.1.1\t${hostname}`);
  return lines.join('\n') + '\n';
}

function resolvConf(spec: ContainerSpec): string {
  if (!spec.dns) return hostFile('/etc/resolv.conf', '');
  const lines = spec.dns.nameservers.map((n) => `nameserver ${n}`);
  if (spec.dns.search?.length) lines.push(`search ${spec.dns.search.join(' ')}`);
  if (spec.dns.options?.length) lines.push(`options ${spec.dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/**
 * Writes the three files into `dir` and returns the bind mounts that put them in place. The
 * writes go to the thread pool, together: each creates a file, which on a busy disk waits for
 * the journal for milliseconds that the event loop (other containers' starts, their reports)
 * should not spend blocked.
 */
export async function writeEtcFiles(dir: string, spec: ContainerSpec, hostname: string): Promise<MountSpec[]> {
  const files: [string, string][] = [
    ['hostname', `${hostname}\n`],
    ['hosts', hostsFile(spec, hostname)],
    ['resolv.conf', resolvConf(spec)],
  ];
  await Promise.all(files.map(([name, content]) => writeFile(join(dir, name), content)));
  return files.map(([name]) => ({ type: 'bind', source: join(dir, name), target: `/etc/${name}` }));
}
