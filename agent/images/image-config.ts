// Reads the parts of an OCI / Docker image config JSON that the store keeps, and writes the
// config of an imported rootfs. Field names follow the OCI image spec ("config.Entrypoint"...).
import type { ImageConfig } from './types.js';
import { isDigest } from './blobs.js';

export interface ParsedImageConfig {
  config: ImageConfig;
  diffIds: string[];
  created?: string;
  os?: string;
  architecture?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Returns undefined-free ImageConfig from an OCI config's "config" object; `why` names bad input. */
export function parseImageConfig(value: unknown, fail: (why: string) => never): ParsedImageConfig {
  if (!isObject(value)) fail('the image config is not a JSON object');
  const rootfs = value.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) fail('the image config has no rootfs.diff_ids');
  const diffIds = rootfs.diff_ids as unknown[];
  for (const d of diffIds) if (!isDigest(d)) fail(`the image config lists a bad diff id ${JSON.stringify(d)}`);
  const c = isObject(value.config) ? value.config : {};
  const config: ImageConfig = {};
  const entrypoint = strings(c.Entrypoint);
  if (entrypoint) config.entrypoint = entrypoint;
  const cmd = strings(c.Cmd);
  if (cmd) config.cmd = cmd;
  const env = strings(c.Env);
  if (env) config.env = env;
  const workingDir = str(c.WorkingDir);
  if (workingDir) config.workingDir = workingDir;
  const user = str(c.User);
  if (user) config.user = user;
  if (isObject(c.ExposedPorts)) config.exposedPorts = Object.keys(c.ExposedPorts).sort();
  if (isObject(c.Labels)) {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.Labels)) if (typeof v === 'string') labels[k] = v;
    config.labels = labels;
  }
  const stopSignal = str(c.StopSignal);
  if (stopSignal) config.stopSignal = stopSignal;
  return {
    config,
    diffIds: diffIds as string[],
    created: str(value.created),
    os: str(value.os),
    architecture: str(value.architecture),
  };
}

/** The OCI config JSON for `config` over `diffIds` (keys in a fixed order, for stable ids). */
export function buildImageConfig(config: ImageConfig, diffIds: string[], created?: string): Buffer {
  const c: Json = {};
  if (config.user) c.User = config.user;
  if (config.exposedPorts?.length) c.ExposedPorts = Object.fromEntries(config.exposedPorts.map((p) => [p, {}]));
  if (config.env?.length) c.Env = config.env;
  if (config.entrypoint?.length) c.Entrypoint = config.entrypoint;
  if (config.cmd?.length) c.Cmd = config.cmd;
  if (config.workingDir) c.WorkingDir = config.workingDir;
  if (config.labels && Object.keys(config.labels).length) c.Labels = config.labels;
  if (config.stopSignal) c.StopSignal = config.stopSignal;
  const doc: Json = {
    ...(created ? { created } : {}),
    architecture: goArch(),
    os: 'linux',
    config: c,
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  return Buffer.from(JSON.stringify(doc));
}

/** Node's process.arch in the GOARCH spelling OCI platforms use. */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}
