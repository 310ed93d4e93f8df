// The deploy plan over the specs the cluster holds: what `stack deploy` sends is compared with
// what ListServices returned, both in the proto's JSON form after one encode/decode round trip,
// so a spec read back from the cluster equals the one that was sent and a second deploy of the
// same file plans nothing. Field paths are the proto's (task.container.env, mode.replicated...).
import { ServiceSpec } from '../../proto/gen/types.js';
import { diffValues, isNoop, type ServicePlan, type StackPlan } from './plan.js';
import type { LeftOutService } from './profiles.js';

/** The spec as the cluster will hand it back: proto defaults dropped, floats at 32 bits. */
export function canonicalSpecJson(spec: ServiceSpec): unknown {
  return ServiceSpec.toJSON(ServiceSpec.decode(ServiceSpec.encode(spec).finish()));
}

/** `current` and `desired` are keyed by the service's key in the stack (name without `<stack>_`). */
export function planServiceSpecs(
  current: Readonly<Record<string, ServiceSpec>>,
  desired: Readonly<Record<string, ServiceSpec>>,
  opts: { prune: boolean; leftOut?: readonly LeftOutService[] },
): StackPlan {
  const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const services: ServicePlan[] = [];
  // Left out by profiles: never touched, even with --prune (as `docker compose up` leaves a
  // profiled service that is running alone).
  const leftOut = new Map((opts.leftOut ?? []).map((l) => [l.service, l.profiles]));
  for (const service of [...new Set([...Object.keys(desired), ...Object.keys(current), ...leftOut.keys()])].sort()) {
    const profiles = leftOut.get(service);
    if (profiles && !has(desired, service)) {
      services.push({ action: 'left-out', service, profiles });
      continue;
    }
    const want = has(desired, service) ? desired[service] : undefined;
    const have = has(current, service) ? current[service] : undefined;
    if (want && !have) services.push({ action: 'create', service });
    else if (!want) services.push({ action: opts.prune ? 'remove' : 'keep', service });
    else {
      const changes = diffValues(canonicalSpecJson(have!), canonicalSpecJson(want), '');
      services.push(changes.length ? { action: 'update', service, changes } : { action: 'unchanged', service });
    }
  }
  return { services, empty: services.every(isNoop) };
}
