// The real `shoal` CLI against a real control server (issue 9, point 5): requests that used to
// break the cluster are refused with one line naming the flag, and `service ls` / `service ps`
// follow the pages of answers that together exceed the gRPC message limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, startCli, type CliHarness } from './service-harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startCli({ deps: { maxReplicas: 20 } });
});
afterAll(async () => {
  await h?.close();
});

/** n labels of 100 KiB each. */
const labelFlags = (n: number): string[] => Array.from({ length: n }, (_, i) => ['--label', `l${i}=${'x'.repeat(100 * 1024)}`]).flat();

const services = (): number => h.control.store.view((tx) => tx.services.all().length);

describe('shoal service: abuse', () => {
  it('refuses what no node could run, naming the flag, and stores nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['--replicas', '21'], /replicas 21 is more than the 20 allowed per service: .*--max-replicas/],
      [['--limit-memory', '1'], /memory limit \(--limit-memory\): 1 is out of range/],
      [['--limit-cpu', '1000'], /CPU limit \(--limit-cpu\): 1000 is out of range/],
      [['--hostname', 'bad host'], /invalid hostname "bad host"/],
      [['-u', 'root;rm'], /invalid user "root;rm"/],
      [['--constraint', 'node.labels.x===y'], /invalid placement constraint "node.labels.x===y"/],
      [['--health-cmd', 'true', '--health-interval', '1ns'], /health interval \(--health-interval\) of 1ns is below the minimum of 100ms/],
      [['--restart-delay', '99999999h'], /--restart-delay.*99999999h.* is too long: at most \d+h/],
      // one argument holds at most 128 KiB (MAX_ARG_STRLEN): six labels of 100 KiB
      [labelFlags(6), /labels \(--label\): \d+\); at most 512000/],
    ];
    for (const [flags, text] of cases) {
      const r = await h.shoal(['service', 'create', '--detach', '--name', 'bad', ...flags, 'busybox', 'sleep', '1']);
      expectOneLineError(r, text);
      expect(r.stderr, flags.join(' ')).not.toMatch(/serializ/i);
    }
    const image = await h.shoal(['service', 'create', '--detach', '--name', 'bad', '../../etc']);
    expectOneLineError(image, /invalid image reference "..\/..\/etc"/);
    expect(services()).toBe(0);
  }, 120_000);

  it('service ls and ps show every service and task although one answer would exceed 4 MiB', async () => {
    // 14 services of 100 KiB labels and 300 KiB container labels, each with one task carrying
    // its container's: ~5.7 MB of services and ~4.3 MB of tasks
    for (let i = 0; i < 14; i++) {
      // --container-label: each task carries them too
      const r = await h.shoal(['service', 'create', '--detach', '--name', `p${String(i).padStart(2, '0')}`, ...labelFlags(1), ...labelFlags(3).map((f) => (f === '--label' ? '--container-label' : f)), 'busybox', 'sleep', '1000']);
      expect(r.code, r.stderr).toBe(0);
    }
    const ls = await h.shoal(['service', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    for (let i = 0; i < 14; i++) expect(ls.stdout).toMatch(new RegExp(`p${String(i).padStart(2, '0')}\\s+replicated`));
    const ps = await h.shoal(['service', 'ps', ...Array.from({ length: 14 }, (_, i) => `p${String(i).padStart(2, '0')}`)]);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout.match(/p\d\d\.1 /g)).toHaveLength(14);
  }, 180_000);
});
