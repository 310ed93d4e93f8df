// The Control calls for secrets, configs and networks, shared by `shoal secret|config|network`
// and `shoal stack deploy|rm`. Secrets and configs have the same shape (id, meta, spec with
// annotations and data), so one set of calls serves both, chosen by `kind`.
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

const cap = (k: FileKind) => (k === 'secret' ? 'Secret' : 'Config');

export function objectControl(conn: Connection): ObjectControl {
  const call = <Res>(method: string, req: unknown): Promise<Res> =>
    conn.call<ReturnType<Connection['controlClient']>, unknown, Res>(conn.controlClient(), method as never, req);
  const filter = (f: ObjectFilter = {}) => ({ names: f.names ?? [], labels: f.labels ?? {} });
  return {
    listFileObjects: (kind, f) => listAll<FileObject>(conn, `list${cap(kind)}s`, filter(f), `${kind}s`),
    getFileObject: async (kind, ref) => (await call<Record<string, FileObject>>(`get${cap(kind)}`, { [`${kind}Id`]: ref }))[kind]!,
    createFileObject: async (kind, spec) => (await call<Record<string, FileObject>>(`create${cap(kind)}`, { spec }))[kind]!,
    updateFileObjectLabels: async (kind, id, version, labels) =>
      (await call<Record<string, FileObject>>(`update${cap(kind)}`, { [`${kind}Id`]: id, version, labels }))[kind]!,
    removeFileObject: async (kind, ref) => {
      await call(`remove${cap(kind)}`, { [`${kind}Id`]: ref });
    },
    listNetworks: (f) => listAll<Network>(conn, 'listNetworks', filter(f), 'networks'),
    getNetwork: async (ref) => (await call<{ network: Network }>('getNetwork', { networkId: ref })).network,
    createNetwork: async (spec) => (await call<{ network: Network }>('createNetwork', { spec })).network,
    removeNetwork: async (ref) => {
      await call('removeNetwork', { networkId: ref });
    },
  };
}
