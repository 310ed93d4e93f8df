// One service of a loaded stack as the proto ServiceSpec the control API takes, converted the
// way `docker stack deploy` converts Compose to Swarm: Compose's entrypoint is the container's
// command and Compose's command its args; `labels` go on the container, `deploy.labels` on the
// service; every object carries the stack namespace label so `stack ls/rm` can find it.
import {
  EndpointSpec_ResolutionMode,
  Mount_Type,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  RestartPolicy_Condition,
  ServiceSpec,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  type ConfigReference,
  type ContainerSpec,
  type Duration,
  type HealthConfig,
  type Mount,
  type NetworkAttachmentConfig,
  type Placement,
  type PortConfig,
  type ResourceRequirements,
  type Resources,
  type RestartPolicy,
  type SecretReference,
  type UpdateConfig,
} from '../../proto/gen/types.js';
import type { DeploySpec, FileReference, MountSpec, ServiceSpec as StackService, StackSpec, UpdateConfigSpec } from './model.js';
import { defaultNetworkName, objectName, serviceName } from './names.js';

/** On services, containers and volumes: the stack an object belongs to. */
export const STACK_NAMESPACE_LABEL = 'shoal.stack.namespace';
/** On services: the image as written in the file (the container's image may later be pinned). */
export const STACK_IMAGE_LABEL = 'shoal.stack.image';
/** Cluster ids of the stack's secrets and configs, by their names in the cluster. A name
 *  without an id (not created yet, e.g. in --dry-run) is sent with an empty id. */
export interface ObjectIds {
  secrets: ReadonlyMap<string, string>;
  configs: ReadonlyMap<string, string>;
}

const noIds: ObjectIds = { secrets: new Map(), configs: new Map() };

export function durationOf(ms: number): Duration {
  return { nanos: BigInt(Math.round(ms * 1e6)) };
}

/** Maps with sorted keys and no prototype surprises, so equal specs encode to equal bytes. */
function sortedMap(m: Readonly<Record<string, string>>, extra: Record<string, string> = {}): Record<string, string> {
  const all: Record<string, string> = { ...m, ...extra };
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]!]));
}

// Short syntax: target = source (secrets under /run/secrets, configs at /<source>: the loader
// fills these in); uid/gid "0" and mode 0444 unless the long syntax says otherwise.
function fileTarget(r: FileReference) {
  return { name: r.target, uid: r.uid, gid: r.gid, mode: r.mode };
}

function secretRefs(stack: string, svc: StackService, spec: StackSpec, ids: ObjectIds): SecretReference[] {
  return svc.secrets.map((r) => {
    const o = spec.secrets[r.source];
    const name = o ? objectName(stack, r.source, o) : `${stack}_${r.source}`;
    return { secretId: ids.secrets.get(name) ?? '', secretName: name, file: fileTarget(r) };
  });
}

function configRefs(stack: string, svc: StackService, spec: StackSpec, ids: ObjectIds): ConfigReference[] {
  return svc.configs.map((r) => {
    const o = spec.configs[r.source];
    const name = o ? objectName(stack, r.source, o) : `${stack}_${r.source}`;
    return { configId: ids.configs.get(name) ?? '', configName: name, file: fileTarget(r) };
  });
}

function mountOf(stack: string, m: MountSpec, volumes: StackSpec['volumes']): Mount {
  const base = { consistency: '', bindPropagation: '', volumeLabels: {}, volumeNoCopy: false, tmpfsSizeBytes: 0n, tmpfsMode: 0, source: '', target: m.target, readOnly: m.readOnly };
  switch (m.type) {
    case 'bind':
      return { ...base, type: Mount_Type.BIND, source: m.source, bindPropagation: m.propagation ?? '', consistency: m.consistency ?? '' };
    case 'tmpfs':
      return { ...base, type: Mount_Type.TMPFS, tmpfsSizeBytes: BigInt(m.sizeBytes ?? 0), tmpfsMode: m.mode ?? 0 };
    case 'volume': {
      const spec = m.source !== undefined ? volumes[m.source] : undefined;
      const source = m.source === undefined ? '' : spec ? objectName(stack, m.source, spec) : `${stack}_${m.source}`;
      const labels = spec && !spec.external ? sortedMap(spec.labels, { [STACK_NAMESPACE_LABEL]: stack }) : {};
      return { ...base, type: Mount_Type.VOLUME, source, volumeNoCopy: m.noCopy, volumeLabels: labels, consistency: m.consistency ?? '' };
    }
  }
}

function healthOf(h: NonNullable<StackService['healthcheck']>): HealthConfig {
  const d = (ms: number | undefined) => (ms === undefined ? undefined : durationOf(ms));
  return {
    test: h.test ?? [],
    interval: d(h.intervalMs),
    timeout: d(h.timeoutMs),
    retries: h.retries ?? 0,
    startPeriod: d(h.startPeriodMs),
    startInterval: d(h.startIntervalMs),
  };
}

function containerOf(stack: string, svc: StackService, spec: StackSpec, ids: ObjectIds): ContainerSpec {
  const labels: Record<string, string> = { [STACK_NAMESPACE_LABEL]: stack };
  return {
    image: svc.image,
    labels: sortedMap(svc.labels, labels),
    command: svc.entrypoint ?? [],
    args: svc.command ?? [],
    hostname: svc.hostname ?? '',
    env: Object.keys(svc.environment).sort().map((k) => `${k}=${svc.environment[k]}`),
    dir: svc.workingDir ?? '',
    user: svc.user ?? '',
    groups: [...svc.groupAdd],
    tty: svc.tty,
    openStdin: svc.stdinOpen,
    readOnly: svc.readOnly,
    mounts: svc.mounts.map((m) => mountOf(stack, m, spec.volumes)),
    stopSignal: svc.stopSignal ?? '',
    stopGracePeriod: svc.stopGracePeriodMs === undefined ? undefined : durationOf(svc.stopGracePeriodMs),
    healthcheck: svc.healthcheck ? healthOf(svc.healthcheck) : undefined,
    hosts: Object.keys(svc.extraHosts).flatMap((host) => svc.extraHosts[host]!.map((ip) => `${ip} ${host}`)),
    init: svc.init ?? false,
    capAdd: [...svc.capAdd],
    capDrop: [...svc.capDrop],
    sysctls: sortedMap(svc.sysctls),
    ulimits: Object.keys(svc.ulimits).sort().map((name) => ({ name, soft: BigInt(svc.ulimits[name]!.soft), hard: BigInt(svc.ulimits[name]!.hard) })),
    dnsNameservers: [...svc.dns],
    dnsSearch: [...svc.dnsSearch],
    dnsOptions: [...svc.dnsOptions],
    secrets: secretRefs(stack, svc, spec, ids),
    configs: configRefs(stack, svc, spec, ids),
  };
}

function resourcesOf(r: { nanoCpus?: number; memoryBytes?: number; pids?: number }): Resources | undefined {
  if (r.nanoCpus === undefined && r.memoryBytes === undefined && r.pids === undefined) return undefined;
  return { nanoCpus: BigInt(r.nanoCpus ?? 0), memoryBytes: BigInt(r.memoryBytes ?? 0), pids: BigInt(r.pids ?? 0), generic: [] };
}

function requirementsOf(d: DeploySpec): ResourceRequirements | undefined {
  const limits = resourcesOf(d.resources.limits);
  const reservations = resourcesOf(d.resources.reservations);
  return limits || reservations ? { limits, reservations } : undefined;
}

const conditions = { any: RestartPolicy_Condition.ANY, 'on-failure': RestartPolicy_Condition.ON_FAILURE, none: RestartPolicy_Condition.NONE } as const;

function restartOf(d: DeploySpec): RestartPolicy {
  const p = d.restartPolicy;
  // A window of 0 means "count attempts forever": left unset, as the proto documents.
  return { condition: conditions[p.condition], delay: durationOf(p.delayMs), maxAttempts: p.maxAttempts, window: p.windowMs > 0 ? durationOf(p.windowMs) : undefined };
}

function placementOf(d: DeploySpec): Placement {
  return {
    constraints: [...d.placement.constraints],
    preferences: d.placement.preferences.map((p) => ({ preference: { $case: 'spread', value: { spreadDescriptor: p.spread } } })),
    maxReplicas: d.placement.maxReplicasPerNode ?? 0,
    platforms: [],
  };
}

const failureActions = { pause: UpdateConfig_FailureAction.PAUSE, continue: UpdateConfig_FailureAction.CONTINUE, rollback: UpdateConfig_FailureAction.ROLLBACK } as const;

function updateOf(u: UpdateConfigSpec): UpdateConfig {
  return {
    parallelism: u.parallelism,
    delay: durationOf(u.delayMs),
    failureAction: failureActions[u.failureAction],
    monitor: durationOf(u.monitorMs),
    // The wire type is a 32-bit float: round here so the spec read back compares equal.
    maxFailureRatio: Math.fround(u.maxFailureRatio),
    order: u.order === 'start-first' ? UpdateConfig_Order.START_FIRST : UpdateConfig_Order.STOP_FIRST,
  };
}

function networksOf(stack: string, key: string, svc: StackService, spec: StackSpec): NetworkAttachmentConfig[] {
  const keys = Object.keys(svc.networks);
  if (keys.length === 0) return [{ target: defaultNetworkName(stack), aliases: [key] }];
  return keys
    .map((net) => {
      const ns = spec.networks[net];
      // The service's own key is an alias on every network, so `web` resolves inside the stack.
      return { target: ns ? objectName(stack, net, ns) : `${stack}_${net}`, aliases: [key, ...svc.networks[net]!.aliases] };
    })
    .sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

function portOf(p: StackService['ports'][number]): PortConfig {
  const protocol = p.protocol === 'udp' ? PortConfig_Protocol.UDP : p.protocol === 'sctp' ? PortConfig_Protocol.SCTP : PortConfig_Protocol.TCP;
  return { name: '', protocol, targetPort: p.target, publishedPort: p.published ?? 0, publishMode: p.mode === 'host' ? PortConfig_PublishMode.HOST : PortConfig_PublishMode.INGRESS };
}

function modeOf(d: DeploySpec): ServiceSpec['mode'] {
  switch (d.mode) {
    case 'replicated':
      return { $case: 'replicated', value: { replicas: d.replicas ?? 1 } };
    case 'global':
      return { $case: 'global', value: {} };
    case 'replicated-job':
      // As Swarm does: run `replicas` completions, all of them at once.
      return { $case: 'replicatedJob', value: { maxConcurrent: d.replicas ?? 1, totalCompletions: d.replicas ?? 1 } };
    case 'global-job':
      return { $case: 'globalJob', value: {} };
  }
}

/** The proto spec of service `key` of `spec`, deployed as stack `stack`. */
export function serviceToProto(stack: string, key: string, spec: StackSpec, ids: ObjectIds = noIds): ServiceSpec {
  const svc = spec.services[key];
  if (!svc) throw new Error(`service ${key} is not in the stack`);
  const d = svc.deploy;
  return ServiceSpec.fromPartial({
    annotations: { name: serviceName(stack, key), labels: sortedMap(d.labels, { [STACK_NAMESPACE_LABEL]: stack, [STACK_IMAGE_LABEL]: svc.image }) },
    task: {
      container: containerOf(stack, svc, spec, ids),
      resources: requirementsOf(d),
      restart: restartOf(d),
      placement: placementOf(d),
      networks: networksOf(stack, key, svc, spec),
      logDriver: svc.logging?.driver !== undefined || Object.keys(svc.logging?.options ?? {}).length > 0
        ? { name: svc.logging?.driver ?? '', options: sortedMap(svc.logging?.options ?? {}) }
        : undefined,
      forceUpdate: 0n,
    },
    mode: modeOf(d),
    update: updateOf(d.updateConfig),
    rollback: updateOf(d.rollbackConfig),
    endpoint: { mode: d.endpointMode === 'dnsrr' ? EndpointSpec_ResolutionMode.DNSRR : EndpointSpec_ResolutionMode.VIP, ports: svc.ports.map(portOf) },
    networks: [],
  });
}

/** Every service of the stack, by its key in the file. */
export function stackToProto(stack: string, spec: StackSpec, ids: ObjectIds = noIds): Record<string, ServiceSpec> {
  const out: Record<string, ServiceSpec> = {};
  for (const key of Object.keys(spec.services).sort()) out[key] = serviceToProto(stack, key, spec, ids);
  return out;
}
