// Issue 13: where the loader gave a different result from `docker stack deploy` on real files.
// Each case is a file a user wrote, and the result or the one clear error it must get.
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../rules/image-reference.js';
import { expectProblem, load, loadError, svc } from './helpers.js';

const hex = (n: number) => 'a1'.repeat(n / 2);

describe('an unset variable in a bind mount source', () => {
  it('is refused naming the variable, not turned into an anonymous volume', () => {
    const err = loadError(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'));
    const p = expectProblem(err, { path: 'services.web.volumes[0]', line: 5, column: 9, message: /empty source between colons/ });
    expect(p.message).toMatch(/variable MEDIA_PATH is unset or empty/);
    expectProblem(loadError(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'), { MEDIA_PATH: '' }), { message: /MEDIA_PATH is unset or empty/ });
    expect(load(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'), { MEDIA_PATH: '/srv/media' }).stack.services.web!.mounts)
      .toEqual([{ type: 'bind', source: '/srv/media', target: '/media/', readOnly: false }]);
  });

  it('empty sections between colons are refused as Docker does, with or without variables', () => {
    expectProblem(loadError(svc('    volumes:\n      - ":/media"\n')), { message: /empty source between colons/ });
    expectProblem(loadError(svc('    volumes:\n      - "/srv::ro"\n')), { message: /empty target between colons/ });
    expectProblem(loadError(svc('    volumes:\n      - "/srv:/x:"\n')), { message: /empty mode between colons/ });
  });

  it('long syntax: a source that interpolated to nothing is refused, naming the variable', () => {
    const err = loadError(svc('    volumes:\n      - {type: volume, source: "${DATA}", target: /data}\n', 'volumes:\n  data: {}\n'));
    expectProblem(err, { path: 'services.web.volumes[0]', message: /`source:` is empty.*variable DATA is unset or empty/ });
    // written empty on purpose: an anonymous volume, as in Docker
    expect(load(svc('    volumes:\n      - {type: volume, source: "", target: /data}\n')).stack.services.web!.mounts[0]).toMatchObject({ type: 'volume', target: '/data' });
  });
});

describe('image references are checked with the distribution grammar', () => {
  it.each([
    ['"nginx:"', /"nginx:": nothing follows ":"/],
    ['NGINX', /"NGINX" must be lowercase/],
    ['nginx@sha256:abc', /a sha256 digest has 64 hex digits, this one 3/],
    [`nginx@md5:${hex(32)}`, /unsupported digest algorithm "md5"/],
    [`nginx@sha256:${hex(64).toUpperCase()}`, /lowercase hex/],
    ['"nginx@"', /nothing follows "@"/],
    ['"-bad:1"', /must be lowercase letters and digits/],
    ['"my..app"', /must be lowercase letters and digits/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
  ])('image: %s is refused at its line', (image, message) => {
    expectProblem(loadError(`services:\n  web:\n    image: ${image}\n`), { path: 'services.web.image', line: 3, column: 12, message });
  });

  it('repo/app:${VERSION} with VERSION empty or unset is refused, naming VERSION', () => {
    for (const env of [{ VERSION: '' }, {}]) {
      expectProblem(loadError('services:\n  web:\n    image: repo/app:${VERSION}\n', env), { path: 'services.web.image', message: /"repo\/app:".*variable VERSION is unset or empty/ });
    }
    expectProblem(loadError('services:\n  web:\n    image: ${IMAGE}\n'), { path: 'services.web', message: /no image.*variable IMAGE is unset or empty/ });
  });

  it.each([
    'nginx', 'nginx:1.25-alpine', 'library/nginx', 'docker.io/library/nginx:1', 'localhost:5000/team/app:v2',
    `nginx@sha256:${hex(64)}`, `nginx:1.25@sha256:${hex(64)}`, `app@sha384:${hex(96)}`, `app@sha512:${hex(128)}`,
    '[::1]:5000/app:1', 'Registry.Example.com/a__b/c-d.e:TAG_1', 'a--b/c', `sha256:${hex(64)}`,
  ])('image: %s loads', (image) => {
    expect(load(`services:\n  web:\n    image: "${image}"\n`).stack.services.web!.image).toBe(image);
  });

  it('the shared grammar keeps its parts (used by the control API and the image store too)', () => {
    expect(parseImageReference('docker.io/library/redis:7')).toEqual({ ok: true, value: { repository: 'redis', tag: '7', digest: undefined } });
    expect(parseImageReference(`[::1]:5000/app@sha512:${hex(128)}`)).toEqual({ ok: true, value: { repository: '[::1]:5000/app', tag: undefined, digest: `sha512:${hex(128)}` } });
  });
});
