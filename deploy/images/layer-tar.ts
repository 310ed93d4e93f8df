// Packs a layer tar from an in-memory description, reproducibly: entries sorted by path, fixed
// mtime, numeric owners without names, so the same inputs always give the same bytes.
import * as tar from 'tar-stream';

/** 2024-01-01T00:00:00Z: every entry and the image config carry this time. */
export const FIXED_MTIME = new Date(Date.UTC(2024, 0, 1));

export type LayerEntry =
  | { path: string; type: 'dir'; mode?: number; uid?: number; gid?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number; uid?: number; gid?: number }
  | { path: string; type: 'symlink'; target: string };

export async function packLayer(entries: LayerEntry[]): Promise<Buffer> {
  const seen = new Set<string>();
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of sorted) {
    if (seen.has(e.path)) throw new Error(`layer lists ${e.path} twice`);
    seen.add(e.path);
    const common = { name: e.path, mtime: FIXED_MTIME, uname: '', gname: '' };
    if (e.type === 'dir') {
      pack.entry({ ...common, type: 'directory', mode: e.mode ?? 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0 });
    } else if (e.type === 'file') {
      pack.entry({ ...common, type: 'file', mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, size: e.data.length }, e.data);
    } else {
      pack.entry({ ...common, type: 'symlink', linkname: e.target, mode: 0o777, uid: 0, gid: 0 });
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Adds a dir entry for every missing parent of the entries' paths. */
export function withParentDirs(entries: LayerEntry[]): LayerEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const out = [...entries];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ path: dir, type: 'dir' });
      }
    }
  }
  return out;
}
