// The small parsers on their own: interpolation, sizes, durations, CPUs, shell words, edit distance.
import { describe, expect, it } from 'vitest';
import { interpolate, InterpolationError } from '../../../cli/stack/interpolate.js';
import { parseCpus, parseDuration, parseSize } from '../../../cli/stack/units.js';
import { splitShellWords } from '../../../cli/stack/shell-words.js';
import { closestKey, editDistance } from '../../../cli/stack/suggest.js';

describe('interpolate', () => {
  const env = { A: 'a', E: '', D: 'x-y' };
  it.each([
    ['plain', 'plain'], ['$A', 'a'], ['${A}', 'a'], ['${A}b$A', 'aba'], ['$$A', '$A'], ['$${A}', '${A}'],
    ['${U:-d}', 'd'], ['${E:-d}', 'd'], ['${E-d}', ''], ['${U-d}', 'd'], ['${A:-d}', 'a'],
    ['${A:+alt}', 'alt'], ['${E:+alt}', ''], ['${E+alt}', 'alt'], ['${U+alt}', ''],
    ['${U:-${A}-${D}}', 'a-x-y'], ['${U-v4.1-3.0.2}', 'v4.1-3.0.2'], ['${U:-a}}', 'a}'],
    ['{{.Node.ID}}', '{{.Node.ID}}'], ['${U:-{{.Task.Slot}}}', '{{.Task.Slot}}'], ['a$', null], ['$-', null],
  ])('%s -> %s', (input, out) => {
    if (out === null) expect(() => interpolate(input, env)).toThrow(InterpolationError);
    else expect(interpolate(input, env).value).toBe(out);
  });

  it('reports unset variables used without a default', () => {
    expect(interpolate('$U ${V} ${W:-x}', {}).unset).toEqual(['U', 'V']);
  });

  it.each([['${U?need U}', /U is unset: need U/], ['${E:?need E}', /E is empty: need E/], ['${A', /unterminated/], ['${1}', /invalid variable name/], ['${A!x}', /after the name use/]])('%s is an error', (input, message) => {
    expect(() => interpolate(input, env)).toThrow(message);
  });
});

describe('sizes, durations and cpus', () => {
  it.each([['100k', 102_400], ['512m', 512 * 1024 ** 2], ['1.5G', 1.5 * 1024 ** 3], ['2gb', 2 * 1024 ** 3], ['1GiB', 1024 ** 3], ['1024', 1024], [4096, 4096]])('size %s', (v, n) => {
    expect(parseSize(v)).toEqual({ ok: true, value: n });
  });
  it.each(['-512M', '1.5X', '', 'abc', '99999999T', -1, 1.5])('size %s is invalid', (v) => {
    expect(parseSize(v).ok).toBe(false);
  });
  it.each([['1h2m3s4ms', 3_723_004], ['1.5h', 5_400_000], ['250us', 0.25], ['0', 0], [0, 0]])('duration %s', (v, ms) => {
    expect(parseDuration(v)).toEqual({ ok: true, value: ms });
  });
  it.each(['10 parsecs', '10', '-1s', '1s 2s', 's', 10])('duration %s is invalid', (v) => {
    expect(parseDuration(v).ok).toBe(false);
  });
  it.each([['0.5', 5e8], [2, 2e9], ['.25', 2.5e8]])('cpus %s', (v, n) => {
    expect(parseCpus(v)).toEqual({ ok: true, value: n });
  });
  it.each(['abc', '-1', 0, '1e3x'])('cpus %s is invalid', (v) => {
    expect(parseCpus(v).ok).toBe(false);
  });
});

describe('shell words and suggestions', () => {
  it.each([
    ['a b  c', ['a', 'b', 'c']], [`echo "a b" 'c d'`, ['echo', 'a b', 'c d']], ['a\\ b', ['a b']],
    [`sh -c "echo \\"hi\\""`, ['sh', '-c', 'echo "hi"']], ['', []], [`""`, ['']],
  ])('%s', (input, words) => {
    expect(splitShellWords(input)).toEqual(words);
  });
  it('unterminated quotes are errors', () => {
    expect(splitShellWords('echo "a')).toEqual({ error: 'unterminated double quote' });
    expect(splitShellWords("echo 'a")).toEqual({ error: 'unterminated single quote' });
  });
  it('edit distance counts a transposition as one edit', () => {
    expect(editDistance('servcies', 'services')).toBe(1);
    expect(editDistance('replica', 'replicas')).toBe(1);
    expect(closestKey('replica', ['mode', 'replicas', 'labels'])).toBe('replicas');
    expect(closestKey('zzz', ['mode', 'replicas'])).toBeUndefined();
    expect(closestKey('Image', ['image'])).toBe('image');
  });
});

describe('cluster names of stack objects', () => {
  it('prefixes created objects with the stack, keeps external and explicit names', async () => {
    const { objectName, serviceName, defaultNetworkName, checkStackName } = await import('../../../cli/stack/names.js');
    const base = { external: false, driver: 'overlay', driverOpts: {}, attachable: false, internal: false, enableIpv6: false, labels: {} };
    expect(serviceName('shop', 'web')).toBe('shop_web');
    expect(objectName('shop', 'back', base)).toBe('shop_back');
    expect(objectName('shop', 'back', { ...base, name: 'fixed' })).toBe('fixed');
    expect(objectName('shop', 'traefik-public', { ...base, external: true })).toBe('traefik-public');
    expect(defaultNetworkName('shop')).toBe('shop_default');
    expect(() => checkStackName('shop-1.prod')).not.toThrow();
    for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(64)]) expect(() => checkStackName(bad)).toThrow(/invalid stack name/);
  });
});
