// Several -c files merged in order: Compose's rules, and problems reported for every file with
// the file that holds them.
import { describe, expect, it } from 'vitest';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import { expectProblem } from './helpers.js';

function merge(...texts: string[]) {
  return loadStackTexts({ texts: texts.map((text, i) => ({ file: `f${i + 1}.yml`, text })), env: {}, workingDir: '/srv' });
}

function mergeError(...texts: string[]): StackFileError {
  try { merge(...texts); } catch (err) { if (err instanceof StackFileError) return err; throw err; }
  throw new Error('expected a StackFileError');
}

const base = `services:
  web:
    image: web:1
    command: ["serve", "--port", "80"]
    environment: [A=1, B=1]
    labels: {team: a}
    ports: ["80:80", "443:443"]
    volumes: ["data:/data", "./conf:/etc/web:ro"]
    secrets: [s1]
    cap_add: [NET_ADMIN]
    deploy:
      replicas: 2
      resources: {limits: {memory: 1G, cpus: "1"}}
      placement: {constraints: [node.role == worker]}
volumes: {data: {}}
secrets: {s1: {file: ./s1}, s2: {file: ./s2}}
`;

describe('merging -c files', () => {
  it('mappings merge key by key, scalars and plain lists are replaced', () => {
    const web = merge(base, `services:
  web:
    image: web:2
    command: serve
    environment: {B: "2", C: "3"}
    labels: [tier=front]
    deploy:
      resources: {limits: {memory: 2G}}
      placement: {constraints: [node.labels.ssd == true]}
`).stack.services.web!;
    expect(web.image).toBe('web:2');
    expect(web.command).toEqual(['serve']);
    expect(web.environment).toEqual({ A: '1', B: '2', C: '3' });
    expect(web.labels).toEqual({ team: 'a', tier: 'front' });
    expect(web.deploy.replicas).toBe(2);
    expect(web.deploy.resources.limits).toEqual({ memoryBytes: 2 * 1024 ** 3, nanoCpus: 1e9 });
    expect(web.deploy.placement.constraints).toEqual(['node.labels.ssd == true']);
  });

  it('ports, volumes, secrets and capabilities merge by identity', () => {
    const web = merge(base, `services:
  web:
    ports: ["80:80", "8080:8080"]
    volumes: ["/srv/other:/etc/web", "/logs:/logs"]
    secrets: [{source: s1, mode: 0400}, s2]
    cap_add: [NET_ADMIN, SYS_TIME]
`).stack.services.web!;
    expect(web.ports.map((p) => p.published)).toEqual([80, 443, 8080]);
    expect(web.mounts).toEqual([
      { type: 'volume', source: 'data', target: '/data', readOnly: false, noCopy: false },
      { type: 'bind', source: '/srv/other', target: '/etc/web', readOnly: false },
      { type: 'bind', source: '/logs', target: '/logs', readOnly: false },
    ]);
    expect(web.secrets.map((s) => [s.source, s.mode])).toEqual([['s1', 0o400], ['s2', 0o444]]);
    expect(web.capAdd).toEqual(['NET_ADMIN', 'SYS_TIME']);
  });

  it('an override may add services and top-level objects, and refer to the base file', () => {
    const { stack } = merge(base, 'services:\n  worker:\n    image: w\n    volumes: ["data:/d"]\n    networks: [jobs]\nnetworks:\n  jobs: {}\n');
    expect(Object.keys(stack.services)).toEqual(['web', 'worker']);
    expect(stack.services.worker!.networks).toEqual({ jobs: { aliases: [] } });
    expect(Object.keys(merge(base, 'networks:\n  extra: {driver: overlay}\n').stack.networks)).toEqual(['extra']);
  });

  it('a partial override needs no image; the merged service does', () => {
    expect(merge(base, 'services:\n  web:\n    deploy: {replicas: 5}\n').stack.services.web!.deploy.replicas).toBe(5);
    const p = expectProblem(mergeError(base, 'services:\n  extra:\n    deploy: {replicas: 5}\n'), { path: 'services.extra', line: 2, column: 3, message: /no image/ });
    expect(p.file).toBe('f2.yml');
  });

  it('problems of every file are reported together, each with its own file', () => {
    const err = mergeError('services:\n  web:\n    image: x\n    deploy: {replica: 1}\n', 'services:\n  web:\n    ports: ["99999:80"]\n', 'services: [\n');
    expect(err.problems.map((p) => p.file)).toEqual(['f1.yml', 'f2.yml', 'f3.yml']);
    expect(err.problems[0]).toMatchObject({ line: 4, column: 14, path: 'services.web.deploy.replica' });
    expect(err.problems[1]).toMatchObject({ line: 3, column: 13, path: 'services.web.ports[0]' });
  });

  it('a cross-file conflict points at the file that introduced it', () => {
    const err = mergeError(base, 'services:\n  web:\n    deploy:\n      mode: global\n');
    // replicas comes from the base file, where the key is written
    expect(err.problems[0]).toMatchObject({ file: 'f1.yml', path: 'services.web.deploy.replicas', line: 12 });
  });
});
