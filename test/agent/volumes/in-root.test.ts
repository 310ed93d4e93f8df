// resolveInRoot follows symlinks as the container would (inside the root), so an image's links
// never lead the agent's copy-up out to the host's files.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveInRoot } from '../../../agent/volumes/index.js';

const root = mkdtempSync(join(tmpdir(), 'shoalsa-inroot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'srv', 'data'), { recursive: true });
symlinkSync('/etc', join(root, 'etc-link'));
symlinkSync('../../..', join(root, 'srv', 'up'));
symlinkSync('srv/data', join(root, 'rel'));
symlinkSync('loop2', join(root, 'loop1'));
symlinkSync('loop1', join(root, 'loop2'));

describe('resolveInRoot', () => {
  it('resolves plain paths, relative links and .. inside the root', () => {
    expect(resolveInRoot(root, '/srv/data')).toBe(join(root, 'srv', 'data'));
    expect(resolveInRoot(root, '/rel')).toBe(join(root, 'srv', 'data'));
    expect(resolveInRoot(root, '/srv/../srv/./data/')).toBe(join(root, 'srv', 'data'));
  });

  it('keeps absolute links and .. beyond / inside the root', () => {
    // the host's /etc exists, the root's does not: a host path here would be an escape
    expect(resolveInRoot(root, '/etc-link')).toBeUndefined();
    expect(resolveInRoot(root, '/srv/up/srv/data')).toBe(join(root, 'srv', 'data'));
    expect(resolveInRoot(root, '/../../srv')).toBe(join(root, 'srv'));
  });

  it('gives up on missing paths and symlink loops', () => {
    expect(resolveInRoot(root, '/nope/x')).toBeUndefined();
    expect(resolveInRoot(root, '/loop1')).toBeUndefined();
  });
});
