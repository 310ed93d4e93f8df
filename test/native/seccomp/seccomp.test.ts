// The default seccomp profile (native/shim/seccomp.c) against the real kernel: a probe linked
// with it tries refused and allowed syscalls, once without the filter and once with it. The
// probe runs as root with (nearly) every capability, so an EPERM that appears only under the
// filter is seccomp's doing, not a missing capability.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../../..');
let dir = '';
let plain = new Map<string, string>();
let filtered = new Map<string, string>();

function run(mode: 'plain' | 'filtered'): Map<string, string> {
  const out = execFileSync(join(dir, 'probe'), [mode], { encoding: 'utf8', timeout: 30_000 });
  return new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shoalcg-seccomp-'));
  execFileSync('cc', [
    '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror',
    '-o', join(dir, 'probe'),
    join(repo, 'test/native/seccomp/probe.c'),
    join(repo, 'native/shim/seccomp.c'),
    '-lseccomp', '-lpthread',
  ]);
  plain = run('plain');
  filtered = run('filtered');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('default seccomp profile', () => {
  it('loads, and the probe keeps CAP_SYS_ADMIN so EPERM cannot come from capabilities', () => {
    expect(filtered.get('apply')).toBe('0');
    const caps = BigInt(`0x${filtered.get('capeff')}`);
    expect(caps & (1n << 21n)).not.toBe(0n); // CAP_SYS_ADMIN
    expect(caps & (1n << 22n)).not.toBe(0n); // CAP_SYS_BOOT
  });

  // Without the filter each of these succeeds or fails for another reason (ENOENT, EINVAL...).
  const refusedOnlyBySeccomp = [
    'setns', 'keyctl', 'bpf', 'mount', 'umount2', 'reboot', 'clock_settime', 'personality_no_aslr',
    'unshare_newns', 'unshare_newuser', 'unshare_newnet', 'clone_newpid',
  ];
  it.each(refusedOnlyBySeccomp)('refuses %s with EPERM only under the filter', (name) => {
    expect(plain.get(name)).toBeDefined();
    expect(plain.get(name)).not.toBe('EPERM');
    expect(filtered.get(name)).toBe('EPERM');
  });

  it.each(['kexec_load', 'io_uring_setup', 'socket_vsock'])('refuses %s with EPERM', (name) => {
    expect(filtered.get(name)).toBe('EPERM');
  });

  it('answers clone3 with ENOSYS so libc falls back to a clone the filter can inspect', () => {
    expect(plain.get('clone3')).toBe('OK');
    expect(filtered.get('clone3')).toBe('ENOSYS');
    expect(filtered.get('thread')).toBe('OK'); // pthread_create survived the fallback
  });

  it('refuses the 32-bit and x32 ABIs', () => {
    expect(filtered.get('x32_getpid')).not.toBe('OK');
    if (plain.get('ia32_getpid') === 'OK') expect(filtered.get('ia32_getpid')).toBe('EPERM');
  });

  it.each([
    'getpid', 'open', 'read', 'write', 'fork', 'thread', 'unshare_files',
    'personality_query', 'personality_linux', 'ptrace',
  ])('allows %s', (name) => {
    expect(plain.get(name)).toBe('OK');
    expect(filtered.get(name)).toBe('OK');
  });

  it('lets ordinary programs run under it: a shell pipeline and Node', () => {
    const probe = join(dir, 'probe');
    const sh = execFileSync(probe, ['exec', 'sh', '-c', 'ls / >/dev/null && grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | sort'], { encoding: 'utf8' });
    expect(sh).toMatch(/NoNewPrivs:\s+1/);
    expect(sh).toMatch(/Seccomp:\s+2/); // mode 2 = filter
    const node = execFileSync(
      probe,
      ['exec', process.execPath, '-e', "const fs = require('fs'); fs.writeFileSync(process.argv[1], 'x'); setTimeout(() => console.log(fs.readFileSync(process.argv[1], 'utf8') + 'ok'), 10)", join(dir, 'node-out')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(node.trim()).toBe('xok');
  });
});
