// The Control calls for secrets, configs and networks, shared by `shoal secret|config|network`
// and `shoal stack deploy|rm`. Secrets and configs have the same shape (id, meta, spec with
// annotations and data), so one set of calls serves both, chosen by `kind`.
import { ControlService } from '../../proto/gen/control.js';
import type { Config, ConfigSpec, Network, NetworkSpec, Secret, SecretSpec } from '../../proto/gen/types.js';
import { listAll, type Connection } from '../client/index.js';

export type FileKind = 'secret' | 'config';
/** A secret or a config (reads of a secret carry no data). */
export type FileObject = Secret | Config;
export type FileObjectSpec = SecretSpec | ConfigSpec;

export interface ObjectFilter {
  names?: string[];
  /** key=value must match; an empty value only requires the key. */
  labels?: Record<string, string>;
}

export interface ObjectControl {
  listFileObjects(kind: FileKind, filter?: ObjectFilter): Promise<FileObject[]>;
  /** By id, unique id prefix or name. */
  getFileObject(kind: FileKind, ref: string): Promise<FileObject>;
  createFileObject(kind: FileKind, spec: FileObjectSpec): Promise<FileObject>;
  /** Labels are the only mutable part; `version` is meta.version as read. */
  updateFileObjectLabels(kind: FileKind, id: string, version: bigint, labels: Record<string, string>): Promise<FileObject>;
  removeFileObject(kind: FileKind, ref: string): Promise<void>;
  listNetworks(filter?: ObjectFilter): Promise<Network[]>;
  getNetwork(ref: string): Promise<Network>;
  createNetwork(spec: NetworkSpec): Promise<Network>;
  removeNetwork(ref: string): Promise<void>;
}

/** The answer's object, which a successful call always carries. */
function present<T>(o: T | undefined, what: string): T {
  if (o === undefined) throw new Error(`the manager answered without the ${what}`);
  return o;
}

export function objectControl(conn: Connection): ObjectControl {
  const C = ControlService;
  return {
    listFileObjects: (kind, f = {}) => {
      const req = { names: f.names ?? [], labels: f.labels ?? {} };
      return kind === 'secret'
        ? listAll(conn, C.listSecrets, req, (r) => r.secrets)
        : listAll(conn, C.listConfigs, req, (r) => r.configs);
    },
    getFileObject: async (kind, ref) =>
      kind === 'secret'
        ? present((await conn.call(C.getSecret, { secretId: ref })).secret, kind)
        : present((await conn.call(C.getConfig, { configId: ref })).config, kind),
    createFileObject: async (kind, spec) =>
      kind === 'secret'
        ? present((await conn.call(C.createSecret, { spec })).secret, kind)
        : present((await conn.call(C.createConfig, { spec })).config, kind),
    updateFileObjectLabels: async (kind, id, version, labels) =>
      kind === 'secret'
        ? present((await conn.call(C.updateSecret, { secretId: id, version, labels })).secret, kind)
        : present((await conn.call(C.updateConfig, { configId: id, version, labels })).config, kind),
    removeFileObject: async (kind, ref) => {
      if (kind === 'secret') await conn.call(C.removeSecret, { secretId: ref });
      else await conn.call(C.removeConfig, { configId: ref });
    },
    listNetworks: (f = {}) => listAll(conn, C.listNetworks, { names: f.names ?? [], labels: f.labels ?? {} }, (r) => r.networks),
    getNetwork: async (ref) => present((await conn.call(C.getNetwork, { networkId: ref })).network, 'network'),
    createNetwork: async (spec) => present((await conn.call(C.createNetwork, { spec })).network, 'network'),
    removeNetwork: async (ref) => {
      await conn.call(C.removeNetwork, { networkId: ref });
    },
  };
}
