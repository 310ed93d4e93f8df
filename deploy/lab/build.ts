// Making a lab's kernel objects and directories, in an order where each step is recorded in
// the state file before it happens and a failure at any point can be rolled back by teardown.
import { mkdir } from 'node:fs/promises';
import { ensurePrivateDir } from '../../proto/file-modes.js';
import { LabConflictError } from './errors.js';
import { addNetns, addUtsNamespace, exists, ipBatch, netnsPath } from './kernel.js';
import { record, type LabDirs, type LabState } from './state.js';

/** Makes every object of the lab, recording each one before it exists. */
export async function build(
  dirs: LabDirs,
  state: LabState,
  dataRoot: string,
  utsDir: string,
  prefix: number,
  signal?: AbortSignal,
): Promise<void> {
  const checkpoint = () => {
    if (signal?.aborted) throw new Error('interrupted');
  };
  const sw = state.switchNetns;
  for (const ns of [sw, ...state.hosts.map((h) => h.netns)]) {
    if (await exists(netnsPath(ns))) {
      throw new LabConflictError(
        `network namespace ${ns} already exists and is not part of lab ${state.name}; ` +
          `remove it (ip netns del ${ns}) or pick another --name`,
      );
    }
  }
  if (await exists(dataRoot)) {
    throw new LabConflictError(
      `directory ${dataRoot} already exists (left by an earlier lab?); remove it or pick another --name`,
    );
  }
  await record(
    dirs,
    state,
    { kind: 'dir', path: dataRoot },
    { kind: 'dir', path: utsDir },
    ...state.hosts.map((h) => ({ kind: 'cgroup' as const, name: h.cgroupParent })),
  );
  await mkdir(utsDir, { recursive: true });
  for (const h of state.hosts) {
    // each host's SHOAL_ROOT and SHOAL_RUN, private as a real host's (proto/file-modes.ts)
    ensurePrivateDir(h.root);
    ensurePrivateDir(h.run);
  }

  await record(dirs, state, { kind: 'netns', name: sw });
  await addNetns(sw);
  for (const h of state.hosts) {
    checkpoint();
    // Checked again just before recording: an object that exists now is someone else's.
    for (const path of [netnsPath(h.netns), h.uts]) {
      if (await exists(path)) {
        throw new LabConflictError(`${path} appeared while lab ${state.name} was being made; it is not the lab's`);
      }
    }
    await record(dirs, state, { kind: 'netns', name: h.netns }, { kind: 'uts', path: h.uts, host: h.name });
    await addNetns(h.netns);
    await addUtsNamespace(h.uts, h.name);
  }

  checkpoint();
  // The switch: one bridge, one veth per host whose far end is born inside the host as eth0.
  await record(dirs, state, ...state.hosts.map((h) => ({ kind: 'link' as const, netns: sw, name: h.name })));
  await ipBatch(sw, [
    'link set lo up',
    'link add br0 type bridge',
    `addr add ${state.switchAddr}/${prefix} dev br0`,
    'link set br0 up',
    ...state.hosts.flatMap((h) => [
      `link add ${h.name} type veth peer name eth0 netns ${h.netns}`,
      `link set ${h.name} master br0`,
      `link set ${h.name} up`,
    ]),
  ]);
  for (const h of state.hosts) {
    checkpoint();
    await ipBatch(h.netns, [
      'link set lo up',
      `addr add ${h.addr}/${prefix} dev eth0`,
      'link set eth0 up',
      // A default route gives daemons that pick their advertise address from it (as swarm
      // does) the underlay address; the switch forwards nothing, so the lab stays closed.
      `route add default via ${state.switchAddr}`,
    ]);
  }
}
