// `stack deploy` against the cluster: read the stack's services and objects (by namespace
// label), plan against the converted file, then create objects, remove (--prune), create and
// update services, and last remove objects that left the file (--prune), exactly as the plan
// says. Updates carry the version read, so a concurrent change fails instead of being lost.
import type { Service, ServiceSpec } from '../../proto/gen/types.js';
import type { StackControl } from './control.js';
import { planServiceSpecs } from './deploy-plan.js';
import type { Environment } from './interpolate.js';
import type { StackSpec } from './model.js';
import { applyObjectRemovals, applyObjectWrites, idsOf, readCurrentObjects } from './deploy-objects.js';
import { planObjects, type ObjectPlan } from './object-plan.js';
import { desiredObjects, StackObjectError } from './objects.js';
import { serviceName } from './names.js';
import type { StackPlan } from './plan.js';
import { leftOutReason, type LeftOutService } from './profiles.js';
import { stackToProto, STACK_NAMESPACE_LABEL } from './to-proto.js';

/** A service the stack would create already exists outside the stack: nothing is applied. */
export class StackConflictError extends Error {
  readonly userError = true as const;
  constructor(stack: string, names: string[]) {
    super(
      `${names.map((n) => `service "${n}"`).join(', ')} already exist${names.length === 1 ? 's' : ''} outside stack ${stack} (no ${STACK_NAMESPACE_LABEL}=${stack} label): ` +
        'remove or rename it, or deploy under another stack name; nothing was changed',
    );
    this.name = 'StackConflictError';
  }
}

export interface DeployResult {
  plan: StackPlan;
  objects: ObjectPlan;
  /** The services created or updated, as the cluster returned them (for convergence). */
  changed: Service[];
}

/** The stack's services in the cluster, keyed by their key in the stack file. */
export async function stackServices(control: StackControl, stack: string): Promise<Map<string, Service>> {
  const services = await control.listServices({ labels: { [STACK_NAMESPACE_LABEL]: stack } });
  const prefix = `${stack}_`;
  const out = new Map<string, Service>();
  for (const s of services) {
    const name = s.spec?.annotations?.name ?? s.id;
    out.set(name.startsWith(prefix) ? name.slice(prefix.length) : name, s);
  }
  return out;
}

export interface DeployOptions {
  stack: string;
  spec: StackSpec;
  prune: boolean;
  dryRun: boolean;
  /** The deployer's environment: values of secrets and configs declared with `environment:`. */
  env: Environment;
  /** One line of progress for the user. */
  log: (line: string) => void;
  /** Services of the file that profiles leave out: said in the plan, never touched. */
  leftOut?: readonly LeftOutService[];
}

/** In --dry-run, the id a secret or config not created yet shows in the field diff. */
export const PENDING_ID = '(created on deploy)';

/**
 * UpdateService against the version the plan was made from. The managers also write a service
 * (its VIPs, its update status) without touching its spec: when only that moved in between, the
 * plan still holds and the write is made again on the new version; a changed spec is a conflict.
 */
async function updatePlanned(control: StackControl, planned: Service, spec: ServiceSpec): Promise<Service> {
  let cur = planned;
  for (let attempt = 1; ; attempt++) {
    try {
      return await control.updateService(cur.id, cur.meta?.version ?? 0n, spec);
    } catch (err) {
      if (attempt >= 5 || !/changed since it was read/.test((err as Error).message)) throw err;
      const now = await control.getService(cur.id);
      if (now.specVersion !== planned.specVersion) throw err;
      cur = now;
    }
  }
}

export async function deployStack(control: StackControl, o: DeployOptions): Promise<DeployResult> {
  // Everything is read and checked before the first write: a file that cannot be read, an
  // external object that is missing, changed secret data or a name clash changes nothing.
  const wanted = desiredObjects(o.stack, o.spec, { env: o.env });
  const current = await stackServices(control, o.stack);
  const cluster = await readCurrentObjects(control, o.stack, wanted, new Set([...current.values()].map((s) => s.id)));
  // A service left out by profiles keeps running with the networks, secrets and configs it has:
  // they are not pruned while one of them is in the cluster (its file entry is not normalised).
  const leftOutRunning = (o.leftOut ?? []).filter((l) => current.has(l.service)).map((l) => l.service);
  if (o.prune && leftOutRunning.length > 0) {
    o.log(`secrets, configs and networks are not pruned: ${leftOutRunning.map((s) => serviceName(o.stack, s)).join(', ')} (left out by profiles) may use them`);
  }
  const { plan: objects, problems } = await planObjects(o.stack, wanted, cluster, { prune: o.prune && leftOutRunning.length === 0 });
  if (problems.length > 0) throw new StackObjectError(problems);

  const currentSpecs: Record<string, ServiceSpec> = {};
  for (const [key, s] of current) if (s.spec) currentSpecs[key] = s.spec;
  const preview = planServiceSpecs(currentSpecs, stackToProto(o.stack, o.spec, idsOf(objects, PENDING_ID)), { prune: o.prune, leftOut: o.leftOut ?? [] });
  if (o.dryRun) return { plan: preview, objects, changed: [] };

  const creates = preview.services.filter((x) => x.action === 'create').map((x) => serviceName(o.stack, x.service));
  if (creates.length > 0) {
    const clash = await control.listServices({ names: creates });
    if (clash.length > 0) throw new StackConflictError(o.stack, clash.map((s) => s.spec?.annotations?.name ?? s.id));
  }

  await applyObjectWrites(control, objects, o.log);
  // With the ids of the objects just created, the specs are final.
  const desired = stackToProto(o.stack, o.spec, idsOf(objects));
  const plan = planServiceSpecs(currentSpecs, desired, { prune: o.prune, leftOut: o.leftOut ?? [] });
  const changed: Service[] = [];
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  // Removals first, as docker does: a service leaving the file frees its published ports.
  for (const p of plan.services.filter((x) => x.action === 'remove')) {
    o.log(`removing service ${serviceName(o.stack, p.service)}`);
    await control.removeService(current.get(p.service)!.id);
  }
  for (const p of plan.services) {
    const name = serviceName(o.stack, p.service);
    switch (p.action) {
      case 'create':
        o.log(`creating service ${name}`);
        changed.push(await control.createService(desired[p.service]!));
        break;
      case 'update': {
        o.log(`updating service ${name}`);
        for (const c of p.changes) o.log(`    ${c.path}: ${show(c.before)} -> ${show(c.after)}`);
        changed.push(await updatePlanned(control, current.get(p.service)!, desired[p.service]!));
        break;
      }
      case 'unchanged':
        o.log(`service ${name}: unchanged`);
        break;
      case 'keep':
        o.log(`service ${name}: kept (not in the stack file; --prune removes it)`);
        break;
      case 'left-out':
        o.log(`service ${name}: left out (${leftOutReason(p)})`);
        break;
      case 'remove':
        break;
    }
  }
  // Objects last: the services that used them are gone or updated by now.
  await applyObjectRemovals(control, objects, { log: o.log });
  return { plan, objects, changed };
}
