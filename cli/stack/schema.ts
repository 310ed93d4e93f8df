// Our JSON schema of the Compose format as `docker stack deploy` reads it (written for shoal,
// not copied from compose-spec). It checks shapes and types after interpolation and casting;
// value syntax (ports, sizes, durations) is checked by the normalisers, which know the units.
// Keys that cluster mode ignores are listed with loose shapes so they pass and warn later.

type Schema = Record<string, unknown>;

const extensions = { '^x-': {} };
const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
/** Counts (replicas, retries, pids...): the cluster stores them as 32-bit values. */
const count: Schema = { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 };
const strOrNum: Schema = { type: ['string', 'number'] };
const duration: Schema = { type: ['string', 'number'] };
const stringList: Schema = { type: 'array', items: str };
const stringOrList: Schema = { type: ['string', 'array'], items: str };
const scalarValue: Schema = { type: ['string', 'number', 'boolean', 'null'] };
/** `KEY=VALUE` list or mapping, as environment, labels and sysctls accept. */
const listOrDict: Schema = { type: ['object', 'array'], items: str, additionalProperties: scalarValue };
const dict: Schema = { type: 'object', additionalProperties: scalarValue };
const anything: Schema = {};

function obj(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, required, additionalProperties: false, patternProperties: extensions };
}

const external: Schema = { type: ['boolean', 'object'], properties: { name: str }, additionalProperties: false, patternProperties: extensions };

const updateConfig = (actions: string[]) => obj({
  parallelism: count,
  delay: duration,
  failure_action: { type: 'string', enum: actions },
  monitor: duration,
  max_failure_ratio: { type: 'number', minimum: 0, maximum: 1 },
  order: { type: 'string', enum: ['start-first', 'stop-first'] },
});

const resourceSet = (extra: Record<string, Schema>) => obj({ cpus: strOrNum, memory: strOrNum, ...extra });

const deploy = obj({
  mode: { type: 'string', enum: ['replicated', 'global', 'replicated-job', 'global-job'] },
  replicas: count,
  labels: listOrDict,
  endpoint_mode: { type: 'string', enum: ['vip', 'dnsrr'] },
  placement: obj({
    constraints: stringList,
    preferences: { type: 'array', items: obj({ spread: str }, ['spread']) },
    max_replicas_per_node: count,
  }),
  resources: obj({
    limits: resourceSet({ pids: count }),
    reservations: resourceSet({ generic_resources: { type: 'array' }, devices: { type: 'array' } }),
  }),
  restart_policy: obj({
    condition: { type: 'string', enum: ['none', 'on-failure', 'any'] },
    delay: duration,
    max_attempts: count,
    window: duration,
  }),
  update_config: updateConfig(['continue', 'rollback', 'pause']),
  rollback_config: updateConfig(['continue', 'pause']),
});

const healthcheck = obj({
  test: stringOrList, interval: duration, timeout: duration, retries: count,
  start_period: duration, start_interval: duration, disable: bool,
});

const port: Schema = {
  type: ['string', 'integer', 'object'],
  properties: {
    target: { type: 'integer' }, published: { type: ['string', 'integer'] },
    protocol: str, mode: { type: 'string', enum: ['ingress', 'host'] },
    host_ip: str, name: str, app_protocol: str,
  },
  required: ['target'], additionalProperties: false, patternProperties: extensions,
};

const volumeMount: Schema = {
  type: ['string', 'object'],
  properties: {
    // cluster (CSI) passes here so that the mount parser can say it is not supported
    type: { type: 'string', enum: ['volume', 'bind', 'tmpfs', 'cluster'] },
    source: str, target: str, read_only: bool, consistency: str,
    bind: obj({ propagation: str, create_host_path: bool, selinux: { type: 'string', enum: ['z', 'Z'] } }),
    volume: obj({ nocopy: bool, subpath: str }),
    tmpfs: obj({ size: strOrNum, mode: { type: 'integer', minimum: 0 } }),
  },
  required: ['target'], additionalProperties: false, patternProperties: extensions,
};

const fileReference: Schema = {
  type: ['string', 'object'],
  properties: { source: str, target: str, uid: str, gid: str, mode: { type: 'integer', minimum: 0 } },
  required: ['source'], additionalProperties: false, patternProperties: extensions,
};

const serviceNetworks: Schema = {
  type: ['array', 'object'],
  items: str,
  additionalProperties: {
    type: ['object', 'null'],
    properties: { aliases: stringList, ipv4_address: str, ipv6_address: str, link_local_ips: stringList, priority: { type: 'number' }, driver_opts: dict },
    additionalProperties: false, patternProperties: extensions,
  },
  patternProperties: extensions,
};

/** Keys that `docker stack deploy` accepts and ignores; they are warned about, never applied. */
export const clusterIgnoredServiceKeys = [
  'build', 'depends_on', 'container_name', 'links', 'external_links', 'network_mode', 'privileged',
  'restart', 'cgroup_parent', 'cgroup', 'devices', 'security_opt', 'userns_mode', 'pid', 'ipc',
  'shm_size', 'mac_address', 'expose', 'platform', 'pull_policy', 'oom_score_adj',
  'oom_kill_disable', 'volumes_from', 'runtime', 'storage_opt', 'blkio_config', 'device_cgroup_rules',
  'gpus', 'develop', 'attach', 'annotations', 'credential_spec', 'uts', 'isolation',
] as const;

const ignored: Record<string, Schema> = Object.fromEntries(
  clusterIgnoredServiceKeys.map((k) => [k, anything]),
);
ignored.restart = { type: 'string' };

const service = obj({
  image: str,
  command: { type: ['string', 'array', 'null'], items: str },
  entrypoint: { type: ['string', 'array', 'null'], items: str },
  environment: listOrDict,
  env_file: { type: ['string', 'array'], items: { type: ['string', 'object'], properties: { path: str, required: bool }, required: ['path'], additionalProperties: false } },
  labels: listOrDict,
  deploy,
  user: str, working_dir: str, hostname: str, domainname: str,
  read_only: bool, init: bool, tty: bool, stdin_open: bool,
  stop_signal: str, stop_grace_period: duration,
  healthcheck,
  volumes: { type: 'array', items: volumeMount },
  tmpfs: stringOrList,
  cap_add: stringList, cap_drop: stringList,
  sysctls: listOrDict,
  ulimits: {
    type: 'object', patternProperties: extensions,
    additionalProperties: { type: ['integer', 'object'], properties: { soft: { type: 'integer' }, hard: { type: 'integer' } }, required: ['soft', 'hard'], additionalProperties: false },
  },
  secrets: { type: 'array', items: fileReference },
  configs: { type: 'array', items: fileReference },
  ports: { type: 'array', items: port },
  networks: serviceNetworks,
  // a mapping's value may list several addresses of one name
  extra_hosts: { type: ['object', 'array'], items: str, additionalProperties: { type: ['string', 'array'], items: str } },
  dns: stringOrList, dns_search: stringOrList, dns_opt: stringList,
  logging: obj({ driver: str, options: { type: ['object', 'null'], additionalProperties: scalarValue } }),
  group_add: { type: 'array', items: strOrNum },
  profiles: stringList,
  ...ignored,
});

const fileObject = (extra: Record<string, Schema>) => obj({
  file: str, environment: str, external, name: str, labels: listOrDict, template_driver: str, ...extra,
});

// `services` is not required per file: an override may only add networks. The merged result
// must have services (normalize-stack.ts).
export const composeSchema: Schema = {
  $id: 'https://shoal.invalid/schema/stack.json',
  ...obj({
    version: strOrNum,
    name: str,
    services: { type: 'object', additionalProperties: service, patternProperties: extensions },
    networks: {
      type: ['object', 'null'], patternProperties: extensions,
      additionalProperties: {
        type: ['object', 'null'],
        properties: {
          driver: str, driver_opts: dict, external, name: str, attachable: bool, internal: bool,
          enable_ipv6: bool, labels: listOrDict, scope: str,
          ipam: obj({ driver: str, options: dict, config: { type: 'array', items: obj({ subnet: str, ip_range: str, gateway: str, aux_addresses: dict }) } }),
        },
        additionalProperties: false, patternProperties: extensions,
      },
    },
    volumes: {
      type: ['object', 'null'], patternProperties: extensions,
      additionalProperties: {
        type: ['object', 'null'],
        properties: { driver: str, driver_opts: dict, external, name: str, labels: listOrDict },
        additionalProperties: false, patternProperties: extensions,
      },
    },
    secrets: { type: ['object', 'null'], patternProperties: extensions, additionalProperties: fileObject({ driver: str, driver_opts: dict }) },
    configs: { type: ['object', 'null'], patternProperties: extensions, additionalProperties: fileObject({}) },
  }),
};
