// Warnings for keys that a developer's compose file carries and cluster mode ignores:
// the file still deploys, and the user learns what was not applied.
import { clusterIgnoredServiceKeys } from './schema.js';
import { isMap, hasKey, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

const reasons: Record<string, string> = {
  build: 'cluster mode runs pushed images; build and push the image first',
  depends_on: 'services start independently in a cluster; make them retry their dependencies',
  container_name: 'a service runs many containers, named <stack>_<service>.<slot>',
  restart: 'used only as the restart policy when deploy.restart_policy is absent',
  links: 'services reach each other by service name on shared networks',
  network_mode: 'services attach to the stack networks',
  privileged: 'privileged containers are not supported in cluster mode',
  expose: 'services on a shared network reach every port',
};

export function warnClusterIgnoredKeys(root: PlainMap, ctx: FileContext): void {
  if (hasKey(root, 'name')) ctx.warn(['name'], 'ignored: the stack name comes from the command line', 'key');
  const services = root.services;
  if (!isMap(services)) return;
  for (const name of Object.keys(services)) {
    const svc = services[name];
    if (!isMap(svc)) continue;
    for (const key of clusterIgnoredServiceKeys) {
      if (!hasKey(svc, key)) continue;
      const why = reasons[key] ?? 'not supported in cluster mode';
      const text = key === 'restart' ? `\`restart\` is ${why}` : `\`${key}\` is ignored in cluster mode: ${why}`;
      ctx.warn(['services', name, key], text, 'key');
    }
    const reservations = isMap(svc.deploy) && isMap(svc.deploy.resources) ? svc.deploy.resources.reservations : undefined;
    for (const key of ['generic_resources', 'devices']) {
      if (isMap(reservations) && hasKey(reservations, key)) {
        ctx.warn(['services', name, 'deploy', 'resources', 'reservations', key], `\`${key}\` is not supported yet: the reservation is ignored`, 'key');
      }
    }
  }
}
