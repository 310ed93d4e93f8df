// Bounds on what one image may make the store write: a 10 MB gzip of zeros unpacks to gigabytes,
// and a layer of a million empty files costs as much as one of real ones. Each bound is per layer
// (its uncompressed tar, which is at least what lands on disk) plus one on a whole archive's
// uncompressed size; all can be raised by flag or environment when an image is genuinely that big.
import { LayerLimitError } from './errors.js';

export interface LayerLimits {
  /** Uncompressed bytes of one layer tar (SHOAL_MAX_LAYER_SIZE, --max-layer-size). */
  layerBytes: number;
  /** Entries in one layer tar (SHOAL_MAX_LAYER_ENTRIES, --max-layer-entries). */
  layerEntries: number;
  /** Uncompressed bytes of a whole image archive as loaded (SHOAL_MAX_ARCHIVE_SIZE, --max-archive-size). */
  archiveBytes: number;
}

const GiB = 1024 ** 3;

/** Larger than any layer of a real image we know of (CUDA's biggest are ~6 GiB), far below a disk. */
export const DEFAULT_LAYER_LIMITS: Readonly<LayerLimits> = Object.freeze({
  layerBytes: 20 * GiB,
  layerEntries: 1_000_000,
  archiveBytes: 64 * GiB,
});

/** How a user raises each bound, for error messages. */
export const LIMIT_KNOBS: Readonly<Record<keyof LayerLimits, { flag: string; env: string; what: string }>> = Object.freeze({
  layerBytes: { flag: '--max-layer-size', env: 'SHOAL_MAX_LAYER_SIZE', what: "the limit on one layer's unpacked size" },
  layerEntries: { flag: '--max-layer-entries', env: 'SHOAL_MAX_LAYER_ENTRIES', what: 'the limit on the entries of one layer' },
  archiveBytes: { flag: '--max-archive-size', env: 'SHOAL_MAX_ARCHIVE_SIZE', what: "the limit on an image archive's unpacked size" },
});

/** "20g", "512m", "100k", "4096" (bytes; binary multiples). */
export function parseByteSize(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  const mult = m ? { '': 1, k: 1024, m: 1024 ** 2, g: GiB, t: 1024 ** 4 }[m[2]!.toLowerCase() as ''] : undefined;
  const n = m && mult !== undefined ? Math.floor(Number(m[1]) * mult) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new LayerLimitSettingError(`${name} must be a size such as 20g, 512m or 4096, got ${JSON.stringify(v)}`);
  return n;
}

function parseCount(v: string, name: string): number {
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n) || n <= 0) throw new LayerLimitSettingError(`${name} must be a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

export class LayerLimitSettingError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'LayerLimitSettingError';
  }
}

/** The limits in force: flags first, then the environment, then the defaults. */
export function layerLimits(flags: { maxLayerSize?: string; maxLayerEntries?: string; maxArchiveSize?: string } = {}, env: NodeJS.ProcessEnv = process.env): LayerLimits {
  const pick = (flag: string | undefined, key: keyof LayerLimits): [string, string] | undefined => {
    const k = LIMIT_KNOBS[key];
    if (flag !== undefined) return [flag, k.flag];
    const e = env[k.env];
    return e !== undefined && e !== '' ? [e, k.env] : undefined;
  };
  const out: LayerLimits = { ...DEFAULT_LAYER_LIMITS };
  const size = pick(flags.maxLayerSize, 'layerBytes');
  if (size) out.layerBytes = parseByteSize(...size);
  const entries = pick(flags.maxLayerEntries, 'layerEntries');
  if (entries) out.layerEntries = parseCount(...entries);
  const archive = pick(flags.maxArchiveSize, 'archiveBytes');
  if (archive) out.archiveBytes = parseByteSize(...archive);
  return out;
}

/** The error for `source` going past `key`'s bound. */
export function limitExceeded(source: string, key: keyof LayerLimits, limit: number): LayerLimitError {
  const k = LIMIT_KNOBS[key];
  const amount = key === 'layerEntries' ? `${limit} entries` : humanBytes(limit);
  const raised = key === 'layerEntries' ? String(limit * 2) : sizeArg(limit * 2);
  return new LayerLimitError(source, `it has more than ${amount}, ${k.what}`, `if the image is genuine, raise it with ${k.flag} ${raised} or ${k.env}=${raised}`);
}

function humanBytes(n: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', GiB], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${+(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

function sizeArg(n: number): string {
  for (const [unit, size] of [['t', 1024 ** 4], ['g', GiB], ['m', 1024 ** 2], ['k', 1024]] as const) {
    if (n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}
