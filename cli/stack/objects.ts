// The secrets, configs and networks a stack file asks for, as the cluster will hold them:
// names (`<stack>_<key>` or `name:`), labels with the stack namespace, and the data read from
// `file:` or `environment:`. Everything is read and checked here, before anything is applied,
// so an unreadable file or an oversized secret changes nothing in the cluster.
import { readFileSync, statSync } from 'node:fs';
import { NetworkSpec as ProtoNetworkSpec } from '../../proto/gen/types.js';
import type { Environment } from './interpolate.js';
import type { FileObjectSpec, NetworkSpec, StackSpec } from './model.js';
import type { FileKind } from './object-control.js';
import { defaultNetworkName, objectName } from './names.js';
import { STACK_NAMESPACE_LABEL } from './to-proto.js';

/** The cluster's limit on a secret's or config's data. */
export const MAX_OBJECT_BYTES = 500 * 1024;

export interface DesiredFileObject {
  kind: FileKind;
  /** Key under the top-level `secrets:`/`configs:`. */
  key: string;
  /** Name in the cluster. */
  name: string;
  external: boolean;
  /** Created objects: the file's labels plus the namespace label, keys sorted. */
  labels: Record<string, string>;
  /** Created objects: the content. */
  data?: Buffer;
}

export interface DesiredNetwork {
  /** Key under the top-level `networks:` ("default" for the implicit one). */
  key: string;
  name: string;
  external: boolean;
  /** Created networks: the spec sent to CreateNetwork. */
  spec?: ProtoNetworkSpec;
}

export interface DesiredObjects {
  secrets: DesiredFileObject[];
  configs: DesiredFileObject[];
  /** Only networks some service is attached to, as Docker creates them. */
  networks: DesiredNetwork[];
}

/** Something outside the stack file that keeps the stack from deploying; nothing was applied. */
export class StackObjectError extends Error {
  readonly userError = true as const;
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? `${problems[0]}; nothing was changed` : `the stack cannot be deployed (nothing was changed):\n  ${problems.join('\n  ')}`);
    this.name = 'StackObjectError';
  }
}

export function sortedLabels(labels: Readonly<Record<string, string>>, stack?: string): Record<string, string> {
  const all: Record<string, string> = { ...labels, ...(stack !== undefined ? { [STACK_NAMESPACE_LABEL]: stack } : {}) };
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]!]));
}

export interface ObjectSources {
  /** Values for `environment:` (the deployer's environment). */
  env: Environment;
  readFile?: (path: string) => Buffer;
  fileSize?: (path: string) => number;
}

function dataOf(kind: FileKind, key: string, o: FileObjectSpec, src: ObjectSources, problems: string[]): Buffer | undefined {
  const what = `${kind} ${key}`;
  let data: Buffer | undefined;
  if (o.environment !== undefined) {
    const v = src.env[o.environment];
    if (v === undefined) {
      problems.push(`${what}: environment variable ${o.environment} is not set: export it before deploying, or use \`file:\``);
      return undefined;
    }
    data = Buffer.from(v, 'utf8');
  } else if (o.file !== undefined) {
    try {
      // The size first, so a mistaken path to a huge file is not read into memory.
      const size = (src.fileSize ?? ((p) => statSync(p).size))(o.file);
      if (size > MAX_OBJECT_BYTES) {
        problems.push(`${what}: ${o.file} is ${size} bytes, more than the ${MAX_OBJECT_BYTES} a ${kind} may hold: keep large files in an image or a volume`);
        return undefined;
      }
      data = (src.readFile ?? readFileSync)(o.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
      problems.push(`${what}: cannot read ${o.file} (${why}): fix \`file:\` under ${kind}s.${key} (relative paths start at the directory of the first -c file)`);
      return undefined;
    }
  }
  if (data && data.length > MAX_OBJECT_BYTES) {
    problems.push(`${what}: the content is ${data.length} bytes, more than the ${MAX_OBJECT_BYTES} a ${kind} may hold`);
    return undefined;
  }
  if (data && data.length === 0) {
    problems.push(`${what}: the content is empty${o.file !== undefined ? ` (${o.file})` : ''}: a ${kind} needs data`);
    return undefined;
  }
  return data;
}

function fileObjects(kind: FileKind, stack: string, objects: StackSpec['secrets'], src: ObjectSources, problems: string[]): DesiredFileObject[] {
  return Object.keys(objects).sort().map((key) => {
    const o = objects[key]!;
    const out: DesiredFileObject = { kind, key, name: objectName(stack, key, o), external: o.external, labels: o.external ? {} : sortedLabels(o.labels, stack) };
    if (!o.external) {
      const data = dataOf(kind, key, o, src, problems);
      if (data) out.data = data;
    }
    return out;
  });
}

/** The proto spec of a network the stack creates. */
export function networkSpecOf(stack: string, name: string, n: NetworkSpec): ProtoNetworkSpec {
  return ProtoNetworkSpec.fromPartial({
    annotations: { name, labels: sortedLabels(n.labels, stack) },
    driverConfig: { name: n.driver, options: sortedLabels(n.driverOpts) },
    ipv6Enabled: n.enableIpv6,
    internal: n.internal,
    attachable: n.attachable,
    ingress: false,
    ipam: n.ipam
      ? {
          driver: n.ipam.driver !== undefined ? { name: n.ipam.driver, options: {} } : undefined,
          configs: n.ipam.config.map((c) => ({ subnet: c.subnet ?? '', range: c.ipRange ?? '', gateway: c.gateway ?? '', reserved: {} })),
        }
      : undefined,
  });
}

const implicitDefault: NetworkSpec = { external: false, driver: 'overlay', driverOpts: {}, attachable: false, internal: false, enableIpv6: false, labels: {} };

function networks(stack: string, spec: StackSpec): DesiredNetwork[] {
  const used = new Set<string>();
  for (const svc of Object.values(spec.services)) {
    const keys = Object.keys(svc.networks);
    for (const k of keys.length > 0 ? keys : ['default']) used.add(k);
  }
  return [...used].sort().map((key) => {
    const declared = Object.prototype.hasOwnProperty.call(spec.networks, key) ? spec.networks[key] : undefined;
    const n = declared ?? implicitDefault;
    const name = declared ? objectName(stack, key, declared) : defaultNetworkName(stack);
    return n.external ? { key, name, external: true } : { key, name, external: false, spec: networkSpecOf(stack, name, n) };
  });
}

/** Reads every object's content; throws StackObjectError listing every problem. */
export function desiredObjects(stack: string, spec: StackSpec, src: ObjectSources): DesiredObjects {
  const problems: string[] = [];
  const out = {
    secrets: fileObjects('secret', stack, spec.secrets, src, problems),
    configs: fileObjects('config', stack, spec.configs, src, problems),
    networks: networks(stack, spec),
  };
  if (problems.length > 0) throw new StackObjectError(problems);
  return out;
}
