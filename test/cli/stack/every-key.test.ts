// Every service key issue 5 lists, in one file, normalised into the exact ServiceSpec; and
// env_file read from real files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack } from '../../../cli/stack/load.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import { load } from './helpers.js';

const everything = `
services:
  api:
    image: registry.example/api:2.1
    command: ["serve", "--port=8080"]
    entrypoint: /bin/tini --
    environment: {LOG: debug, WORKERS: 4}
    labels: [com.example.team=core]
    user: "1000:1000"
    working_dir: /app
    hostname: "api-{{.Task.Slot}}"
    read_only: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    healthcheck:
      test: ["CMD-SHELL", "curl -fs localhost:8080/health"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 30s
    volumes:
      - data:/var/lib/api:nocopy
      - type: bind
        source: /etc/ssl/certs
        target: /etc/ssl/certs
        read_only: true
        bind: {propagation: rslave}
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64m, mode: 01777}
    cap_add: [NET_BIND_SERVICE]
    cap_drop: [ALL]
    sysctls: {net.core.somaxconn: 1024}
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    secrets:
      - source: api_key
        target: /run/keys/api
        uid: "1000"
        gid: "1000"
        mode: 0400
    configs:
      - api_conf
    ports:
      - target: 8080
        published: 80
        protocol: tcp
        mode: ingress
      - "9090:9090/udp"
    networks:
      back:
        aliases: [api-internal]
    deploy:
      mode: replicated
      replicas: 3
      labels: {com.example.tier: backend}
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role == worker, node.labels.zone == a]
        preferences: [{spread: node.labels.rack}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "1.5", memory: 1.5G, pids: 200}
        reservations: {cpus: "0.25", memory: 256M}
      restart_policy: {condition: on-failure, delay: 10s, max_attempts: 5, window: 2m}
      update_config: {parallelism: 2, delay: 5s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.2, order: start-first}
      rollback_config: {parallelism: 0, delay: 0s, failure_action: continue, monitor: 10s, max_failure_ratio: 0, order: stop-first}
  agent:
    image: agent
    deploy: {mode: global-job}
networks:
  back: {driver: overlay, attachable: true, labels: [a=b], ipam: {config: [{subnet: 10.9.0.0/24}]}}
volumes:
  data: {driver: local, driver_opts: {type: none}}
secrets:
  api_key: {external: true, name: prod_api_key}
configs:
  api_conf: {file: ./api.conf, template_driver: golang}
`;

describe('every key of issue 5', () => {
  it('normalises into the exact StackSpec', () => {
    const { stack, warnings } = load(everything);
    // only what a deploy does not send (issue 13): nothing else of this file is ignored
    expect(warnings.map((w) => w.path)).toEqual(['volumes.data.driver_opts', 'configs.api_conf.template_driver']);
    expect(stack.services.api).toEqual({
      image: 'registry.example/api:2.1',
      command: ['serve', '--port=8080'],
      entrypoint: ['/bin/tini', '--'],
      environment: { LOG: 'debug', WORKERS: '4' },
      labels: { 'com.example.team': 'core' },
      user: '1000:1000',
      workingDir: '/app',
      hostname: 'api-{{.Task.Slot}}',
      readOnly: true,
      init: true,
      tty: false,
      stdinOpen: false,
      stopSignal: 'SIGINT',
      stopGracePeriodMs: 90_000,
      healthcheck: { test: ['CMD-SHELL', 'curl -fs localhost:8080/health'], intervalMs: 10_000, timeoutMs: 2000, retries: 3, startPeriodMs: 30_000 },
      mounts: [
        { type: 'volume', source: 'data', target: '/var/lib/api', readOnly: false, noCopy: true },
        { type: 'bind', source: '/etc/ssl/certs', target: '/etc/ssl/certs', readOnly: true, propagation: 'rslave' },
        { type: 'tmpfs', target: '/tmp', readOnly: false, sizeBytes: 64 * 1024 ** 2, mode: 0o1777 },
      ],
      capAdd: ['NET_BIND_SERVICE'],
      capDrop: ['ALL'],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: { nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 20000, hard: 40000 } },
      secrets: [{ source: 'api_key', target: '/run/keys/api', uid: '1000', gid: '1000', mode: 0o400 }],
      configs: [{ source: 'api_conf', target: '/api_conf', uid: '0', gid: '0', mode: 0o444 }],
      ports: [
        { target: 8080, published: 80, protocol: 'tcp', mode: 'ingress' },
        { target: 9090, published: 9090, protocol: 'udp', mode: 'ingress' },
      ],
      networks: { back: { aliases: ['api-internal'] } },
      extraHosts: {},
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      groupAdd: [],
      deploy: {
        mode: 'replicated',
        replicas: 3,
        labels: { 'com.example.tier': 'backend' },
        endpointMode: 'dnsrr',
        placement: { constraints: ['node.role == worker', 'node.labels.zone == a'], preferences: [{ spread: 'node.labels.rack' }], maxReplicasPerNode: 2 },
        resources: {
          limits: { nanoCpus: 1_500_000_000, memoryBytes: 1.5 * 1024 ** 3, pids: 200 },
          reservations: { nanoCpus: 250_000_000, memoryBytes: 256 * 1024 ** 2 },
        },
        restartPolicy: { condition: 'on-failure', delayMs: 10_000, maxAttempts: 5, windowMs: 120_000 },
        updateConfig: { parallelism: 2, delayMs: 5000, failureAction: 'rollback', monitorMs: 30_000, maxFailureRatio: 0.2, order: 'start-first' },
        rollbackConfig: { parallelism: 0, delayMs: 0, failureAction: 'continue', monitorMs: 10_000, maxFailureRatio: 0, order: 'stop-first' },
      },
    });
    expect(stack.services.agent!.deploy).toMatchObject({ mode: 'global-job', restartPolicy: { condition: 'on-failure' } });
    expect(stack.services.agent!.deploy.replicas).toBeUndefined();
    expect(stack.networks.back).toEqual({ external: false, driver: 'overlay', driverOpts: {}, attachable: true, internal: false, enableIpv6: false, labels: { a: 'b' }, ipam: { config: [{ subnet: '10.9.0.0/24' }] } });
    expect(stack.volumes.data).toEqual({ external: false, driver: 'local', driverOpts: { type: 'none' }, labels: {} });
    expect(stack.secrets.api_key).toEqual({ external: true, name: 'prod_api_key', labels: {} });
    expect(stack.configs.api_conf).toEqual({ external: false, file: '/srv/app/api.conf', labels: {}, templateDriver: 'golang' });
  });
});

describe('env_file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'shoalsk-')); });
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

  it('reads KEY=VALUE files relative to the working directory; environment: wins; a bare KEY comes from the caller', () => {
    writeFileSync(join(dir, 'common.env'), '# comment\n\nA=from-file\nB=x=y\nexport C=exported\nFROM_CALLER\nQUOTED="kept"\r\n');
    writeFileSync(join(dir, 'web.env'), 'A=second-file\nD=${NOT_INTERPOLATED}\n');
    writeFileSync(join(dir, 'stack.yml'), 'services:\n  web:\n    image: x\n    env_file: [common.env, ./web.env, {path: missing.env, required: false}]\n    environment: {B: from-environment}\n');
    const { stack } = loadStack({ files: [join(dir, 'stack.yml')], env: { FROM_CALLER: 'caller' }, workingDir: dir });
    expect(stack.services.web!.environment).toEqual({ A: 'second-file', B: 'from-environment', C: 'exported', FROM_CALLER: 'caller', QUOTED: '"kept"', D: '${NOT_INTERPOLATED}' });
  });

  it('a missing env_file is an error at its entry', () => {
    writeFileSync(join(dir, 'bad.yml'), 'services:\n  web:\n    image: x\n    env_file:\n      - nope.env\n');
    let err: StackFileError | undefined;
    try { loadStack({ files: [join(dir, 'bad.yml')], env: {}, workingDir: dir }); } catch (e) { err = e as StackFileError; }
    expect(err).toBeInstanceOf(StackFileError);
    expect(err!.problems[0]).toMatchObject({ line: 5, column: 9, path: 'services.web.env_file[0]' });
    expect(err!.message).toMatch(/cannot read env_file .*nope\.env \(ENOENT\)/);
  });
});
