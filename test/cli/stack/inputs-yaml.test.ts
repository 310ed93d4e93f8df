// /work/shared/stack-inputs.md, "Ports" and "YAML itself": byte-level input goes through real
// files in a shoalsk-* temp directory, the rest through text.
import { mkdtempSync, rmSync, writeFileSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack } from '../../../cli/stack/load.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import { expectProblem, load, loadError, svc } from './helpers.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'shoalsk-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function loadFile(name: string, content: Buffer | string, limits = {}): ReturnType<typeof loadStack> {
  const file = join(dir, name);
  writeFileSync(file, content);
  return loadStack({ files: [file], env: {}, workingDir: dir, limits });
}

function fileError(name: string, content: Buffer | string, limits = {}): StackFileError {
  try {
    loadFile(name, content, limits);
  } catch (err) {
    if (err instanceof StackFileError) return err;
    throw err;
  }
  throw new Error('expected a StackFileError');
}

describe('ports', () => {
  it.each([
    ['"99999:80"', /published port 99999 is out of range/],
    ['"8080-8081:80-82"', /differ in length \(2 published, 3 container\)/],
    ['"80:80/icmp"', /unsupported protocol "icmp".*tcp, udp or sctp/],
    ['"80:0"', /container port 0 is out of range/],
    ['"a:b:c:d"', /use \[HOST_IP:\]\[PUBLISHED:\]TARGET/],
    ['{target: 70000}', /out of range/],
  ])('%s is an error at the entry', (entry, message) => {
    expectProblem(loadError(svc(`    ports:\n      - ${entry}\n`)), { path: 'services.web.ports[0]', line: 5, column: 9, message });
  });

  it('8080:80/udp, 3001-3005, a host address (dropped, with a warning), long syntax with mode: host', () => {
    const { stack, warnings } = load(svc('    ports:\n      - "8080:80/udp"\n      - "3001-3005"\n      - "127.0.0.1:8001:8001"\n      - 9000\n      - {target: 53, published: 5353, protocol: udp, mode: host}\n      - "[::1]:7000-7001:70-71"\n'));
    expect(stack.services.web!.ports).toEqual([
      { target: 80, published: 8080, protocol: 'udp', mode: 'ingress' },
      ...[3001, 3002, 3003, 3004, 3005].map((t) => ({ target: t, protocol: 'tcp', mode: 'ingress' })),
      { target: 8001, published: 8001, protocol: 'tcp', mode: 'ingress' },
      { target: 9000, protocol: 'tcp', mode: 'ingress' },
      { target: 53, published: 5353, protocol: 'udp', mode: 'host' },
      { target: 70, published: 7000, protocol: 'tcp', mode: 'ingress' },
      { target: 71, published: 7001, protocol: 'tcp', mode: 'ingress' },
    ]);
    expect(warnings).toContainEqual(expect.objectContaining({ path: 'services.web.ports[2]', line: 7, column: 9, message: expect.stringMatching(/host address 127\.0\.0\.1 .* is dropped/) }));
    expect(warnings).toContainEqual(expect.objectContaining({ path: 'services.web.ports[5]', message: expect.stringMatching(/::1/) }));
  });
});

describe('YAML itself', () => {
  it('duplicate keys in one mapping are an error', () => {
    expectProblem(loadError('services:\n  web:\n    image: a\n    image: b\n'), { path: 'services.web.image', line: 4, column: 5, message: /duplicate key `image`: keep one of them/ });
  });

  it('a tab used for indentation is an error with line and column', () => {
    const err = loadError('services:\n  web:\n\t  image: a\n');
    expectProblem(err, { line: 3, column: 1, message: /tab is used for indentation/ });
  });

  it('UTF-8 with a BOM and CRLF line endings are accepted', () => {
    const text = 'services:\r\n  web:\r\n    image: cafe\r\n    command: ["caf\u00e9", "b"]\r\n';
    const { stack } = loadFile('bom.yml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]));
    expect(stack.services.web).toMatchObject({ image: 'cafe', command: ['caf\u00e9', 'b'] });
  });

  it('NUL bytes and invalid UTF-8 are errors with their position', () => {
    expectProblem(fileError('nul.yml', Buffer.from('services:\n  web:\n    image: a\u0000b\n')), { line: 3, column: 13, message: /NUL byte/ });
    expectProblem(fileError('latin1.yml', Buffer.concat([Buffer.from('services:\n  web:\n    image: caf'), Buffer.from([0xe9]), Buffer.from('\n')])), { line: 3, column: 15, message: /invalid UTF-8/ });
    expectProblem(fileError('latin1b.yml', Buffer.concat([Buffer.from('services:\n  web:\n    image: \u00e9t\u00e9'), Buffer.from([0xff])])), { line: 3, column: 15, message: /invalid UTF-8/ });
    expectProblem(fileError('utf16.yml', Buffer.from('\ufeffservices: {}\n', 'utf16le')), { message: /NUL byte/ });
  });

  it('two documents are an error; one document opened with --- is fine', () => {
    expectProblem(loadError('services:\n  a: {image: x}\n---\nservices:\n  b: {image: y}\n'), { line: 3, column: 1, message: /second YAML document/ });
    expect(Object.keys(load('---\nservices:\n  a: {image: x}\n').stack.services)).toEqual(['a']);
    expect(Object.keys(load('---\nservices:\n  a: {image: x}\n...\n').stack.services)).toEqual(['a']);
  });

  it.each([
    ['', /file is empty: expected a mapping with a `services:` key/],
    ['# only a comment\n', /file is empty/],
    ['services:\n', /^expected a mapping of services by name, got nothing/],
    ['services: []\n', /^expected a mapping of services by name, got a list/],
    ['- a\n- b\n', /top level is a list/],
    ['just text\n', /top level is a scalar/],
    ['services:\n  web:\n', /^expected a mapping, got nothing/],
  ])('%j says what is expected', (text, message) => {
    expectProblem(loadError(text), { message });
  });

  it('anchors and << merge keys, including <<: [*a, *b] with overrides, as YAML says', () => {
    const text = [
      'x-base: &base', '  image: base', '  environment: {A: "1", B: "1"}', '  deploy: {replicas: 2}',
      'x-more: &more', '  image: more', '  user: more', '  hostname: more',
      'services:', '  one:', '    <<: [*base, *more]', '    hostname: own',
      '  two:', '    <<: *more', '    image: own', '    environment:', '      <<: {A: "x", C: "3"}', '      A: "2"', '',
    ].join('\n');
    const { stack } = load(text);
    expect(stack.services.one).toMatchObject({ image: 'base', user: 'more', hostname: 'own', environment: { A: '1', B: '1' } });
    expect(stack.services.one!.deploy.replicas).toBe(2);
    expect(stack.services.two).toMatchObject({ image: 'own', user: 'more', environment: { A: '2', C: '3' } });
    // an error inside an overriding key points at the override, not the anchor
    expectProblem(loadError(text.replace('hostname: own', 'read_only: maybe')), { path: 'services.one.read_only', line: 12, column: 16, message: /true or false/ });
  });

  it('well over a hundred aliases are fine: the expanded size is limited, not the alias count', () => {
    const services = Array.from({ length: 300 }, (_, i) => `  s${i}:\n    <<: *svc\n    environment: *env`).join('\n');
    const text = `x-svc: &svc\n  image: app\n  deploy: {replicas: 1}\nx-env: &env\n  A: "1"\nservices:\n${services}\n`;
    expect(Object.keys(load(text).stack.services)).toHaveLength(300);
  });

  it('an alias bomb (billion laughs) fails quickly in bounded memory', () => {
    const lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let i = 1; i < 10; i++) lines.push(`x-a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
    const text = `x-${lines[0]}\n${lines.slice(1).join('\n')}\nservices:\n  web:\n    image: x\n    command: *a9\n`;
    const before = process.memoryUsage().heapUsed;
    expectProblem(loadError(text.replace('x-a0', 'x-a0')), { message: /expands to more than \d+ values once its aliases are expanded .* is an alias nested into itself/ });
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(512 * 1024 * 1024);
  });

  it('a 50 MB file is refused before it is read', () => {
    const file = join(dir, 'big.yml');
    const fd = openSync(file, 'w');
    try { ftruncateSync(fd, 50 * 1024 * 1024); } finally { closeSync(fd); }
    expectProblem((() => { try { loadStack({ files: [file], env: {}, workingDir: dir }); } catch (e) { return e as StackFileError; } throw new Error('accepted'); })(),
      { path: '', message: /larger than 2 MiB/ });
  });

  it('a 10 MB scalar is an error (by file size, and by the scalar limit when files may be larger)', () => {
    const text = `services:\n  web:\n    image: x\n    hostname: ${'h'.repeat(10_000_000)}\n`;
    expectProblem(fileError('scalar.yml', text), { message: /larger than 2 MiB/ });
    expectProblem(fileError('scalar2.yml', text, { maxFileBytes: 16 * 1024 * 1024 }), { path: 'services.web.hostname', line: 4, column: 15, message: /longer than 1048576 characters/ });
  });

  it.each([
    ['flow', `services: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`],
    ['block', `services:\n${Array.from({ length: 10_000 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n')}\n`],
    ['shallow but over the limit', `services:\n  web:\n    image: x\n    x-deep: ${'{a: '.repeat(100)}1${'}'.repeat(100)}\n`],
  ])('10,000 levels of nesting (%s) are an error', (_, text) => {
    expectProblem(loadError(text), { message: /nest/ });
  });

  it.each(['!!python/object:os.system ls', '!!binary aGVsbG8=', '!custom x', '!!set {a}'])('tag %s is an error', (value) => {
    expectProblem(loadError(svc(`    hostname: ${value}\n`)), { path: 'services.web.hostname', line: 4, message: /tag/ });
  });

  it('an alias inside its own anchor is refused; an alias may be a key', () => {
    expectProblem(loadError('x-a: &a [1, *a]\nservices: {web: {image: x}}\n'), { line: 1, column: 13, message: /alias \*a is used inside its own anchor/ });
    expect(Object.keys(load('x-k: &k web\nservices:\n  *k : {image: x}\n').stack.services)).toEqual(['web']);
  });

  it('keys named like Object.prototype members are plain keys; __proto__ is refused', () => {
    expectProblem(loadError('services:\n  __proto__:\n    image: x\n'), { line: 2, column: 3, message: /`__proto__` cannot be used as a key/ });
    expect(Object.keys(load('services:\n  constructor: {image: x}\n  toString: {image: y}\n').stack.services)).toEqual(['constructor', 'toString']);
    expectProblem(loadError(svc('    networks: [toString]\n')), { message: /network "toString" is not declared/ });
    expectProblem(loadError(svc('    volumes: ["hasOwnProperty:/x"]\n')), { message: /volume "hasOwnProperty" is not declared/ });
  });

  it('explicit standard tags are fine', () => {
    expect(load(svc('    hostname: !!str 123\n    deploy: {replicas: !!int "2"}\n')).stack.services.web).toMatchObject({ hostname: '123', deploy: { replicas: 2 } });
  });
});
