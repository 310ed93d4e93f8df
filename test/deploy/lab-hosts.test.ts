// A 3-host lab as later tests use it: addresses, hostnames, directories, namespaces of exec,
// and real TCP between hosts over the lab's switch.
import { readlinkSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { LabExistsError, LabNotFoundError } from '../../deploy/lab/errors.js';
import { residueOf, tempDirs } from './lab-helpers.js';

const NAME = 'shoaltl-hosts';
const dirs = tempDirs('hosts');
let lab: Lab;

beforeAll(async () => {
  lab = await Lab.up({ name: NAME, hosts: 3, subnet: '10.78.5.0/24', ...dirs });
});

afterAll(async () => {
  try {
    await Lab.down(NAME, dirs);
    expect(residueOf(NAME, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
  }
});

const nsInode = (path: string) => statSync(path).ino;
const linkInode = (text: string) => Number(/\[(\d+)\]/.exec(text)![1]);

describe('lab of 3 hosts', () => {
  it('gives each host its own address, hostname and directories', async () => {
    expect(lab.hosts.map((h) => [h.name, h.addr])).toEqual([
      ['h1', '10.78.5.2'],
      ['h2', '10.78.5.3'],
      ['h3', '10.78.5.4'],
    ]);
    for (const h of lab.hosts) {
      const r = await lab.exec(h, ['sh', '-c', 'hostname; ip -o -4 addr show; echo "$SHOAL_LAB_HOST $SHOAL_ADDR $SHOAL_LAB"; echo "$SHOAL_ROOT"; echo "$SHOAL_RUN"']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(h.name);
      const addrs = lines.filter((l) => / inet /.test(l)).map((l) => l.split(/\s+/).slice(1, 4).join(' '));
      expect(addrs.sort()).toEqual(['eth0 inet ' + `${h.addr}/24`, 'lo inet 127.0.0.1/8'].sort());
      expect(lines.at(-3)).toBe(`${h.name} ${h.addr} ${NAME}`);
      expect(lines.at(-2)).toBe(h.root);
      expect(lines.at(-1)).toBe(h.run);
      expect(statSync(h.root).isDirectory()).toBe(true);
      expect(statSync(h.run).isDirectory()).toBe(true);
    }
    expect(new Set(lab.hosts.map((h) => h.root)).size).toBe(3);
  });

  it('runs exec in the host network and UTS namespaces, keeping the machine mounts', async () => {
    const rootNet = readlinkSync('/proc/self/ns/net');
    const rootMnt = readlinkSync('/proc/self/ns/mnt');
    const seen = new Set<number>();
    for (const h of lab.hosts) {
      const r = await lab.exec(h, ['sh', '-c', 'readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/mnt; ls /sys/fs/cgroup']);
      expect(r.code, r.stderr).toBe(0);
      const [net, uts, mnt, ...cgroups] = r.stdout.trim().split('\n');
      expect(linkInode(net!)).toBe(nsInode(h.netnsPath));
      expect(linkInode(uts!)).toBe(nsInode(h.utsPath));
      expect(net).not.toBe(rootNet);
      expect(mnt).toBe(rootMnt); // not `ip netns exec`: /sys and the cgroup trees stay visible
      expect(cgroups.length).toBeGreaterThan(0);
      seen.add(linkInode(net!));
    }
    expect(seen.size).toBe(3);
  });

  it('carries TCP between every pair of hosts over the switch', async () => {
    const server = `const net=require('net'),os=require('os');
      net.createServer(s=>{s.end(os.hostname()+' '+s.remoteAddress)}).listen(7070,process.env.SHOAL_ADDR,()=>console.log('ready'))`;
    const client = `const s=require('net').connect(7070,process.argv[1]);let d='';
      s.on('data',c=>d+=c).on('end',()=>console.log(d)).on('error',e=>{console.error(e.message);process.exit(3)})`;
    const servers = lab.hosts.map((h) => lab.spawn(h, [process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] }));
    try {
      await Promise.all(servers.map((s) => once(s.stdout!, 'data')));
      for (const from of lab.hosts) {
        for (const to of lab.hosts) {
          if (from === to) continue;
          const r = await lab.exec(from, [process.execPath, '-e', client, to.addr], { timeoutMs: 20_000 });
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout.trim()).toBe(`${to.name} ${from.addr}`);
        }
      }
    } finally {
      for (const s of servers) s.kill('SIGKILL');
    }
  });

  it('waits for a TCP service in another host to come up', async () => {
    const server = `setTimeout(()=>require('net').createServer(s=>s.end()).listen(7171,process.env.SHOAL_ADDR),300)`;
    const p = lab.spawn('h3', [process.execPath, '-e', server], { stdio: 'ignore' });
    try {
      await lab.waitForTcp('h1', lab.host('h3').addr, 7171, 20_000);
      await expect(lab.waitForTcp('h1', lab.host('h2').addr, 7172, 300)).rejects.toThrow(/nothing accepted TCP connections on 10\.78\.5\.3:7172 \(from h1\) within 300 ms/);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('refuses a second up of the same name and leaves the first lab untouched', async () => {
    const before = lab.hosts.map((h) => nsInode(h.netnsPath));
    await expect(Lab.up({ name: NAME, hosts: 2, ...dirs })).rejects.toThrow(LabExistsError);
    await expect(Lab.up({ name: NAME, hosts: 2, ...dirs })).rejects.toThrow(/already exists .*shoal lab down --name shoaltl-hosts/);
    const again = await Lab.open(NAME, dirs);
    expect(again.hosts.map((h) => nsInode(h.netnsPath))).toEqual(before);
    expect(again.hosts.length).toBe(3);
    const r = await again.exec('h2', ['hostname']);
    expect(r.stdout.trim()).toBe('h2');
    expect((await Lab.list(dirs)).map((l) => [l.name, l.status, l.hosts.length])).toEqual([[NAME, 'up', 3]]);
  });

  it('names unknown hosts and labs in its errors', async () => {
    expect(() => lab.host('h4')).toThrow(LabNotFoundError);
    expect(() => lab.host('h4')).toThrow(/no host "h4"; its hosts are h1, h2, h3/);
    await expect(lab.exec('h4', ['true'])).rejects.toThrow(LabNotFoundError);
    await expect(Lab.open('shoaltl-nope', dirs)).rejects.toThrow(/no lab named shoaltl-nope/);
  });
});
