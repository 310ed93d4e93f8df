// `stack deploy` against the cluster: read the stack's services (by namespace label), plan
// against the converted file, then remove (--prune), create and update exactly what the plan
// says. Updates carry the version read, so a concurrent change fails instead of being lost.
import type { Service, ServiceSpec } from '../../proto/gen/types.js';
import type { StackControl } from './control.js';
import { planServiceSpecs } from './deploy-plan.js';
import type { StackSpec } from './model.js';
import { serviceName } from './names.js';
import type { StackPlan } from './plan.js';
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
  /** One line of progress for the user. */
  log: (line: string) => void;
}

export async function deployStack(control: StackControl, o: DeployOptions): Promise<DeployResult> {
  const desired = stackToProto(o.stack, o.spec);
  const current = await stackServices(control, o.stack);
  const currentSpecs: Record<string, ServiceSpec> = {};
  for (const [key, s] of current) if (s.spec) currentSpecs[key] = s.spec;
  const plan = planServiceSpecs(currentSpecs, desired, { prune: o.prune });
  if (o.dryRun) return { plan, changed: [] };

  // Checked before any write, so a name clash cannot leave the stack half applied.
  const creates = plan.services.filter((x) => x.action === 'create').map((x) => serviceName(o.stack, x.service));
  if (creates.length > 0) {
    const clash = await control.listServices({ names: creates });
    if (clash.length > 0) throw new StackConflictError(o.stack, clash.map((s) => s.spec?.annotations?.name ?? s.id));
  }

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
        const cur = current.get(p.service)!;
        changed.push(await control.updateService(cur.id, cur.meta?.version ?? 0n, desired[p.service]!));
        break;
      }
      case 'unchanged':
        o.log(`service ${name}: unchanged`);
        break;
      case 'keep':
        o.log(`service ${name}: kept (not in the stack file; --prune removes it)`);
        break;
      case 'remove':
        break;
    }
  }
  return { plan, changed };
}
