// Issue 9, point 3, for the lab: its roots (state and data) and each host's SHOAL_ROOT and
// SHOAL_RUN are root's alone; roots an older lab left 0755 are closed, with a warning in the log.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { residueOf, tempDirs } from './lab-helpers.js';

const NAME = 'shoaltl-modes';
const dirs = tempDirs('modes');
let logged = '';
const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => ((logged += c.toString()), cb()) }));
let lab: Lab | undefined;

afterAll(async () => {
  try {
    if (lab) await Lab.down(NAME, dirs);
    expect(residueOf(NAME, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
  }
});

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

describe('lab directories', () => {
  it('are 0700, open ones are corrected, and another user cannot look inside', async () => {
    chmodSync(dirs.base, 0o755);
    for (const d of [dirs.stateDir, dirs.dataDir]) {
      mkdirSync(d, { mode: 0o755 });
      chmodSync(d, 0o755);
    }
    lab = await Lab.up({ name: NAME, hosts: 1, subnet: '10.78.9.0/24', logger, ...dirs });
    const h = lab.hosts[0]!;
    expect([dirs.stateDir, dirs.dataDir, h.root, h.run].map(mode)).toEqual(['700', '700', '700', '700']);
    expect(logged).toContain(`${dirs.dataDir} was mode 0755, open to other local users: changed to 0700`);
    expect(logged).toContain(`${dirs.stateDir} was mode 0755`);
    // through a shell: setpriv's own exec still holds root's capabilities
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', '/bin/sh', '-c', 'ls "$1"', 'sh', h.root], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});
