// Which data path (overlay-net/) a network uses. Users may name it as Swarm does (`overlay`,
// the default, with `-o encap=vxlan|gre|routed`), directly (`vxlan`, `gre`, `routed`), or as
// flannel does (`host-gw` = routed). The allocator stores the resolved name, so an agent reads
// one of three words.
export const DATA_PATH_DRIVERS = ['vxlan', 'gre', 'routed'] as const;
export type DataPathDriver = (typeof DATA_PATH_DRIVERS)[number];

const isDataPath = (s: string): s is DataPathDriver => (DATA_PATH_DRIVERS as readonly string[]).includes(s);

/** The data path of a network's driver and options, or why there is none (for the user). */
export function resolveDriver(name: string, options: Readonly<Record<string, string>>): { driver: DataPathDriver } | { problem: string } {
  const encap = options.encap;
  if (encap !== undefined && !isDataPath(encap)) return { problem: `encap option "${encap}" is not one of vxlan, gre, routed` };
  if (!name || name === 'overlay') return { driver: encap ?? 'vxlan' };
  const direct = name === 'host-gw' ? 'routed' : name;
  if (!isDataPath(direct)) return { problem: `driver "${name}" is unknown: use overlay (VXLAN; -o encap=gre or routed for the others), vxlan, gre, routed or host-gw` };
  if (encap !== undefined && encap !== direct) return { problem: `driver "${name}" and encap option "${encap}" disagree: give one of them` };
  return { driver: direct };
}
