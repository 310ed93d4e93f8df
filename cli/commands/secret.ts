// `shoal secret create|ls|inspect|rm` and, through the same code, `shoal config ...`: named
// blobs kept by the managers and mounted read-only into the containers of services that refer
// to them. A secret's data never comes back from the cluster; a config's does (inspect shows it).
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { Config, Secret } from '../../proto/gen/types.js';
import { addConnectionOptions, connect, connectionFlags } from '../client/index.js';
import { UsageError } from '../errors.js';
import { ago, formatOf, printJson, renderTable, shortId } from '../format/index.js';
import { objectControl, type FileKind, type FileObject, type ObjectControl } from '../stack/object-control.js';
import { MAX_OBJECT_BYTES } from '../stack/objects.js';
import { STACK_NAMESPACE_LABEL } from '../stack/to-proto.js';

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--label k=v` (repeatable; `k` alone is an empty value). */
export function parseLabels(items: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    if (!key.trim()) throw new UsageError(`invalid --label "${item}": write KEY=VALUE, e.g. --label env=prod`);
    out[key] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

export async function withObjectControl<T>(cmd: Command, fn: (c: ObjectControl) => Promise<T>): Promise<T> {
  const conn = connect(connectionFlags(cmd));
  try {
    return await fn(objectControl(conn));
  } finally {
    conn.close();
  }
}

async function readStdin(kind: FileKind): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_OBJECT_BYTES) throw new UsageError(`the ${kind} on standard input is larger than ${MAX_OBJECT_BYTES} bytes (500 KiB), the most a ${kind} may hold`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** FILE or `-` (standard input), checked before anything is sent. */
async function readData(kind: FileKind, file: string): Promise<Buffer> {
  let data: Buffer;
  if (file === '-') data = await readStdin(kind);
  else {
    try {
      const size = statSync(file).size;
      if (size > MAX_OBJECT_BYTES) throw new UsageError(`${file} is ${size} bytes: a ${kind} holds at most ${MAX_OBJECT_BYTES} (500 KiB); keep large files in an image or a volume`);
      data = readFileSync(file);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      throw new UsageError(`cannot read ${file} (${why}): give the path of the file whose content becomes the ${kind}, or - to read standard input`);
    }
  }
  if (data.length === 0) throw new UsageError(`${file === '-' ? 'standard input' : file} is empty: a ${kind} needs some content`);
  return data;
}

export interface FileObjectRow {
  id: string;
  name: string;
  stack: string;
  created: string;
  updated: string;
}

function rowOf(o: FileObject, now = Date.now()): FileObjectRow {
  return {
    id: o.id,
    name: o.spec?.annotations?.name ?? '',
    stack: o.spec?.annotations?.labels[STACK_NAMESPACE_LABEL] ?? '',
    created: ago(o.meta?.createdAtMs ?? 0n, now),
    updated: ago(o.meta?.updatedAtMs ?? 0n, now),
  };
}

/** The JSON of `inspect`: the proto form; a secret without its (always empty) data field. */
function inspectJson(kind: FileKind, o: FileObject): unknown {
  if (kind === 'config') return Config.toJSON(o);
  const json = Secret.toJSON(o) as { spec?: { data?: string } };
  if (json.spec) delete json.spec.data;
  return json;
}

function pretty(kind: FileKind, o: FileObject): string {
  const labels = o.spec?.annotations?.labels ?? {};
  const lines = [
    `ID:              ${o.id}`,
    `Name:            ${o.spec?.annotations?.name ?? ''}`,
    ...(Object.keys(labels).length > 0 ? ['Labels:', ...Object.keys(labels).sort().map((k) => ` - ${k}=${labels[k]}`)] : []),
    `Created at:      ${o.meta?.createdAtMs ? new Date(Number(o.meta.createdAtMs)).toISOString() : ''}`,
    `Updated at:      ${o.meta?.updatedAtMs ? new Date(Number(o.meta.updatedAtMs)).toISOString() : ''}`,
  ];
  if (kind === 'config') {
    const data = Buffer.from(o.spec?.data ?? new Uint8Array());
    lines.push('Data:');
    lines.push(data.toString('utf8').replace(/\n$/, ''));
  }
  return `${lines.join('\n')}\n`;
}

export function registerFileObjectCommands(program: Command, kind: FileKind): void {
  const plural = `${kind}s`;
  const group = addConnectionOptions(program.command(kind).description(kind === 'secret'
    ? 'manage secrets: files mounted read-only into containers (under /run/secrets), never shown back'
    : 'manage configs: files mounted read-only into containers'));

  group
    .command('create')
    .description(`create a ${kind} from a file or standard input`)
    .argument('<name>', `${kind} name`)
    .argument('<file>', 'file whose content becomes the data, or - for standard input')
    .option('-l, --label <KEY=VALUE>', `${kind} label (repeatable)`, collect)
    .action(async (name: string, file: string, f: { label?: string[] }, cmd: Command) => {
      const labels = parseLabels(f.label);
      const data = await readData(kind, file);
      const o = await withObjectControl(cmd, (c) => c.createFileObject(kind, { annotations: { name, labels }, data }));
      process.stdout.write(`${o.id}\n`);
    });

  group
    .command('ls')
    .alias('list')
    .description(`list ${plural}`)
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'print only ids')
    .action(async (f: { format?: string; quiet?: boolean }, cmd: Command) => {
      const format = formatOf(f.format);
      const list = await withObjectControl(cmd, (c) => c.listFileObjects(kind));
      if (format === 'json') return printJson(list.map((o) => rowOf(o)));
      if (f.quiet) return void process.stdout.write(list.map((o) => `${o.id}\n`).join(''));
      process.stdout.write(renderTable(['ID', 'NAME', 'STACK', 'CREATED', 'UPDATED'], list.map((o) => {
        const r = rowOf(o);
        return [shortId(r.id, 25), r.name, r.stack, r.created, r.updated];
      })));
    });

  group
    .command('inspect')
    .description(kind === 'secret' ? 'show secrets (never their data) as JSON' : 'show configs, data included, as JSON (base64) or --pretty (text)')
    .argument('<name...>', `${kind} names or ids`)
    .option('--pretty', 'human-readable form')
    .action(async (refs: string[], f: { pretty?: boolean }, cmd: Command) => {
      const found = await withObjectControl(cmd, async (c) => {
        const out: FileObject[] = [];
        for (const ref of refs) out.push(await c.getFileObject(kind, ref));
        return out;
      });
      if (f.pretty) process.stdout.write(found.map((o) => pretty(kind, o)).join('\n'));
      else printJson(found.map((o) => inspectJson(kind, o)));
    });

  group
    .command('rm')
    .alias('remove')
    .description(`remove ${plural} (refused while a service uses one)`)
    .argument('<name...>', `${kind} names or ids`)
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withObjectControl(cmd, async (c) => {
        for (const ref of refs) {
          await c.removeFileObject(kind, ref);
          process.stdout.write(`${ref}\n`);
        }
      });
    });
}

export function registerSecretCommands(program: Command): void {
  registerFileObjectCommands(program, 'secret');
}
