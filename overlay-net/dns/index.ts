// The embedded DNS server of a host and the files it makes containers use; see README.md.
export { DnsServer, DEFAULT_DNS_TTL, type DnsServerOptions } from './server.js';
export { ServiceRecords, type DnsService, type DnsTask, type Resolution } from './records.js';
export { containerHosts, containerResolvConf, parseUpstream, resolversOf, type HostsInput, type ResolvConfInput, type Upstream } from './files.js';
