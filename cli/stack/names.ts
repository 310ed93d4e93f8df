// Names the cluster gives to a stack's objects, as `docker stack deploy` does: services and
// created networks, volumes, secrets and configs are `<stack>_<key>` (or their `name:`);
// external objects are used by their `name:` or key as they are.
import { UsageError } from '../errors.js';
import type { FileObjectSpec, NetworkSpec, VolumeSpec } from './model.js';

const stackNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Throws a UsageError for a stack name the cluster could not use as a name prefix. */
export function checkStackName(name: string): void {
  if (!stackNamePattern.test(name) || name.length > 63) {
    throw new UsageError(`invalid stack name "${name}": use up to 63 letters, digits, "_", "." and "-", starting with a letter or digit`);
  }
}

export function serviceName(stack: string, key: string): string {
  return `${stack}_${key}`;
}

/** The cluster-wide name of a top-level network, volume, secret or config. */
export function objectName(stack: string, key: string, spec: NetworkSpec | VolumeSpec | FileObjectSpec): string {
  if (spec.name !== undefined) return spec.name;
  return spec.external ? key : `${stack}_${key}`;
}

/** The stack's implicit network for services that name none. */
export function defaultNetworkName(stack: string): string {
  return `${stack}_default`;
}
