// Published ports (ingress and host mode) in nftables; see vip/README.md.
export { IngressTable, INGRESS_CT_MARK, INGRESS_TABLE, type IngressTableOptions, type PublishedPort } from './table.js';
