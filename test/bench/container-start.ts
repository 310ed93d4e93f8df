// `npm run bench -- container-start [RUNS] [--smoke]`: create+start+wait of /bin/true in a busybox rootfs
// (all namespaces, overlay rootfs, memory+pids limits) through ContainerRuntime in this warm
// process, interleaved run by run with `crun run` and `runc run` of an equivalent OCI bundle.
// As in shared/anchors/runtime/bench-runtime.sh, everything runs in a private mount namespace
// with /sys/fs/cgroup/unified unmounted (crun 1.8 refuses this host's hybrid layout), so all
// three see the same pure-v1 host. crun/runc are started with the addon's posix_spawn, the
// same path shoal uses for its shim, so no contender pays Node's child_process overhead.
// Times: shoal = create+start+wait (remove is reported apart as shoal_with_rm); crun/runc =
// `run`, which also deletes the container. crun/runc get the overlay mounted once up front.
// --smoke: 3 runs after 1 warm-up, shoal only (crun and runc figures are null).
import { spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { BenchOptions } from '../bench-helpers/bench.js';

const MiB = 1024 * 1024;

export default async function main(args: string[], { smoke }: BenchOptions): Promise<void> {
  if (process.env.SHOAL_BENCH_INNER !== '1') return reexecInPrivateMountNs(smoke ? [...args, '--smoke'] : args);
  const runs = Number(args[0] ?? (smoke ? 3 : 40));
  const warmup = smoke ? 1 : 3;
  const { ContainerRuntime } = await import('../../agent/runtime/index.js');
  const { detectCgroups } = await import('../../agent/runtime/cgroups/index.js');
  const addon = createRequire(import.meta.url)(
    fileURLToPath(new URL('../../native/build/Release/shoal_native.node', import.meta.url)),
  ) as { spawnShim(path: string, args: string[]): Promise<{ status: number; stdout: string }> };

  const root = mkdtempSync(join(tmpdir(), 'shoalrt-bench-'));
  // state, bundle and rootfs on a tmpfs (private to this mount namespace), as /run is on most
  // hosts: every contender's metadata writes then stay off this disk's busy ext4 journal
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'shoalrt-bench', root]);
  const layer = join(root, 'layer');
  mkdirSync(join(layer, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(layer, 'bin/busybox'));
  execFileSync('chmod', ['755', join(layer, 'bin/busybox')]);
  for (const a of ['sh', 'true']) symlinkSync('busybox', join(layer, 'bin', a));
  // crun/runc get the same layer as an overlay mounted once up front (as the anchor does)
  const ovl = join(root, 'ovl');
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(ovl, d), { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${layer},upperdir=${ovl}/upper,workdir=${ovl}/work`, `${ovl}/merged`]);
  const bundle = join(root, 'bundle');
  if (!smoke) writeOciBundle(bundle, `${ovl}/merged`);

  const logger = pino({ level: 'warn' });
  const cgroupParent = `shoalrt-bench-${process.pid}`;
  const cgroups = detectCgroups({ logger });
  const rt = new ContainerRuntime({ stateDir: join(root, 'state'), cgroupParent, cgroups, logger });
  const ocis = { crun: join(root, 'crun-state'), runc: join(root, 'runc-state') };

  const samples: Record<string, number[]> = { shoal: [], shoal_rm: [], crun: [], runc: [], create: [], start: [], wait: [] };
  const now = (): number => Number(process.hrtime.bigint()) / 1e6;
  const shoalOnce = async (record: boolean): Promise<void> => {
    const t0 = now();
    const c = await rt.create({ rootfs: { layers: [layer] }, args: ['/bin/true'], limits: { memoryBytes: 64 * MiB, pidsMax: 64 } });
    const t1 = now();
    await rt.start(c.id);
    const t2 = now();
    const exit = await rt.wait(c.id);
    const t3 = now();
    if (exit.code !== 0) throw new Error(`shoal container exited ${exit.code}`);
    if (record && process.env.SHOAL_SHIM_TRACE) {
      collectTrace(join(root, 'state', c.id, 'shim.log'), t0, [['node: created', t1], ['node: started', t2], ['node: wait returned', t3]]);
    }
    await rt.remove(c.id);
    const t4 = now();
    if (!record) return;
    samples.shoal!.push(t3 - t0);
    samples.shoal_rm!.push(t4 - t0);
    samples.create!.push(t1 - t0);
    samples.start!.push(t2 - t1);
    samples.wait!.push(t3 - t2);
  };
  const ociOnce = async (tool: 'crun' | 'runc', record: boolean): Promise<void> => {
    const t0 = now();
    const r = await addon.spawnShim(tool === "crun" ? "/usr/bin/crun" : "/usr/sbin/runc", ['--root', ocis[tool], 'run', '--bundle', bundle, `shoalrt-bench-${tool}`]);
    const t1 = now();
    if (r.status !== 0) throw new Error(`${tool} run failed with status ${r.status}: ${r.stdout}`);
    if (record) samples[tool]!.push(t1 - t0);
  };
  const contenders = [(rec: boolean) => shoalOnce(rec), ...(smoke ? [] : [(rec: boolean) => ociOnce('crun', rec), (rec: boolean) => ociOnce('runc', rec)])];
  try {
    for (let i = 0; i < warmup + runs; i++) {
      // rotate the order each run so that background noise hits every contender alike
      for (let k = 0; k < contenders.length; k++) await contenders[(i + k) % contenders.length]!(i >= warmup);
    }
  } finally {
    for (const c of await rt.list()) await rt.remove(c.id, { force: true }).catch(() => undefined);
    await cgroups.open(cgroupParent)?.remove().catch(() => undefined);
    spawnSync('umount', [`${ovl}/merged`]);
    spawnSync('umount', [root]);
    rmSync(root, { recursive: true, force: true });
  }
  const pct = (xs: number[], p: number): number => {
    if (xs.length === 0) return NaN; // a contender left out (--smoke): null in the JSON line
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]! * 100) / 100;
  };
  const timeline = [...phases].map(([phase, v]) => [phase, pct(v, 0.5) / 1000] as const).sort((a, b) => a[1] - b[1]);
  for (const [phase, ms] of timeline) {
    const step = pct(steps.get(phase) ?? [], 0.5) / 1000;
    console.log(`timeline: ${phase.padEnd(34)} p50 ${ms.toFixed(2)} ms after create() was called, p50 ${step.toFixed(2)} ms since the event before`);
  }
  for (const [k, v] of Object.entries(samples)) console.log(`${k.padEnd(9)} p50 ${pct(v, 0.5)} ms  p90 ${pct(v, 0.9)} ms  (n=${v.length})`);
  console.log(
    JSON.stringify({
      bench: 'container-start',
      runs,
      shoal_p50_ms: pct(samples.shoal!, 0.5),
      shoal_p90_ms: pct(samples.shoal!, 0.9),
      crun_p50_ms: pct(samples.crun!, 0.5),
      crun_p90_ms: pct(samples.crun!, 0.9),
      runc_p50_ms: pct(samples.runc!, 0.5),
      runc_p90_ms: pct(samples.runc!, 0.9),
      ratio_vs_crun: Math.round((pct(samples.shoal!, 0.5) / pct(samples.crun!, 0.5)) * 100) / 100,
      shoal_with_rm_p50_ms: pct(samples.shoal_rm!, 0.5),
      shoal_create_p50_ms: pct(samples.create!, 0.5),
      shoal_start_p50_ms: pct(samples.start!, 0.5),
      shoal_wait_p50_ms: pct(samples.wait!, 0.5),
      ...(smoke ? { smoke } : {}),
    }),
  );
}

/** The OCI bundle crun and runc run: /bin/true on `merged`, with the same limits as shoal's. */
function writeOciBundle(bundle: string, merged: string): void {
  mkdirSync(bundle);
  execFileSync('crun', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
    linux: { resources: Record<string, unknown>; namespaces: { type: string }[] };
  };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.root = { path: merged, readonly: false };
  spec.linux.resources.memory = { limit: 64 * MiB };
  spec.linux.resources.pids = { limit: 64 };
  spec.linux.namespaces.push({ type: 'cgroup' });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
}

const phases = new Map<string, number[]>();
/** Per phase, the time since the previous event of the same start: where each ms goes. */
const steps = new Map<string, number[]>();
/** SHOAL_SHIM_TRACE=1: the shim logs "trace PID PHASE MICROS" lines; keep them per phase. */
function collectTrace(path: string, t0Ms: number, node: [string, number][]): void {
  const events: [string, number][] = node.map(([p, t]) => [p, (t - t0Ms) * 1000]);
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^trace \d+ (.+) (\d+)$/.exec(line);
    if (m) events.push([m[1]!, Number(m[2]) - t0Ms * 1000]);
  }
  events.sort((a, b) => a[1] - b[1]);
  let prev = 0;
  for (const [phase, us] of events) {
    phases.set(phase, [...(phases.get(phase) ?? []), us]);
    steps.set(phase, [...(steps.get(phase) ?? []), us - prev]);
    prev = us;
  }
}

/** Runs this benchmark again inside `unshare --mount` with the cgroup2 mount of the hybrid layout removed. */
function reexecInPrivateMountNs(args: string[]): void {
  const runner = fileURLToPath(new URL('./run.ts', import.meta.url));
  const inner = `umount /sys/fs/cgroup/unified 2>/dev/null; exec "${process.execPath}" --import tsx "${runner}" container-start "$@"`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', inner, 'sh', ...args], {
    stdio: 'inherit',
    env: { ...process.env, SHOAL_BENCH_INNER: '1' },
  });
  if (r.status !== 0) throw new Error(`benchmark failed (status ${r.status})`);
}
