// The deploy plan from current service specs and a loaded stack: create, update with field
// diffs, remove only with prune, and nothing for the same file applied twice.
import { describe, expect, it } from 'vitest';
import { diffValues, planStack, renderPlan } from '../../../cli/stack/plan.js';
import { load } from './helpers.js';

const v1 = 'services:\n  web:\n    image: web:1\n    environment: {LOG: info}\n    deploy: {replicas: 2}\n  db:\n    image: postgres:15\n  cache:\n    image: redis\n';
const v2 = 'services:\n  web:\n    image: web:2\n    environment: {LOG: debug, NEW: x}\n    deploy: {replicas: 2}\n  db:\n    image: postgres:15\n  worker:\n    image: worker\n';

describe('planStack', () => {
  it('the same file twice changes nothing', () => {
    const plan = planStack(load(v1).stack.services, load(v1).stack, { prune: true });
    expect(plan.empty).toBe(true);
    expect(plan.services.map((s) => s.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(renderPlan(plan, 'shop')).toMatch(/nothing to change\n$/);
  });

  it('an edited file: create, update with field diffs, keep without --prune, remove with it', () => {
    const current = load(v1).stack.services;
    const plan = planStack(current, load(v2).stack, { prune: false });
    expect(plan.empty).toBe(false);
    expect(plan.services).toEqual([
      { action: 'keep', service: 'cache' },
      { action: 'unchanged', service: 'db' },
      {
        action: 'update', service: 'web', changes: [
          { path: 'environment.LOG', before: 'info', after: 'debug' },
          { path: 'environment.NEW', after: 'x' },
          { path: 'image', before: 'web:1', after: 'web:2' },
        ],
      },
      { action: 'create', service: 'worker' },
    ]);
    expect(planStack(current, load(v2).stack, { prune: true }).services[0]).toEqual({ action: 'remove', service: 'cache' });
    expect(renderPlan(plan, 'shop')).toBe([
      'keep    shop_cache (not in the stack file; --prune removes it)',
      'same    shop_db',
      'update  shop_web',
      '          environment.LOG: "info" -> "debug"',
      '          environment.NEW: (unset) -> "x"',
      '          image: "web:1" -> "web:2"',
      'create  shop_worker',
      '',
    ].join('\n'));
  });

  it('lists are compared whole; nested maps field by field', () => {
    expect(diffValues({ command: ['a', 'b'] }, { command: ['b', 'a'] }, '')).toEqual([{ path: 'command', before: ['a', 'b'], after: ['b', 'a'] }]);
    expect(diffValues({ d: { r: { c: 1 } } }, { d: { r: { c: 2 } } }, '')).toEqual([{ path: 'd.r.c', before: 1, after: 2 }]);
    expect(diffValues({ a: [{ x: 1 }] }, { a: [{ x: 1 }] }, '')).toEqual([]);
  });
});
