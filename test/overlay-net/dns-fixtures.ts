// The embedded DNS server run in a lab host's namespace (as the agent runs), a fake upstream
// resolver on a lab host, and DNS queries made from inside a container's namespace.
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { DnsServerOptions, DnsService, DnsTask } from '../../overlay-net/dns/index.js';
import type { Container, TestLab } from './lab.js';

const SERVE = fileURLToPath(new URL('./dns-serve.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DNS_PACKET = createRequire(import.meta.url).resolve('dns-packet');

export interface RemoteDns {
  addNetwork(n: { id: string; gateway: string }): Promise<void>;
  removeNetwork(id: string): Promise<void>;
  upsertService(s: DnsService): Promise<void>;
  removeService(id: string): Promise<void>;
  upsertTask(t: DnsTask): Promise<void>;
  removeTask(id: string): Promise<void>;
  /** Ends the server (stdin closed) and waits for the process to exit. */
  close(): Promise<void>;
}

function lines(p: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  p.on('exit', (code) => {
    for (const w of waiting.splice(0)) w(JSON.stringify({ ok: false, error: `exited ${code}: ${err}` }));
  });
  return () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r)));
}

async function ready(next: () => Promise<string>, what: string): Promise<void> {
  const l = await next();
  if (l !== 'ready') throw new Error(`${what} did not start: ${l}`);
}

export async function startDns(t: TestLab, host: string, opts: DnsServerOptions): Promise<RemoteDns> {
  const p = t.lab.spawn(host, [process.execPath, '--import', 'tsx', SERVE, 'server', JSON.stringify(opts)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const next = lines(p);
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  await ready(next, 'dns server');
  const call = async (op: string, arg: unknown) => {
    p.stdin!.write(JSON.stringify({ op, arg }) + '\n');
    const r = JSON.parse(await next()) as { ok: boolean; error?: string };
    if (!r.ok) throw new Error(`${op}: ${r.error}`);
  };
  return {
    addNetwork: (n) => call('addNetwork', n),
    removeNetwork: (id) => call('removeNetwork', id),
    upsertService: (s) => call('upsertService', s),
    removeService: (id) => call('removeService', id),
    upsertTask: (x) => call('upsertTask', x),
    removeTask: (id) => call('removeTask', id),
    close: async () => {
      p.stdin!.end();
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A fake upstream resolver on a lab host: every A query gets `answer`. */
export async function startUpstream(t: TestLab, host: string, port: number, answer: string): Promise<{ stop(): Promise<void> }> {
  const p = t.lab.spawn(host, [process.execPath, '--import', 'tsx', SERVE, 'upstream', t.lab.host(host).addr, String(port), answer], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  await ready(lines(p), 'fake upstream');
  return {
    stop: async () => {
      p.kill('SIGKILL');
      await exited;
    },
  };
}

/** What a lookup gave: sorted addresses, or the resolver's error code (ENOTFOUND, ENODATA, EREFUSED…). */
export type Lookup = string[] | string;

// c-ares (node:dns) inside the container's namespace, as an application there would ask.
const LOOKUP = `const {Resolver}=require('dns').promises;const [server,kind,...names]=process.argv.slice(1);
const r=new Resolver({timeout:3000,tries:2});r.setServers([server]);const out={};
Promise.all(names.map(n=>(kind==='A'?r.resolve4(n):kind==='AAAA'?r.resolve6(n):r.reverse(n)).then(a=>{out[n]=a.sort()},e=>{out[n]=e.code})))
.then(()=>console.log(JSON.stringify(out)));`;

export async function lookup(c: Container, server: string, names: string[], kind: 'A' | 'AAAA' | 'PTR' = 'A'): Promise<Record<string, Lookup>> {
  const r = await c.exec([process.execPath, '-e', LOOKUP, server, kind, ...names]);
  if (r.code !== 0) throw new Error(`lookup in ${c.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, Lookup>;
}

// One A query over TCP (length-prefixed), with dns-packet.
const TCP_QUERY = `const p=require(process.argv[1]);const net=require('net');const [,,server,name]=process.argv;
const q=p.streamEncode({type:'query',id:7,flags:p.RECURSION_DESIRED,questions:[{type:'A',name}]});
const s=net.connect(53,server,()=>s.write(q));let b=Buffer.alloc(0);
s.on('data',d=>{b=Buffer.concat([b,d]);if(b.length>=2&&b.length>=2+b.readUInt16BE(0)){const r=p.streamDecode(b);console.log(JSON.stringify((r.answers||[]).map(a=>a.data).sort()));s.end()}});
setTimeout(()=>{console.log('timeout');process.exit(1)},5000).unref();`;

export async function lookupTcp(c: Container, server: string, name: string): Promise<string[]> {
  const r = await c.exec([process.execPath, '-e', TCP_QUERY, DNS_PACKET, server, name]);
  if (r.code !== 0) throw new Error(`tcp lookup in ${c.name}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}
