// Issue 12: the image store reads "missing" (ENOENT) as absence and nothing else. A record it
// cannot read for another reason is an error, not an image that is silently "not found".
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageNotFoundError, ImageStore } from '../../../agent/images/index.js';
import { tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('read-errors'));
});
afterAll(async () => cleanup());

describe('image store reads', () => {
  it('a missing reference is not found', async () => {
    const store = new ImageStore({ root: join(dir, 'a') });
    await expect(store.resolve('docker.io/library/absent:1')).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it('a reference that cannot be read (EISDIR) is that error, not "not found"', async () => {
    const store = new ImageStore({ root: join(dir, 'b') });
    // the ref file of docker.io/library/broken:1 is a directory: readFile fails with EISDIR
    mkdirSync(join(dir, 'b', 'refs', encodeURIComponent('broken:1')), { recursive: true }); // refs are stored by short name
    await expect(store.resolve('docker.io/library/broken:1')).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
