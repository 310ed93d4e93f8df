// A WatchTasks client that stops reading must not grow the manager: over real gRPC, with the
// server in its own process so its memory can be measured (heap after a full GC, and RSS), a
// client stops reading while 100,000 task updates are written. The server's memory stays flat,
// the client gets RESOURCE_EXHAUSTED naming the version to resume from, a client that reads
// sees every change, and the store goes on as before.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, type WatchTasksEvent } from '../../../proto/gen/control.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

interface Measure {
  heapUsed: number;
  rss: number;
  version: string;
  rounds: number;
}

let child: ChildProcess;
let lines: AsyncIterator<string>;
let addr = '';

async function nextLine(): Promise<Record<string, unknown>> {
  const r = await lines.next();
  if (r.done) throw new Error('watch server exited');
  return JSON.parse(r.value) as Record<string, unknown>;
}

async function command(cmd: string): Promise<Measure> {
  child.stdin!.write(`${cmd}\n`);
  return (await nextLine()) as unknown as Measure;
}

/** A reader that follows every change, resuming as the CLI does if it is ever dropped. */
function follower(client: ControlClient): { tasks: Map<string, string>; version: () => bigint; resumes: () => number; stop(): void } {
  const tasks = new Map<string, string>();
  let version = 0n;
  let resumes = 0;
  let stream: ClientReadableStream<WatchTasksEvent>;
  const open = (from: bigint): void => {
    stream = client.watchTasks({ serviceIds: [], resumeFromVersion: from });
    stream.on('data', (ev: WatchTasksEvent) => {
      for (const t of ev.tasks) tasks.set(t.id, t.status?.message.split(' ').slice(0, 2).join(' ') ?? '');
      version = ev.version;
    });
    stream.on('error', (err: ServiceError) => {
      // dropped for falling behind: resume from the last version seen, or re-list if that is gone
      if (err.code === status.RESOURCE_EXHAUSTED || err.code === status.OUT_OF_RANGE) {
        resumes++;
        open(err.code === status.RESOURCE_EXHAUSTED ? version : 0n);
      }
    });
  };
  open(0n);
  return { tasks, version: () => version, resumes: () => resumes, stop: () => stream.cancel() };
}

beforeAll(async () => {
  child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, 'watch-server.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ready = await nextLine();
  addr = ready.addr as string;
}, 120_000);

afterAll(() => {
  child?.kill('SIGKILL');
});

describe('WatchTasks over gRPC with a client that stops reading', () => {
  it("keeps the server's memory flat while 100,000 task updates are written, and ends the stuck watch with RESOURCE_EXHAUSTED", async () => {
    const slowClient = new ControlClient(addr, credentials.createInsecure());
    const fastClient = new ControlClient(addr, credentials.createInsecure());
    // reads the task list, then stops reading: grpc stops asking for messages and the window fills
    // (a stream never read at all is buffered by grpc-js in the client, which never pauses it)
    const stuck = slowClient.watchTasks({ serviceIds: [], resumeFromVersion: 0n });
    let listed = false;
    stuck.once('data', () => {
      listed = true;
      stuck.pause();
    });
    const stuckEnd = new Promise<ServiceError | 'end'>((resolve) => {
      stuck.on('error', (err: ServiceError) => resolve(err));
      stuck.on('end', () => resolve('end'));
    });
    const reader = follower(fastClient);
    for (let i = 0; i < 100 && !(listed && reader.tasks.size === 100); i++) await new Promise((r) => setTimeout(r, 100));
    expect(listed).toBe(true);

    // the store's history and the allocator's high-water mark fill during the first 40,000
    // updates; from then on nothing may grow
    await command('write 20000');
    const warm = await command('write 20000');
    const samples: Measure[] = [warm];
    for (let i = 0; i < 3; i++) samples.push(await command('write 20000'));
    const last = samples[samples.length - 1]!;
    expect(last.rounds).toBe(1_000); // 100,000 updates of 100 tasks
    const heapGrowth = Math.max(...samples.map((s) => s.heapUsed)) - warm.heapUsed;
    const rssGrowth = Math.max(...samples.map((s) => s.rss)) - warm.rss;
    // unbounded, the stuck watcher alone would keep 60,000 more versions of 2 KB: >120 MiB
    expect(heapGrowth, `heap samples ${samples.map((s) => Math.round(s.heapUsed / MiB)).join(', ')} MiB`).toBeLessThan(24 * MiB);
    expect(rssGrowth, `rss samples ${samples.map((s) => Math.round(s.rss / MiB)).join(', ')} MiB`).toBeLessThan(64 * MiB);

    // the stuck client, once it reads again, finds the end of its stream: the error and where to resume
    stuck.on('data', () => undefined);
    stuck.resume();
    const outcome = await stuckEnd;
    expect(outcome).not.toBe('end');
    const err = outcome as ServiceError;
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/^watch fell more than \d+ (events|bytes of changes) behind and was closed; resume from version \d+$/);
    // so far behind that the history no longer reaches back: the resume is refused with "re-list"
    const from = BigInt(/resume from version (\d+)/.exec(err.details)![1]!);
    const resumed = await new Promise<ServiceError | 'data'>((resolve) => {
      const s = slowClient.watchTasks({ serviceIds: [], resumeFromVersion: from });
      s.on('data', () => resolve('data'));
      s.on('error', (e: ServiceError) => resolve(e));
    });
    expect((resumed as ServiceError).code).toBe(status.OUT_OF_RANGE);
    expect((resumed as ServiceError).details).toMatch(/history is compacted up to version \d+; re-list and watch from the start/);

    // the reader saw every change up to the end; the store went on to the last write
    const version = BigInt(last.version);
    for (let i = 0; i < 200 && reader.version() < version; i++) await new Promise((r) => setTimeout(r, 100));
    expect(reader.version()).toBe(version);
    expect(reader.tasks.size).toBe(100);
    expect(new Set(reader.tasks.values())).toEqual(new Set(['round 999']));

    // a client that comes back within the history resumes exactly where it was
    const before = reader.version();
    await command('write 300');
    const replay: WatchTasksEvent[] = [];
    const s = fastClient.watchTasks({ serviceIds: [], resumeFromVersion: before });
    s.on('error', () => undefined); // CANCELLED below
    await new Promise<void>((resolve) =>
      s.on('data', (ev: WatchTasksEvent) => {
        replay.push(ev);
        if (replay.length === 3) resolve();
      }),
    );
    s.cancel();
    expect(replay.map((ev) => ev.version)).toEqual([before + 1n, before + 2n, before + 3n]);
    expect(replay.map((ev) => ev.tasks.length)).toEqual([100, 100, 100]);
    reader.stop();
    slowClient.close();
    fastClient.close();
  }, 600_000);
});
