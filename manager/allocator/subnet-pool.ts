// The default address pool: where a network created without --subnet gets its subnet. Swarm's
// default, 10.0.0.0/8 cut into /24s, unless `shoal init --default-addr-pool` said otherwise.
import type { Cluster } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';
import { CidrError, formatCidr, last, overlaps, parseCidr, size, type Cidr } from './cidr.js';

export const DEFAULT_POOL = '10.0.0.0/8';
export const DEFAULT_POOL_MASK_LENGTH = 24;
/** Subnets larger than a /8 or smaller than a /30 are refused (a /30 leaves one task address). */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

export interface DefaultPool {
  readonly pools: readonly Cidr[];
  readonly maskLength: number;
}

/** The pool as written by `shoal init` (checked there), or the default. */
export function defaultPoolOf(cluster: ReadonlyDeep<Cluster> | undefined): DefaultPool {
  const cidrs = cluster?.defaultAddressPool?.length ? cluster.defaultAddressPool : [DEFAULT_POOL];
  const maskLength = cluster?.defaultAddressPoolMaskLength || DEFAULT_POOL_MASK_LENGTH;
  return { pools: cidrs.map((c) => parseCidr(c, 'default address pool')), maskLength };
}

/** Checks `shoal init --default-addr-pool ... --default-addr-pool-mask-length N`; throws CidrError. */
export function checkDefaultPool(cidrs: readonly string[], maskLength: number): void {
  const pools = cidrs.map((c) => parseCidr(c, '--default-addr-pool'));
  if (maskLength && (maskLength < MIN_PREFIX || maskLength > MAX_PREFIX)) {
    throw new CidrError(`--default-addr-pool-mask-length ${maskLength} is out of range: give ${MIN_PREFIX} to ${MAX_PREFIX} (default ${DEFAULT_POOL_MASK_LENGTH})`);
  }
  const mask = maskLength || DEFAULT_POOL_MASK_LENGTH;
  for (const p of pools) {
    if (p.prefix > mask) throw new CidrError(`--default-addr-pool ${formatCidr(p)} is smaller than one /${mask} subnet: give a larger pool or a longer --default-addr-pool-mask-length`);
  }
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      if (overlaps(pools[i]!, pools[j]!)) throw new CidrError(`--default-addr-pool ${formatCidr(pools[i]!)} overlaps ${formatCidr(pools[j]!)}: give pools that do not overlap`);
    }
  }
}

/**
 * The first subnet of the pool that overlaps nothing taken (other networks, the host's routes).
 * Walks the pools once, jumping over each taken block: O(pools + taken) after sorting.
 */
export function nextFreeSubnet(pool: DefaultPool, taken: readonly Cidr[]): Cidr | undefined {
  const sorted = [...taken].sort((a, b) => a.base - b.base);
  const step = 2 ** (32 - pool.maskLength);
  for (const p of pool.pools) {
    let base = p.base;
    let i = 0;
    while (base + step - 1 <= last(p)) {
      while (i < sorted.length && last(sorted[i]!) < base) i++;
      const blocker = sorted.slice(i).find((t) => overlaps(t, { base, prefix: pool.maskLength }));
      if (!blocker) return { base, prefix: pool.maskLength };
      base = Math.ceil((last(blocker) + 1) / step) * step;
    }
  }
  return undefined;
}

/** How many subnets the pool has in all (for messages). */
export function poolSubnets(pool: DefaultPool): number {
  return pool.pools.reduce((n, p) => n + Math.floor(size(p) / 2 ** (32 - pool.maskLength)), 0);
}
