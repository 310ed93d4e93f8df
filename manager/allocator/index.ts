// Address management: networks' subnets and VNIs, services' virtual IPs, tasks' addresses.
export { Allocator, type AllocatorOptions } from './allocator.js';
export { attachmentTargets, networksAllocated, releasesAddresses } from './attachments.js';
export { CidrError, parseCidr, formatCidr, type Cidr } from './cidr.js';
export { procHostRoutes, parseProcRoutes, type HostRoute, type HostRoutes } from './host-routes.js';
export { checkDefaultPool, defaultPoolOf, DEFAULT_POOL, DEFAULT_POOL_MASK_LENGTH, type DefaultPool } from './subnet-pool.js';
export { parseAddressing, subnetConflict, type NetworkAddressing, type TakenSubnet } from './user-subnet.js';
export { allocatedAddressing, VNI_MIN, VNI_MAX } from './network-table.js';
export { resolveDriver, DATA_PATH_DRIVERS, type DataPathDriver } from './drivers.js';
export { AddressPool } from './address-pool.js';
export { defaultGateway } from './user-subnet.js';
