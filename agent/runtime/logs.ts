// Reading a container's JSON-lines log: rotated files oldest first, then the live one; with
// `follow`, keeps reading (surviving rotation) until the container has exited and the log is
// drained.
import { createReadStream, type ReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { files } from './state.js';
import type { LogEntry } from './types.js';
import { unlessAborted } from '../../proto/undo.js';

export interface LogReadOptions {
  follow?: boolean;
  signal?: AbortSignal;
  /** resolves true once no more output can come (the container has exited) */
  finished: () => Promise<boolean>;
}

function parse(line: string): LogEntry | null {
  try {
    const v = JSON.parse(line) as LogEntry;
    return typeof v.text === 'string' ? v : null;
  } catch {
    return null;
  }
}

async function* linesOf(stream: ReadStream): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    rest += chunk.toString('utf8');
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    yield* parts;
  }
  if (rest) yield rest;
}

async function inode(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch {
    return null;
  }
}

export async function* readLogs(dir: string, maxFiles: number, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  const live = join(dir, files.log);
  for (let i = maxFiles - 1; i >= 1; i--) {
    if ((await inode(`${live}.${i}`)) === null) continue;
    for await (const l of linesOf(createReadStream(`${live}.${i}`))) {
      const e = parse(l);
      if (e) yield e;
    }
  }
  if (!opts.follow) {
    if ((await inode(live)) === null) return;
    for await (const l of linesOf(createReadStream(live))) {
      const e = parse(l);
      if (e) yield e;
    }
    return;
  }
  yield* follow(live, maxFiles, opts);
}

/** Rotated files written after the one with inode `ino`, oldest first: when the log rotated
 * more than once between two polls, these are the files the reader has not seen. */
async function rotatedSince(live: string, ino: number, maxFiles: number): Promise<string[]> {
  for (let i = 1; i < maxFiles; i++) {
    if ((await inode(`${live}.${i}`)) !== ino) continue;
    const newer: string[] = [];
    for (let j = i - 1; j >= 1; j--) newer.push(`${live}.${j}`);
    return newer;
  }
  return []; // rotated away entirely (or never there): nothing left to recover
}

/** Tails the live file by offset; when it is replaced (rotation) finishes the old one first. */
async function* follow(live: string, maxFiles: number, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  let fh = await open(live, 'r').catch(() => null);
  let ino = fh ? (await fh.stat()).ino : null;
  let pos = 0;
  let rest = '';
  const buf = Buffer.alloc(64 * 1024);
  /** The records of the next bytes of the open file from `pos` ([] at its end, null: nothing read). */
  const readMore = async (): Promise<LogEntry[] | null> => {
    if (!fh) return null;
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return null;
    pos += bytesRead;
    rest += buf.subarray(0, bytesRead).toString('utf8');
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    return parts.map(parse).filter((e): e is LogEntry => e !== null);
  };
  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      const entries = await readMore();
      if (entries) {
        yield* entries;
        continue;
      }
      const nowIno = await inode(live);
      if (nowIno !== null && nowIno !== ino) {
        // The writer may have appended to the old file after the read above found its end and
        // before it rotated: finish the old file (our descriptor still reads it) before the newer ones.
        for (let more = await readMore(); more; more = await readMore()) yield* more;
        await fh?.close();
        for (const path of ino === null ? [] : await rotatedSince(live, ino, maxFiles)) {
          for await (const l of linesOf(createReadStream(path))) {
            const e = parse(l);
            if (e) yield e;
          }
        }
        fh = await open(live, 'r').catch(() => null);
        ino = fh ? (await fh.stat()).ino : nowIno;
        pos = 0;
        rest = '';
        continue;
      }
      if (await opts.finished()) {
        // one last read: output written just before the exit record
        if (fh && (await fh.stat()).size > pos) continue;
        return;
      }
      await unlessAborted(sleep(100, undefined, { signal: opts.signal }), opts.signal);
    }
  } finally {
    await fh?.close();
  }
}
