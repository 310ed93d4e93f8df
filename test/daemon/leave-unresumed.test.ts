// A node whose membership on disk cannot be resumed (node.json without certificates): resume
// names `shoal leave --force` as the fix, and that leave forgets the membership.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../daemon/daemon.js';
import { daemonPaths } from '../../daemon/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('leave on a node that could not resume', () => {
  it('is refused without --force (naming it) and forgets the membership with it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'shoallv-'));
    dirs.push(root);
    const paths = daemonPaths(join(root, 'root'), join(root, 'run'));
    const d = new Daemon({ paths, logger: pino({ level: 'silent' }) });
    await d.resume(); // nothing on disk: not in a cluster
    await expect(d.leave({ force: true })).rejects.toThrow(/not part of a cluster/);

    writeFileSync(paths.stateFile, JSON.stringify({ clusterId: 'c1', nodeId: 'n1', role: 'worker', advertiseAddr: '127.0.0.1:4243', listenAddr: '127.0.0.1:4243', managers: ['127.0.0.1:4243'] }));
    await expect(d.resume()).rejects.toThrow(/shoal leave --force/);
    await expect(d.leave({ force: false })).rejects.toThrow(/could not resume.*shoal leave --force/);
    expect(existsSync(paths.stateFile)).toBe(true);
    expect(await d.leave({ force: true })).toEqual([]);
    expect(existsSync(paths.stateFile)).toBe(false);
    expect(d.info().state).toBe('inactive');
    await d.stop();
  });
});
