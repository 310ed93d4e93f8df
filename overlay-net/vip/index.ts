// Services' virtual IPs in nftables (no IPVS); see README.md.
export { VipTable, VIP_LABEL, type BackendChange, type VipService, type VipTableOptions } from './table.js';
export { VIP_TABLE } from './rules.js';
