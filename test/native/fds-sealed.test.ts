// The addon and the shim on their own against issue 9's point 2: a descriptor inherited without
// close-on-exec (bash's `exec 200</`) is passed on by neither the addon's spawns nor the shim
// (with close_range and with the /proc/self/fd walk older kernels take), and every process
// running shim code runs a sealed memfd copy of it, never the host's file (CVE-2019-5736).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { shimBinary } from '../../agent/runtime/shim.js';

const addonPath = join(import.meta.dirname, '../../native/build/Release/shoal_native.node');
const addon = createRequire(import.meta.url)(addonPath) as { sealedCopy(path: string): string };
const FD = 200;

/** argv run from bash after `exec 200</`: the descriptor is inherited, not close-on-exec. */
function withOpenRoot(argv: string[], env: NodeJS.ProcessEnv = process.env): { code: number; out: string; err: string } {
  const r = spawnSync('bash', ['-c', `exec ${FD}</ && exec "$@"`, 'bash', ...argv], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const fdList = (text: string): string[] => text.trim().split(/\s+/);
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('the addon\'s spawns pass stdio only', () => {
  it('spawnShim and spawnPiped children do not get a descriptor Node inherited (child_process does)', () => {
    // a Node process holding fd 200 spawns `ls /proc/self/fd` three ways and prints each list
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      const fs = require('node:fs');
      const cp = require('node:child_process');
      const ls = ['-c', 'ls /proc/self/fd | tr "\\\\n" " "'];
      (async () => {
        const viaShim = (await addon.spawnShim('/bin/sh', ls)).stdout;
        const { pid, fd } = addon.spawnPiped('/bin/sh', ls, true);
        let viaPiped = '';
        const buf = Buffer.alloc(4096);
        for (let n; (n = fs.readSync(fd, buf)) > 0;) viaPiped += buf.subarray(0, n).toString();
        fs.closeSync(fd);
        addon.reap(pid);
        const viaNode = cp.spawnSync('/bin/sh', ls, { encoding: 'utf8' }).stdout;
        console.log(JSON.stringify({ viaShim, viaPiped, viaNode }));
      })();`;
    const r = withOpenRoot([process.execPath, '-e', script]);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out) as { viaShim: string; viaPiped: string; viaNode: string };
    // the control: Node's own spawn hands fd 200 on, so the harness does pass it
    expect(fdList(res.viaNode)).toContain(String(FD));
    for (const list of [res.viaShim, res.viaPiped]) expect(fdList(list).filter((fd) => Number(fd) > 3)).toEqual([]);
  });

  it('sealedCopy gives one unchangeable copy of a file per process', () => {
    const path = addon.sealedCopy(shimBinary());
    expect(path).toMatch(new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    expect(addon.sealedCopy(shimBinary())).toBe(path);
    expect(sha256(path)).toBe(sha256(shimBinary()));
    expect(statSync(path).ino).not.toBe(statSync(shimBinary()).ino);
    expect(() => writeFileSync(path, 'x', { flag: 'r+' })).toThrow(/EPERM/);
    expect(() => truncateSync(path, 10)).toThrow(/EPERM/);
    expect(() => addon.sealedCopy('/nonexistent/shoal-shim')).toThrow(/open \/nonexistent\/shoal-shim/);
  });
});

describe('shoal-shim started by hand', () => {
  const sum = (): string => sha256(shimBinary());
  // the shim as an init (argv[0] shoal-init) runs a shell that looks at its parent, the shim
  const look = ['sh', '-c', 'echo "LINK $(readlink /proc/$PPID/exe)"; echo "FDS $(ls /proc/self/fd | tr "\\n" " ")"'];
  const field = (out: string, tag: string): string => out.split('\n').find((l) => l.startsWith(`${tag} `))?.slice(tag.length + 1) ?? '';

  for (const fallback of [false, true]) {
    it(`re-execs itself from a sealed copy and closes what it inherited${fallback ? ' (without close_range)' : ''}`, () => {
      const before = sum();
      const env = fallback ? { ...process.env, SHOAL_SHIM_FDS_FALLBACK: '1' } : process.env;
      const r = withOpenRoot(['bash', '-c', `exec -a shoal-init "$0" -- "$@"`, shimBinary(), ...look], env);
      expect(r.code, r.err).toBe(0);
      expect(field(r.out, 'LINK')).toMatch(/^\/memfd:shoal-shim \(deleted\)$/);
      expect(fdList(field(r.out, 'FDS')).filter((fd) => Number(fd) > 3)).toEqual([]);
      expect(sum()).toBe(before);
      // exec mode keeps its report descriptor (fd 3) while it drops the rest
      const cfg = join(tmpdir(), `shoalrt-fds-cfg-${process.pid}`);
      writeFileSync(cfg, ['pid', '999999999', 'arg', '/bin/true', ''].join('\0'));
      try {
        const ex = spawnSync('bash', ['-c', `exec ${FD}</ && exec "$@" 3>&1 1>/dev/null`, 'bash', shimBinary(), 'exec', cfg, '3'], { encoding: 'utf8', env });
        expect(ex.status).toBe(127);
        expect(ex.stdout).toMatch(/^error the container is not running/);
      } finally {
        rmSync(cfg, { force: true });
      }
    });
  }


  it('runs nothing from the host\'s file when no executable memfd can be made', () => {
    // vm.memfd_noexec is per pid namespace (Linux >= 6.3): 2 in a new one refuses MFD_EXEC there only
    const hostValue = readFileSync('/proc/sys/vm/memfd_noexec', 'utf8');
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c',
      'echo 2 > /proc/sys/vm/memfd_noexec && exec -a shoal-init "$0" -- echo RAN', shimBinary()], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('RAN');
    expect(r.status).toBe(127);
    expect(r.stderr).toMatch(/memfd_create for the shim's sealed copy \(executable memfds refused: vm\.memfd_noexec=2\?\)/);
    expect(readFileSync('/proc/sys/vm/memfd_noexec', 'utf8')).toBe(hostValue);
  });
});
