// Secrets, configs and networks through the control API on a real gRPC server over a unix
// socket, and the references services make to them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  CreateConfigResponse,
  CreateNetworkResponse,
  CreateSecretResponse,
  CreateServiceResponse,
  GetConfigResponse,
  GetNetworkResponse,
  GetSecretResponse,
  ListConfigsResponse,
  ListNetworksResponse,
  ListSecretsResponse,
  UpdateSecretResponse,
} from '../../../proto/gen/control.js';
import { NetworkSpec, Task, TaskState, type ConfigReference, type SecretReference, type ServiceSpec } from '../../../proto/gen/types.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { formatCidr, procHostRoutes } from '../../../manager/allocator/index.js';
import { call, startControl, type ControlHarness } from './harness.js';
import { replicatedSpec } from './specs.js';
import { refused } from './refused.js';

let dir: string;
let sockets = 0;
const open: ControlHarness[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shoalsec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function start(o: Parameters<typeof startControl>[0] = {}): Promise<ControlHarness> {
  const h = await startControl({ components: false, bind: `unix:${join(dir, `control${++sockets}.sock`)}`, ...o });
  open.push(h);
  return h;
}

const bytes = (s: string): Buffer => Buffer.from(s);
const spec = (name: string, data: Buffer | string, labels: Record<string, string> = {}) => ({ annotations: { name, labels }, data: typeof data === 'string' ? bytes(data) : data });

async function secret(h: ControlHarness, name: string, data = 'pw'): Promise<{ id: string; name: string }> {
  const r = await call<unknown, CreateSecretResponse>(h.client, 'createSecret', { spec: spec(name, data) });
  return { id: r.secret!.id, name };
}
async function config(h: ControlHarness, name: string, data = 'x=1'): Promise<{ id: string; name: string }> {
  const r = await call<unknown, CreateConfigResponse>(h.client, 'createConfig', { spec: spec(name, data) });
  return { id: r.config!.id, name };
}
async function network(h: ControlHarness, name: string, extra: Partial<NetworkSpec> = {}): Promise<string> {
  const r = await call<unknown, CreateNetworkResponse>(h.client, 'createNetwork', { spec: NetworkSpec.fromPartial({ annotations: { name }, ...extra }) });
  return r.network!.id;
}

function sref(s: { id: string; name: string }, target = '', mode = 0, uid = ''): SecretReference {
  return { secretId: s.id, secretName: s.name, file: { name: target, uid, gid: '', mode } };
}
function cref(c: { id: string; name: string }, target = ''): ConfigReference {
  return { configId: c.id, configName: c.name, file: { name: target, uid: '', gid: '', mode: 0 } };
}
function withRefs(name: string, secrets: SecretReference[], configs: ConfigReference[] = []): ServiceSpec {
  return replicatedSpec(name, 1, (s) => {
    s.task!.container!.secrets = secrets;
    s.task!.container!.configs = configs;
  });
}
const createService = (h: ControlHarness, s: ServiceSpec): Promise<CreateServiceResponse> => call(h.client, 'createService', { spec: s });

describe('secrets', () => {
  it('are created and read back by id, prefix and name, never with their data', async () => {
    const h = await start();
    const created = await call<unknown, CreateSecretResponse>(h.client, 'createSecret', { spec: spec('db-password', 'hunter2', { env: 'prod' }) });
    const id = created.secret!.id;
    expect(created.secret!.spec!.data).toHaveLength(0);
    expect(created.secret!.meta!.version).toBeGreaterThan(0n);
    // The store keeps the data for the dispatcher.
    expect(Buffer.from(h.store.view((tx) => tx.secrets.get(id)!.spec!.data)).toString()).toBe('hunter2');
    for (const ref of [id, id.slice(0, 6), 'DB-PASSWORD']) {
      const got = await call<unknown, GetSecretResponse>(h.client, 'getSecret', { secretId: ref });
      expect(got.secret!.id).toBe(id);
      expect(got.secret!.spec!.data).toHaveLength(0);
      expect(got.secret!.spec!.annotations!.labels).toEqual({ env: 'prod' });
    }
    await secret(h, 'api-key');
    const all = await call<unknown, ListSecretsResponse>(h.client, 'listSecrets', { names: [], labels: {} });
    expect(all.secrets.map((s) => s.spec!.annotations!.name)).toEqual(['api-key', 'db-password']);
    expect(all.secrets.every((s) => s.spec!.data.length === 0)).toBe(true);
    const byName = await call<unknown, ListSecretsResponse>(h.client, 'listSecrets', { names: ['Api-Key'], labels: {} });
    expect(byName.secrets.map((s) => s.spec!.annotations!.name)).toEqual(['api-key']);
    const byLabel = await call<unknown, ListSecretsResponse>(h.client, 'listSecrets', { names: [], labels: { env: '' } });
    expect(byLabel.secrets.map((s) => s.id)).toEqual([id]);
    await refused(call(h.client, 'getSecret', { secretId: 'nope' }), status.NOT_FOUND, /secret "nope" not found; list them with `shoal secret ls`/);
  });

  it('refuses bad names, empty or oversized data and taken names, and writes nothing', async () => {
    const h = await start();
    await secret(h, 'token');
    const v = h.store.version;
    await refused(call(h.client, 'createSecret', { spec: spec('TOKEN', 'x') }), status.ALREADY_EXISTS, /^secret "TOKEN" already exists: choose another name/);
    await refused(call(h.client, 'createSecret', { spec: spec('', 'x') }), status.INVALID_ARGUMENT, /a secret needs a name/);
    await refused(call(h.client, 'createSecret', { spec: spec('a/b', 'x') }), status.INVALID_ARGUMENT, /secret name "a\/b" is invalid/);
    await refused(call(h.client, 'createSecret', { spec: spec('x'.repeat(65), 'x') }), status.INVALID_ARGUMENT, /at most 64/);
    await refused(call(h.client, 'createSecret', { spec: spec('empty', '') }), status.INVALID_ARGUMENT, /secret "empty" has no data/);
    await refused(call(h.client, 'createSecret', { spec: spec('big', Buffer.alloc(500 * 1024 + 1)) }), status.INVALID_ARGUMENT, /secret "big" is 512001 bytes; at most 512000/);
    await refused(call(h.client, 'createSecret', {}), status.INVALID_ARGUMENT, /no secret spec/);
    expect(h.store.version).toBe(v);
    // Exactly 500 KiB is allowed.
    await secret(h, 'max', 'y'.repeat(500 * 1024));
  });

  it('updates labels only, compare-and-swap on the version', async () => {
    const h = await start();
    const s = await secret(h, 'cert', 'PEM');
    const v1 = h.store.view((tx) => tx.secrets.get(s.id)!.meta!.version);
    const up = await call<unknown, UpdateSecretResponse>(h.client, 'updateSecret', { secretId: 'cert', version: v1, labels: { rotated: 'yes' } });
    expect(up.secret!.spec!.annotations).toEqual({ name: 'cert', labels: { rotated: 'yes' } });
    expect(up.secret!.spec!.data).toHaveLength(0);
    expect(Buffer.from(h.store.view((tx) => tx.secrets.get(s.id)!.spec!.data)).toString()).toBe('PEM');
    await refused(call(h.client, 'updateSecret', { secretId: s.id, version: v1, labels: {} }), status.FAILED_PRECONDITION, /secret "cert" changed since it was read/);
    expect(h.store.view((tx) => tx.secrets.get(s.id)!.spec!.annotations!.labels)).toEqual({ rotated: 'yes' });
  });

  it('are refused removal while services refer to them, naming the services', async () => {
    const h = await start();
    const s = await secret(h, 'shared');
    await createService(h, withRefs('web', [sref(s)]));
    await createService(h, withRefs('api', [sref(s, 'other-file')]));
    await refused(call(h.client, 'removeSecret', { secretId: 'shared' }), status.FAILED_PRECONDITION, /^secret "shared" is in use by services api, web: /);
    await call(h.client, 'removeService', { serviceId: 'web' });
    await refused(call(h.client, 'removeSecret', { secretId: s.id }), status.FAILED_PRECONDITION, /in use by service api: /);
    await call(h.client, 'removeService', { serviceId: 'api' });
    await call(h.client, 'removeSecret', { secretId: s.id.slice(0, 8) });
    expect(h.store.view((tx) => tx.secrets.all())).toHaveLength(0);
  });
});

describe('configs', () => {
  it('are returned with their data, follow the same name and size rules, and can be removed', async () => {
    const h = await start();
    const c = await config(h, 'nginx.conf', 'server {}');
    const got = await call<unknown, GetConfigResponse>(h.client, 'getConfig', { configId: 'nginx.conf' });
    expect(Buffer.from(got.config!.spec!.data).toString()).toBe('server {}');
    const list = await call<unknown, ListConfigsResponse>(h.client, 'listConfigs', { names: ['nginx.conf'], labels: {} });
    expect(list.configs.map((x) => x.id)).toEqual([c.id]);
    await refused(call(h.client, 'createConfig', { spec: spec('NGINX.conf', 'x') }), status.ALREADY_EXISTS, /^config "NGINX.conf" already exists/);
    await refused(call(h.client, 'createConfig', { spec: spec('huge', Buffer.alloc(600 * 1024)) }), status.INVALID_ARGUMENT, /config "huge" is 614400 bytes/);
    // A secret may share a config's name: they are different kinds.
    await secret(h, 'nginx.conf');
    await createService(h, withRefs('web', [], [cref(c, '/etc/nginx/nginx.conf')]));
    await refused(call(h.client, 'removeConfig', { configId: c.id }), status.FAILED_PRECONDITION, /config "nginx.conf" is in use by service web/);
    await call(h.client, 'removeService', { serviceId: 'web' });
    await call(h.client, 'removeConfig', { configId: c.id });
    await refused(call(h.client, 'getConfig', { configId: c.id }), status.NOT_FOUND, /config ".*" not found/);
  });
});

describe('service references to secrets and configs', () => {
  it('accept existing objects and refuse unknown ids, mismatched names and bad file targets', async () => {
    const h = await start();
    const s = await secret(h, 'db');
    const c = await config(h, 'app');
    const ok = await createService(h, withRefs('web', [sref(s, '', 0o400, '1000')], [cref(c)]));
    expect(ok.service!.spec!.task!.container!.secrets[0]!.secretId).toBe(s.id);
    const v = h.store.version;
    const bad: [ServiceSpec, status, RegExp][] = [
      [withRefs('a', [{ ...sref(s), secretId: 'x'.repeat(25), secretName: 'gone' }]), status.NOT_FOUND, /^secret "gone" not found: create it with `shoal secret create`/],
      [withRefs('a', [{ ...sref(s), secretName: 'other' }]), status.NOT_FOUND, /^secret "other" not found \(id \w+ is secret "db"\)/],
      [withRefs('a', [{ ...sref(s), secretId: '' }]), status.INVALID_ARGUMENT, /secret reference "db" has no secret id/],
      [withRefs('a', [{ ...sref(s), secretName: '' }]), status.INVALID_ARGUMENT, /has no secret name/],
      [withRefs('a', [], [{ ...cref(c), configId: 'y'.repeat(25) }]), status.NOT_FOUND, /^config "app" not found: create it with `shoal config create`/],
      // The id of a config is not a secret's id.
      [withRefs('a', [{ secretId: c.id, secretName: 'app', file: undefined }]), status.NOT_FOUND, /secret "app" not found/],
      [withRefs('a', [sref(s, 'same'), sref(s, '/run/secrets/same')]), status.INVALID_ARGUMENT, /secret "db" and secret "db" both target \/run\/secrets\/same/],
      [withRefs('a', [sref(s, '/etc/app')], [cref(c, '/etc/app')]), status.INVALID_ARGUMENT, /secret "db" and config "app" both target \/etc\/app/],
      [withRefs('a', [], [cref(c), cref(c, '/app')]), status.INVALID_ARGUMENT, /both target \/app/],
      [withRefs('a', [sref(s, '../etc/shadow')]), status.INVALID_ARGUMENT, /target "..\/etc\/shadow" must be a file path without ".."/],
      [withRefs('a', [sref(s, 'x', 0o1777)]), status.INVALID_ARGUMENT, /mode 01777 is not a file mode/],
      [withRefs('a', [sref(s, 'x', 0, 'root')]), status.INVALID_ARGUMENT, /uid "root" must be a number/],
      [withRefs('a', [sref(s, 'x', 0, '99999999999')]), status.INVALID_ARGUMENT, /uid "99999999999" must be a number/],
      // Paths are compared as the agent mounts them (normalized).
      [withRefs('a', [sref(s, './same'), sref(s, 'same')]), status.INVALID_ARGUMENT, /both target \/run\/secrets\/same/],
      [withRefs('a', [], [cref(c, '/')]), status.INVALID_ARGUMENT, /target "\/" must be a file path/],
    ];
    for (const [spec, code, text] of bad) await refused(createService(h, spec), code, text);
    expect(h.store.version).toBe(v);
    // An update is checked the same way, and a refused one leaves the service as it was.
    const svc = ok.service!;
    await refused(
      call(h.client, 'updateService', { serviceId: 'web', version: svc.meta!.version, spec: withRefs('web', [{ ...sref(s), secretId: 'z'.repeat(25), secretName: 'new' }]), rollback: false }),
      status.NOT_FOUND,
      /secret "new" not found/,
    );
    expect(h.store.version).toBe(v);
    const s2 = await secret(h, 'db2');
    await call(h.client, 'updateService', { serviceId: 'web', version: svc.meta!.version, spec: withRefs('web', [sref(s), sref(s2)]), rollback: false });
    expect(h.store.view((tx) => tx.services.find('name', 'web')[0]!.spec!.task!.container!.secrets.map((r) => r.secretName))).toEqual(['db', 'db2']);
  });
});

describe('networks', () => {
  it('are created with the overlay driver by default, listed, found and refused a taken name', async () => {
    const h = await start();
    const id = await network(h, 'backend', { annotations: { name: 'backend', labels: { tier: 'b' } } });
    const got = await call<unknown, GetNetworkResponse>(h.client, 'getNetwork', { networkId: 'BACKEND' });
    expect(got.network!.id).toBe(id);
    expect(got.network!.spec!.driverConfig!.name).toBe('overlay');
    await network(h, 'gw', { driverConfig: { name: 'host-gw', options: {} }, ipam: { driver: undefined, configs: [{ subnet: '172.29.0.0/24', range: '', gateway: '172.29.0.1', reserved: {} }] } });
    expect((await call<unknown, GetNetworkResponse>(h.client, 'getNetwork', { networkId: 'gw' })).network!.spec!.driverConfig!.name).toBe('host-gw');
    const list = await call<unknown, ListNetworksResponse>(h.client, 'listNetworks', { names: [], labels: { tier: 'b' } });
    expect(list.networks.map((n) => n.spec!.annotations!.name)).toEqual(['backend']);
    const v = h.store.version;
    await refused(network(h, 'Backend'), status.ALREADY_EXISTS, /^network "Backend" already exists/);
    await refused(network(h, ''), status.INVALID_ARGUMENT, /a network needs a name/);
    await refused(network(h, 'n', { ipam: { driver: undefined, configs: [{ subnet: '10.9.0.0/33', range: '', gateway: '', reserved: {} }] } }), status.INVALID_ARGUMENT, /subnet "10.9.0.0\/33" is not a CIDR block/);
    await refused(network(h, 'n', { driverConfig: { name: 'Bad Driver', options: {} } }), status.INVALID_ARGUMENT, /driver "Bad Driver" is not a driver name/);
    await refused(network(h, 'n', { driverConfig: { name: 'bridge', options: {} } }), status.INVALID_ARGUMENT, /^network "n": driver "bridge" is unknown: use overlay/);
    await refused(network(h, 'n', { driverConfig: { name: 'overlay', options: { encap: 'ipip' } } }), status.INVALID_ARGUMENT, /^network "n": encap option "ipip" is not one of vxlan, gre, routed/);
    expect(h.store.version).toBe(v);
  });

  it('must exist for a service to attach, and are refused removal while a service or a live task uses them', async () => {
    const h = await start();
    const backId = await network(h, 'back');
    await network(h, 'ingress', { ingress: true });
    const attach = (name: string, targets: string[], old = false): ServiceSpec =>
      replicatedSpec(name, 1, (s) => {
        const nets = targets.map((target) => ({ target, aliases: [] }));
        if (old) s.networks = nets;
        else s.task!.networks = nets;
      });
    await refused(createService(h, attach('a', ['front'])), status.NOT_FOUND, /^network "front" not found: create it with `shoal network create front`/);
    await refused(createService(h, attach('a', ['front'], true)), status.NOT_FOUND, /network "front" not found/);
    await refused(createService(h, attach('a', ['back', backId])), status.INVALID_ARGUMENT, /attaches to network ".*" twice/);
    await refused(createService(h, attach('a', ['ingress'])), status.INVALID_ARGUMENT, /cannot attach to the ingress network/);
    // a /29 addresses 5: a VIP-mode service fits 4 replicas, a DNSRR one 5
    await network(h, 'tiny', { ipam: { driver: undefined, configs: [{ subnet: '172.25.0.0/29', range: '', gateway: '', reserved: {} }] } });
    const tiny = (name: string, replicas: number, dnsrr = false): ServiceSpec =>
      replicatedSpec(name, replicas, (s) => {
        s.task!.networks = [{ target: 'tiny', aliases: [] }];
        if (dnsrr) s.endpoint = { mode: 1, ports: [] };
      });
    await refused(createService(h, tiny('big', 5)), status.INVALID_ARGUMENT, /^service "big" asks for 5 replicas but network "tiny" \(\/29\) has addresses for 4 tasks beside the service's virtual IP: give the network a larger subnet, or fewer replicas/);
    await createService(h, tiny('rr', 5, true));
    await createService(h, tiny('fits', 4));
    await createService(h, attach('web', ['BACK']));
    await createService(h, attach('api', [backId], true));
    await refused(call(h.client, 'removeNetwork', { networkId: 'back' }), status.FAILED_PRECONDITION, /^network "back" is in use by services api, web: /);
    await call(h.client, 'removeService', { serviceId: 'web' });
    await call(h.client, 'removeService', { serviceId: 'api' });
    // A task of a removed service that is still stopping: the network is marked for deletion (the
    // allocator deletes it after the task, test/manager/allocator), and takes no one new.
    await h.store.update((tx) =>
      tx.tasks.create(Task.fromPartial({ id: 't1', serviceId: 'gone', serviceName: 'old', desiredState: TaskState.SHUTDOWN, status: { state: TaskState.RUNNING }, networks: [{ networkId: backId }] })),
    );
    await call(h.client, 'removeNetwork', { networkId: backId });
    expect(h.store.view((tx) => tx.networks.get(backId)?.pendingDelete)).toBe(true);
    await call(h.client, 'removeNetwork', { networkId: 'back' });
    await refused(network(h, 'back'), status.ALREADY_EXISTS, /^network "back" is being removed \(its last tasks are stopping\)/);
    await refused(createService(h, attach('late', ['back'])), status.FAILED_PRECONDITION, /^network "back" is being removed/);
    // With no task on it, rm deletes at once.
    const idle = await network(h, 'idle');
    await call(h.client, 'removeNetwork', { networkId: 'idle' });
    await refused(call(h.client, 'getNetwork', { networkId: idle }), status.NOT_FOUND, /network ".*" not found/);
  });

  it('refuse a subnet that is malformed, or overlaps another network, the default pool or a route of the host, naming both', async () => {
    const h = await start();
    const ipam = (subnet: string, gateway = '', range = '') => ({ ipam: { driver: undefined, configs: [{ subnet, range, gateway, reserved: {} }] } });
    await network(h, 'first', ipam('172.30.0.0/16'));
    await refused(network(h, 'second', ipam('172.30.8.0/24')), status.INVALID_ARGUMENT, /^network "second": subnet 172.30.8.0\/24 overlaps network "first" \(172.30.0.0\/16\)/);
    await refused(network(h, 'second', ipam('10.20.0.0/16')), status.INVALID_ARGUMENT, /^network "second": subnet 10.20.0.0\/16 overlaps the default address pool 10.0.0.0\/8/);
    const route = procHostRoutes()[0];
    expect(route).toBeDefined();
    await refused(network(h, 'second', ipam(formatCidr(route!.cidr))), status.INVALID_ARGUMENT, new RegExp(`overlaps the route to ${formatCidr(route!.cidr)} \\(dev ${route!.dev}\\) on the manager's host`));
    await refused(network(h, 'second', ipam('172.31.0.0/24', '172.31.1.1')), status.INVALID_ARGUMENT, /^network "second": gateway 172.31.1.1 is not inside subnet 172.31.0.0\/24/);
    await refused(network(h, 'second', ipam('172.31.0.0/24', '', '172.31.0.128/24')), status.INVALID_ARGUMENT, /^network "second": ip range "172.31.0.128\/24" has host bits set; write 172.31.0.0\/24/);
    await refused(network(h, 'second', ipam('172.31.0.1/24')), status.INVALID_ARGUMENT, /subnet "172.31.0.1\/24" has host bits set; write 172.31.0.0\/24/);
    const two = { ipam: { driver: undefined, configs: [ipam('172.31.0.0/24').ipam.configs[0]!, ipam('172.31.1.0/24').ipam.configs[0]!] } };
    await refused(network(h, 'second', two), status.INVALID_ARGUMENT, /^network "second": 2 subnets asked for; a network has one/);
    await network(h, 'second', ipam('172.31.0.0/24', '172.31.0.254', '172.31.0.128/25'));
    expect(h.store.view((tx) => tx.networks.all().length)).toBe(2);
  });
});

describe('a follower', () => {
  it('forwards the new writes to the leader and answers reads from its own store', async () => {
    const leader = await start();
    const follower = await start({ store: new MemoryStore(), deps: { isLeader: () => false, leaderClient: () => leader.client } });
    const s = await secret(follower, 'fwd');
    await config(follower, 'fwd-cfg');
    await network(follower, 'fwd-net');
    expect(leader.store.view((tx) => [tx.secrets.get(s.id)?.spec?.annotations?.name, tx.configs.all().length, tx.networks.all().length])).toEqual(['fwd', 1, 1]);
    await call(follower.client, 'updateSecret', { secretId: s.id, version: 0n, labels: { a: '1' } });
    expect(leader.store.view((tx) => tx.secrets.get(s.id)!.spec!.annotations!.labels)).toEqual({ a: '1' });
    await refused(call(follower.client, 'getSecret', { secretId: s.id }), status.NOT_FOUND, /not found/);
    await call(follower.client, 'removeSecret', { secretId: s.id });
    await call(follower.client, 'removeConfig', { configId: 'fwd-cfg' });
    await call(follower.client, 'removeNetwork', { networkId: 'fwd-net' });
    expect(leader.store.view((tx) => tx.secrets.all().length + tx.configs.all().length + tx.networks.all().length)).toBe(0);
  });
});
