// Re-deploying an edited stack file on a 2-host lab cluster with real daemons and containers,
// through the real `shoal stack deploy` CLI: only the service that changed is rolled (its old
// tasks replaced, the other service's task untouched), a service that left the file is kept
// until --prune, and a rolling update whose new tasks fail follows its update_config
// failure_action: pause stops it (and the deploy says so, exit 1), continue tries every slot
// (start-first keeps each slot's old task while its new one fails).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskState, UpdateStatus_State, type Service, type Task } from '../../proto/gen/types.js';
import { labSuite, until } from './cluster.js';

const lab = labSuite({ name: 'shoalsue2e', subnet: '10.231.69.0/24', hosts: 2, managers: 1, tmpPrefix: 'shoalsu-' });

const { shoal } = lab;
const file = (): string => join(lab.dir, 'stack.yml');

/** A stack file: web (2 replicas, rolled one at a time) with the given env, command and failure action; api unless left out. */
function write(o: { level: string; webCommand?: string; user?: string; failureAction?: 'pause' | 'continue'; api?: boolean }): void {
  const web = `
  web:
    image: busybox
    command: ["sh", "-c", ${JSON.stringify(o.webCommand ?? 'trap "exit 0" TERM; sleep 1000 & wait')}]${o.user ? `\n    user: ${o.user}` : ''}
    environment:
      LEVEL: "${o.level}"
    stop_grace_period: 1s
    deploy:
      replicas: 2
      restart_policy: { condition: on-failure, delay: 1s, max_attempts: 1 }
      update_config: { parallelism: 1, delay: 0s, order: start-first, monitor: 2s, failure_action: ${o.failureAction ?? 'pause'}, max_failure_ratio: 0 }`;
  const api = `
  api:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    stop_grace_period: 1s`;
  writeFileSync(file(), `services:${web}${o.api === false ? '' : api}\n`);
}

const live = (ts: Task[]) => ts.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING);
const service = async (name: string): Promise<Service> => (await lab.c.control<{ service: Service }>('h1', 'getService', { serviceId: name })).service;

describe('e2e: re-deploying an edited stack', () => {
  it('rolls only the service that changed; a service that left the file goes only with --prune', async () => {
    write({ level: 'one' });
    const first = await shoal(['stack', 'deploy', '--timeout', '60s', '-c', file(), 'su']);
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toMatch(/creating service su_web/);
    expect(first.stdout).toMatch(/creating service su_api/);
    const webBefore = live(await lab.c.tasks('h1', 'su_web')).map((t) => t.id).sort();
    const apiBefore = live(await lab.c.tasks('h1', 'su_api')).map((t) => t.id);
    expect(webBefore).toHaveLength(2);
    expect(apiBefore).toHaveLength(1);

    // the same file again: nothing is written
    const v0 = (await service('su_web')).specVersion;
    const same = await shoal(['stack', 'deploy', '-c', file(), 'su']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/service su_web: unchanged/);
    expect((await service('su_web')).specVersion).toBe(v0);

    // web's environment edited: web is rolled, api keeps its task
    const version = (await service('su_web')).specVersion;
    write({ level: 'two' });
    const edited = await shoal(['stack', 'deploy', '--timeout', '60s', '-c', file(), 'su']);
    expect(edited.code, `${edited.stdout}\n${edited.stderr}`).toBe(0);
    expect(edited.stdout).toMatch(/updating service su_web\n\s+.*env.*LEVEL=one.*LEVEL=two/);
    expect(edited.stdout).toMatch(/service su_api: unchanged/);
    const web = await service('su_web');
    expect(web.specVersion).toBeGreaterThan(version);
    const webAfter = live(await lab.c.tasks('h1', 'su_web'));
    expect(webAfter).toHaveLength(2);
    for (const t of webAfter) {
      expect(t.specVersion).toBe(web.specVersion);
      expect(t.spec?.container?.env).toContain('LEVEL=two');
      expect(webBefore).not.toContain(t.id);
    }
    expect(live(await lab.c.tasks('h1', 'su_api')).map((t) => t.id)).toEqual(apiBefore);

    // api left the file: kept without --prune, removed with it
    write({ level: 'two', api: false });
    const kept = await shoal(['stack', 'deploy', '-c', file(), 'su']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/service su_api: kept/);
    expect(live(await lab.c.tasks('h1', 'su_api')).map((t) => t.id)).toEqual(apiBefore);
    const pruned = await shoal(['stack', 'deploy', '--prune', '-c', file(), 'su']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/removing service su_api/);
    const names = await lab.c.control<{ services: Service[] }>('h1', 'listServices', {});
    expect(names.services.map((s) => s.spec?.annotations?.name).sort()).toEqual(['su_web']);
  }, 180_000);

  it('an update whose new tasks fail: failure_action pause stops it and the deploy says so; continue carries it through', async () => {
    // pause: the first new task fails within the monitor window, the update stops there. The new
    // tasks fail at start (a user the image lacks), so none is ever RUNNING: one that ran, even for
    // a moment ('exit 3' did), rightly makes start-first stop its slot's old task, and whether the
    // store saw that moment depended on the machine's load
    write({ level: 'three', webCommand: 'exit 3', user: 'nosuchuser', failureAction: 'pause', api: false });
    const paused = await shoal(['stack', 'deploy', '--timeout', '60s', '-c', file(), 'su']);
    expect(paused.code, `${paused.stdout}\n${paused.stderr}`).toBe(1);
    expect(paused.stderr).toMatch(/the update of su_web is paused/);
    const p = await service('su_web');
    expect(p.updateStatus?.state).toBe(UpdateStatus_State.PAUSED);
    // start-first, parallelism 1: one new task was tried, the old ones still serve
    const afterPause = await lab.c.tasks('h1', 'su_web');
    expect(live(afterPause).filter((t) => t.specVersion !== p.specVersion)).toHaveLength(2);

    // continue: the failures are counted but every slot gets the new spec (failing at start too)
    write({ level: 'four', webCommand: 'exit 3', user: 'nosuchuser', failureAction: 'continue', api: false });
    const cont = await shoal(['stack', 'deploy', '--detach', '-c', file(), 'su']);
    expect(cont.code, cont.stderr).toBe(0);
    const done = await until(async () => {
      const s = await service('su_web');
      return s.updateStatus?.state === UpdateStatus_State.COMPLETED && s.specVersion > p.specVersion ? s : undefined;
    }, 'the continued update completed', 90_000);
    // both slots were tried (pause stopped after the first); start-first keeps the old task of a
    // slot whose new one failed, so the service still serves on the last good spec
    const all = await lab.c.tasks('h1', 'su_web');
    const slots = new Set(all.filter((t) => t.specVersion === done.specVersion).map((t) => t.slot));
    expect([...slots].sort()).toEqual([1, 2]);
    expect(all.filter((t) => t.specVersion === done.specVersion && t.status?.state === TaskState.RUNNING)).toEqual([]);
    expect(live(all).map((t) => t.specVersion < p.specVersion)).toEqual([true, true]);

    const rm = await shoal(['stack', 'rm', 'su']);
    expect(rm.code, rm.stderr).toBe(0);
    await until(async () => (await lab.c.control<{ services: Service[] }>('h1', 'listServices', {})).services.length === 0, 'stack removed');
  }, 240_000);
});
