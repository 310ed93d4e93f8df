// Does this kernel make gretap devices? Asked once per host at open by making one in a
// throwaway network namespace (unshare --net): nothing is ever left behind, and module
// autoloading (rtnl-link-gretap) is tried as it would be for a real network.
import type { Kernel } from '../kernel.js';
import type { GreDataPath } from './driver.js';

export type GreChoice = GreDataPath | 'auto';

export async function kernelHasGretap(kernel: Kernel): Promise<boolean> {
  return kernel.canMakeLink('gretap', ['key', '1']);
}

/**
 * The data path GRE networks of this host use: the kernel's where it has gretap, else the
 * userspace one. SHOAL_GRE_DATAPATH=kernel|userspace (or the option) forces one.
 */
export async function chooseGreDataPath(kernel: Kernel, choice: GreChoice | undefined): Promise<GreDataPath> {
  const want = choice ?? (process.env.SHOAL_GRE_DATAPATH as GreChoice | undefined) ?? 'auto';
  if (want === 'kernel' || want === 'userspace') return want;
  return (await kernelHasGretap(kernel)) ? 'kernel' : 'userspace';
}
