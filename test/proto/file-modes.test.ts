// proto/file-modes.ts, the one rule for shoal's state on disk: what secureStateDirs makes,
// what it corrects (and reports) in an install that an older shoal left open, what it refuses,
// and what it must leave alone (image layers and containers' files keep their own modes).
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, secureStateDirs, StateDirError, type ModeFix } from '../../proto/file-modes.js';

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'shoalmodes-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const mode = (p: string): number => statSync(p).mode & 0o7777;
const ID = 'a'.repeat(64);

describe('secureStateDirs', () => {
  it('makes missing roots 0700 and reports nothing', () => {
    const fixes: ModeFix[] = [];
    secureStateDirs({ root: join(base, 'lib', 'shoal'), run: join(base, 'run') }, (f) => fixes.push(f));
    expect([mode(join(base, 'lib')), mode(join(base, 'lib', 'shoal')), mode(join(base, 'run'))]).toEqual([0o700, 0o700, 0o700]);
    expect(fixes).toEqual([]);
  });

  it('closes what an older install left open, shoal files 0600, and leaves layer contents alone', () => {
    const root = join(base, 'root');
    const run = join(base, 'run');
    const make = (p: string, m: number, file = false): void => {
      if (file) writeFileSync(p, 'x');
      else mkdirSync(p, { recursive: true });
      chmodSync(p, m);
    };
    make(root, 0o755);
    make(join(root, 'raft', 'wal'), 0o755);
    make(join(root, 'raft', 'wal', '0-1.wal'), 0o644, true);
    make(join(root, 'certificates'), 0o755);
    make(join(root, 'certificates', 'node.key'), 0o644, true);
    make(join(root, 'certificates', 'root.crt'), 0o644, true);
    make(join(root, 'node.json'), 0o644, true);
    make(join(root, 'images', 'layers', 'x', 'diff', 'bin'), 0o755);
    make(join(root, 'images', 'layers', 'x', 'diff', 'bin', 'su'), 0o4755, true);
    make(run, 0o755);
    make(join(run, 'containers', ID, 'upper'), 0o755);
    make(join(run, 'containers', ID, 'container.json'), 0o644, true);
    make(join(run, 'containers', '.names'), 0o755);
    const fixes: ModeFix[] = [];
    secureStateDirs({ root, run }, (f) => fixes.push(f));
    expect(Object.fromEntries(fixes.map((f) => [f.path.slice(base.length + 1), [f.was.toString(8), f.now.toString(8)]]))).toEqual({
      root: ['755', '700'],
      'root/raft': ['755', '700'],
      'root/raft/wal': ['755', '700'],
      'root/raft/wal/0-1.wal': ['644', '600'],
      'root/certificates': ['755', '700'],
      'root/certificates/node.key': ['644', '600'],
      'root/node.json': ['644', '600'],
      'root/images': ['755', '700'],
      run: ['755', '700'],
      'run/containers': ['755', '700'],
      [`run/containers/${ID}`]: ['755', '700'],
      [`run/containers/${ID}/container.json`]: ['644', '600'],
    });
    // an image's own modes are its business: setuid bits and 0755 stay, behind the 0700 dirs
    expect(mode(join(root, 'images', 'layers', 'x', 'diff', 'bin', 'su'))).toBe(0o4755);
    expect(mode(join(root, 'images', 'layers', 'x', 'diff', 'bin'))).toBe(0o755);
    expect(mode(join(run, 'containers', ID, 'upper'))).toBe(0o755);
    expect(mode(join(run, 'containers', '.names'))).toBe(0o755);
    expect(mode(join(root, 'certificates', 'root.crt'))).toBe(0o644); // public: not worth a warning at every start
    // a second pass has nothing left to say
    const again: ModeFix[] = [];
    secureStateDirs({ root, run }, (f) => again.push(f));
    expect(again).toEqual([]);
  });

  it('refuses a root that another user owns, or that is not a directory; follows a symlinked root', () => {
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(() => secureStateDirs({ root: theirs })).toThrow(StateDirError);
    expect(() => secureStateDirs({ root: theirs })).toThrow(/owned by uid 65534, not by this user \(uid 0\).*chown it to uid 0 or choose another directory/);
    const file = join(base, 'file');
    writeFileSync(file, '');
    expect(() => ensurePrivateDir(file)).toThrow(/is not a directory/);
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o755 });
    chmodSync(real, 0o755);
    symlinkSync(real, join(base, 'link'));
    secureStateDirs({ root: join(base, 'link') });
    expect(mode(real)).toBe(0o700);
  });
});
