// The per-host data path of shoal's overlay networks; see README.md for the design.
export { OverlayHost, DEFAULT_DATA_PATH_PORT, type OverlayHostOptions } from './host.js';
export { adopt, removeAll, type AdoptReport, type DesiredState } from './adopt.js';
export * from './errors.js';
export * from './types.js';
export { LINK_PREFIX, NFT_TABLE, ROUTE_PROTO, vtepMac } from './names.js';
export { VXLAN_OVERHEAD } from './vxlan/driver.js';
export { GRE_OVERHEAD, type GreDataPath } from './gre/driver.js';
export type { GreChoice } from './gre/detect.js';
export { MIN_OVERLAY_MTU, type OverlayDriver } from './driver.js';
export * from './dns/index.js';
export * from './vip/index.js';
export * from './ingress/index.js';
