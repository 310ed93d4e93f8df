// `shoal stack config` end to end: a real process (tsx cli/main.ts), real files in a shoalsk-*
// temp directory, exit codes, stdout YAML, warnings and one-line errors on stderr.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tsx = join(repo, 'node_modules/.bin/tsx');
const fixtures = join(repo, 'test/cli/stack/fixtures');
let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'shoalsk-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

interface Run { code: number; stdout: string; stderr: string }

function shoal(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(tsx, [join(repo, 'cli/main.ts'), ...args], {
      cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env }, timeout: 60_000,
    }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

describe('shoal stack config', () => {
  it('prints the resolved stack, with warnings on stderr, and exits 0', async () => {
    const r = await shoal(['stack', 'config', '-c', join(fixtures, 'swarmprom-traefik.yml')], { DOMAIN: 'example.org', ADMIN_USER: 'admin', HASHED_PASSWORD: 'x' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = parse(r.stdout);
    expect(Object.keys(out.services)).toContain('grafana');
    expect(out.services.grafana.deploy.labels['traefik.http.routers.swarmprom-grafana-https.rule']).toBe('Host(`grafana.example.org`)');
    expect(out.services['node-exporter'].environment).toEqual({ NODE_ID: '{{.Node.ID}}' });
    expect(out.configs.dockerd_config.file).toBe(join(fixtures, 'dockerd-exporter/Caddyfile'));
  });

  it('merges -c files in order; relative paths start at the first file', async () => {
    write('base.yml', 'services:\n  web:\n    image: nginx:1\n    volumes: ["./site:/usr/share/nginx/html:ro"]\n    restart: always\n');
    write('prod.yml', 'services:\n  web:\n    image: nginx:${TAG:-2}\n    deploy: {replicas: 3}\n');
    const r = await shoal(['stack', 'config', '-c', 'base.yml', '-c', 'prod.yml']);
    expect(r.code).toBe(0);
    const web = parse(r.stdout).services.web;
    expect(web.image).toBe('nginx:2');
    expect(web.deploy.replicas).toBe(3);
    expect(web.mounts).toEqual([{ type: 'bind', source: join(dir, 'site'), target: '/usr/share/nginx/html', readOnly: true }]);
    expect(r.stderr).toBe('warning: base.yml:5:5: services.web.restart: `restart` is used only as the restart policy when deploy.restart_policy is absent\n');
  });

  it('an error is one line naming file, line, column and key; exit 1; no stack trace', async () => {
    write('typo.yml', 'services:\n  web:\n    image: nginx\n    deploy:\n      replica: 2\n');
    const r = await shoal(['stack', 'config', '-c', 'typo.yml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('shoal: typo.yml:5:7: services.web.deploy.replica: unknown key `replica`: did you mean `replicas`?\n');
  });

  it('several problems are listed in one message, and nothing is printed on stdout', async () => {
    write('many.yml', 'services:\n  web:\n    image: nginx\n    deploy: {replicas: "three"}\n    read_only: maybe\n    servcie: x\n');
    const r = await shoal(['stack', 'config', '-c', 'many.yml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^shoal: \d+ problems in the stack file:\n  many\.yml:4:24: services\.web\.deploy\.replicas: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['stack', 'config', '-c', 'missing.yml'], /^shoal: missing\.yml: no such file: check the -c path\n$/],
    [['stack', 'config', '-c', '.'], /^shoal: \.: is a directory: -c takes a Compose YAML file\n$/],
  ])('%j exits 1 with a one-line error', async (args, stderr) => {
    const r = await shoal(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(stderr);
  });

  it('a required variable that is unset quotes its message', async () => {
    write('req.yml', 'services:\n  web:\n    image: "app:${TAG?set TAG to the release}"\n');
    const r = await shoal(['stack', 'config', '-c', 'req.yml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('shoal: req.yml:3:12: services.web.image: required variable TAG is unset: set TAG to the release\n');
  });

  it('-c - reads the stack from standard input', async () => {
    const r = await shoal(['stack', 'config', '-c', '-'], {}, 'services:\n  web:\n    image: nginx\n    volumes: ["./x:/x"]\n');
    expect(r.code).toBe(0);
    expect(parse(r.stdout).services.web.mounts[0].source).toBe(join(dir, 'x'));
    const bad = await shoal(['stack', 'config', '-c', '-'], {}, 'services:\n  web:\n    image: nginx\n    deploy: {replicas: -1}\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('shoal: <stdin>:4:24: services.web.deploy.replicas: must be at least 0; got -1\n');
  });

  it('a pipe is read like a file (-c <(generator))', async () => {
    const fifo = join(dir, 'stack.fifo');
    await new Promise<void>((done, fail) => execFile('mkfifo', [fifo], (err) => (err ? fail(err) : done())));
    const writer = new Promise<void>((done, fail) => execFile('sh', ['-c', `printf 'services:\\n  web:\\n    image: piped\\n' > ${fifo}`], (err) => (err ? fail(err) : done())));
    const r = await shoal(['stack', 'config', '-c', fifo]);
    await writer;
    expect(r.code).toBe(0);
    expect(parse(r.stdout).services.web.image).toBe('piped');
  });

  it('without -c, a usage error says what to pass', async () => {
    const r = await shoal(['stack', 'config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('shoal: stack config needs a stack file: pass -c FILE (repeat -c to merge overrides)\n');
  });
});
