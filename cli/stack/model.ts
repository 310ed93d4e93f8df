// The typed result of loading a stack file: what the control API will receive from
// `shoal stack deploy`. Durations are milliseconds, memory bytes, CPU nano-CPUs; file modes
// are numbers (0o440 = 288). Names are as written in the file (without the stack prefix).

export interface StackSpec {
  services: Record<string, ServiceSpec>;
  networks: Record<string, NetworkSpec>;
  volumes: Record<string, VolumeSpec>;
  secrets: Record<string, FileObjectSpec>;
  configs: Record<string, FileObjectSpec>;
}

export type ServiceMode = 'replicated' | 'global' | 'replicated-job' | 'global-job';

export interface ServiceSpec {
  image: string;
  /** Overrides the image's CMD; absent keeps it. */
  command?: string[];
  /** Overrides the image's ENTRYPOINT; absent keeps it. */
  entrypoint?: string[];
  /** Resolved values; a variable absent from the caller's environment is left out. */
  environment: Record<string, string>;
  /** Container labels. */
  labels: Record<string, string>;
  user?: string;
  workingDir?: string;
  hostname?: string;
  domainname?: string;
  readOnly: boolean;
  init?: boolean;
  tty: boolean;
  stdinOpen: boolean;
  stopSignal?: string;
  stopGracePeriodMs?: number;
  healthcheck?: HealthcheckSpec;
  mounts: MountSpec[];
  capAdd: string[];
  capDrop: string[];
  sysctls: Record<string, string>;
  ulimits: Record<string, { soft: number; hard: number }>;
  secrets: FileReference[];
  configs: FileReference[];
  ports: PortSpec[];
  /** Network name -> attachment options; a service with none is on `default`. */
  networks: Record<string, NetworkAttachment>;
  /** Host name -> its addresses in file order (an IPv4 and an IPv6 address may share a name). */
  extraHosts: Record<string, string[]>;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** Supplementary groups of the container's process, names or ids. */
  groupAdd: string[];
  logging?: { driver?: string; options: Record<string, string> };
  deploy: DeploySpec;
}

export interface HealthcheckSpec {
  /** ["NONE"] | ["CMD", ...] | ["CMD-SHELL", cmd]; absent keeps the image's test. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
  startIntervalMs?: number;
}

export type MountSpec =
  | { type: 'bind'; source: string; target: string; readOnly: boolean; propagation?: string; consistency?: string }
  | { type: 'volume'; source?: string; target: string; readOnly: boolean; noCopy: boolean; consistency?: string }
  | { type: 'tmpfs'; target: string; readOnly: boolean; sizeBytes?: number; mode?: number };

export interface FileReference {
  /** Name of the top-level secret or config. */
  source: string;
  /** Secrets: a name under /run/secrets or an absolute path; configs: an absolute path. */
  target: string;
  uid: string;
  gid: string;
  mode: number;
}

export interface PortSpec {
  target: number;
  /** Absent: the cluster picks a port when the mode is ingress. */
  published?: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode: 'ingress' | 'host';
}

export interface NetworkAttachment {
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

export interface DeploySpec {
  mode: ServiceMode;
  /** Replicated modes: tasks to run (replicated-job: completions). Absent for global modes. */
  replicas?: number;
  labels: Record<string, string>;
  endpointMode: 'vip' | 'dnsrr';
  placement: { constraints: string[]; preferences: { spread: string }[]; maxReplicasPerNode?: number };
  resources: {
    limits: { nanoCpus?: number; memoryBytes?: number; pids?: number };
    reservations: { nanoCpus?: number; memoryBytes?: number };
  };
  restartPolicy: RestartPolicySpec;
  updateConfig: UpdateConfigSpec;
  rollbackConfig: UpdateConfigSpec;
}

export interface RestartPolicySpec {
  condition: 'none' | 'on-failure' | 'any';
  delayMs: number;
  /** 0 means unlimited. */
  maxAttempts: number;
  /** 0 means unbounded. */
  windowMs: number;
}

export interface UpdateConfigSpec {
  /** 0 means all at once. */
  parallelism: number;
  delayMs: number;
  failureAction: 'pause' | 'continue' | 'rollback';
  monitorMs: number;
  maxFailureRatio: number;
  order: 'stop-first' | 'start-first';
}

export interface NetworkSpec {
  /** The name the cluster uses: `name:` if given, else `<stack>_<key>` (external: `name` or key). */
  name?: string;
  external: boolean;
  driver: string;
  driverOpts: Record<string, string>;
  attachable: boolean;
  internal: boolean;
  enableIpv6: boolean;
  labels: Record<string, string>;
  ipam?: { driver?: string; config: { subnet?: string; ipRange?: string; gateway?: string }[] };
}

export interface VolumeSpec {
  name?: string;
  external: boolean;
  driver: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
}

export interface FileObjectSpec {
  name?: string;
  external: boolean;
  /** Absolute path of the file whose content becomes the secret or config. */
  file?: string;
  /** Name of the deployer's environment variable whose value becomes the content (read at
   *  deploy time, so `stack config` never prints it). */
  environment?: string;
  labels: Record<string, string>;
  templateDriver?: string;
}
