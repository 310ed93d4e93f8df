// Image references normalize the way Docker shows them, and bad ones say what is wrong.
import { describe, expect, it } from 'vitest';
import { InvalidReferenceError, normalizeReference } from '../../../agent/images/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('normalizeReference', () => {
  it.each([
    ['busybox', 'busybox:latest'],
    ['busybox:latest', 'busybox:latest'],
    ['library/redis:7', 'redis:7'],
    ['docker.io/library/redis:7', 'redis:7'],
    ['index.docker.io/myorg/app', 'myorg/app:latest'],
    ['myorg/app:v1.2-rc_3', 'myorg/app:v1.2-rc_3'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/team/app:1', 'localhost:5000/team/app:1'],
    ['registry.example.com/a/b/c', 'registry.example.com/a/b/c:latest'],
    ['library/library', 'library:latest'],
    ['my-app__x.y', 'my-app__x.y:latest'],
    [`busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `busybox:1@${D}`],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeReference(input)).toBe(expected);
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['busybox:', /tag/],
    ['busybox:-x', /tag/],
    ['a//b', /empty path component/],
    ['-a', /lowercase/],
    ['busybox@sha256:abc', /digest/],
    [`x:${'t'.repeat(129)}`, /tag/],
    ['a b', /lowercase/],
  ])('refuses %j', (input, why) => {
    expect(() => normalizeReference(input)).toThrow(InvalidReferenceError);
    expect(() => normalizeReference(input)).toThrow(why);
  });
});
