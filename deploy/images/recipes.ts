// What goes into each test image. busybox: one layer from Debian's busybox-static. redis: that
// same busybox layer (so the two images share it) plus a layer with redis-server, redis-cli,
// their libraries, a config and a redis user (uid 999).
import { existsSync } from 'node:fs';
import { busyboxApplets, hostFile, sharedLibraries } from './host-files.js';
import { withParentDirs, type LayerEntry } from './layer-tar.js';
import type { ImageSpec } from './oci-archive.js';

export const BUSYBOX_BIN = '/bin/busybox';
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';
export const REDIS_CLI_BIN = '/usr/bin/redis-cli';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const text = (path: string, s: string, mode = 0o644): LayerEntry => ({ path, type: 'file', data: Buffer.from(s), mode });

function requireHostFile(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Debian package ${pkg} (deploy/install-deps.sh does)`);
}

const BASE_PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const BASE_GROUP = 'root:x:0:\nnogroup:x:65534:\n';

export function busyboxLayer(): LayerEntry[] {
  requireHostFile(BUSYBOX_BIN, 'busybox-static');
  const entries: LayerEntry[] = [
    hostFile(BUSYBOX_BIN, 'bin/busybox'),
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'usr', 'usr/bin', 'usr/sbin', 'sbin', 'var'].map((path): LayerEntry => ({ path, type: 'dir' })),
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    text('etc/passwd', BASE_PASSWD),
    text('etc/group', BASE_GROUP),
  ];
  for (const applet of busyboxApplets(BUSYBOX_BIN)) {
    if (applet === 'bin/busybox') continue;
    entries.push({ path: applet, type: 'symlink', target: '/bin/busybox' });
  }
  return withParentDirs(entries);
}

const REDIS_CONF = `# shoal test image: a foreground redis reachable from other containers
bind 0.0.0.0
port 6379
protected-mode no
daemonize no
dir /data
logfile ""
save ""
appendonly no
`;

export function redisLayer(): LayerEntry[] {
  requireHostFile(REDIS_SERVER_BIN, 'redis-server');
  requireHostFile(REDIS_CLI_BIN, 'redis-tools');
  const entries: LayerEntry[] = [
    hostFile(REDIS_SERVER_BIN, 'usr/bin/redis-server'),
    hostFile(REDIS_CLI_BIN, 'usr/bin/redis-cli'),
    text('etc/passwd', `${BASE_PASSWD}redis:x:999:999:redis:/data:/bin/false\n`),
    text('etc/group', `${BASE_GROUP}redis:x:999:\n`),
    text('etc/redis/redis.conf', REDIS_CONF),
    { path: 'data', type: 'dir', mode: 0o755, uid: 999, gid: 999 },
  ];
  const libs = new Set([...sharedLibraries(REDIS_SERVER_BIN), ...sharedLibraries(REDIS_CLI_BIN)]);
  for (const lib of [...libs].sort()) entries.push(hostFile(lib, lib.slice(1)));
  // the first layer already has these directories; repeating them here would be harmless but noisy
  const fromBase = new Set(['etc', 'usr', 'usr/bin']);
  return withParentDirs(entries).filter((e) => !(e.type === 'dir' && fromBase.has(e.path)));
}

export const TEST_IMAGES = {
  busybox: (): ImageSpec => ({
    name: 'docker.io/library/busybox:latest',
    layers: [busyboxLayer()],
    config: { Env: [PATH_ENV], Cmd: ['sh'] },
  }),
  redis: (): ImageSpec => ({
    name: 'docker.io/library/redis:latest',
    layers: [busyboxLayer(), redisLayer()],
    config: {
      User: '999:999',
      ExposedPorts: { '6379/tcp': {} },
      Env: [PATH_ENV],
      Cmd: ['redis-server', '/etc/redis/redis.conf'],
      WorkingDir: '/data',
    },
  }),
} as const;

export type TestImageName = keyof typeof TEST_IMAGES;
