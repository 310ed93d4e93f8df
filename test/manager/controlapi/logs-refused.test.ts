// The daemon's local-socket Control (daemon/control.ts localControl) on a node that is a worker
// or not in a cluster: a refused server stream (WatchTasks, ServiceLogs) must end with its
// status, not hang the client (grpc-js 1.14 drops the status of call.destroy(err)).
import { credentials, Server, ServerCredentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../../proto/gen/control.js';
import { localControl } from '../../../daemon/control.js';

let dir: string;
let server: Server;
let client: ControlClient;
let role: 'worker' | null = 'worker';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoallg-'));
  server = new Server();
  const svc = localControl(() => undefined, () => role);
  server.addService(svc.definition, svc.implementation);
  const sock = `unix:${join(dir, 'shoal.sock')}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(sock, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  client = new ControlClient(sock, credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

function outcome(stream: ClientReadableStream<unknown>): Promise<ServiceError | 'ended'> {
  return new Promise((resolve) => {
    stream.on('data', () => undefined);
    stream.on('error', (e: ServiceError) => resolve(e));
    stream.on('end', () => resolve('ended'));
  });
}

describe('localControl refusing streams', () => {
  it('ends WatchTasks on a worker with FAILED_PRECONDITION and the fix', async () => {
    role = 'worker';
    const r = await outcome(client.watchTasks({ serviceIds: [], resumeFromVersion: 0n }));
    expect(r).not.toBe('ended');
    expect((r as ServiceError).code).toBe(status.FAILED_PRECONDITION);
    expect((r as ServiceError).details).toMatch(/worker.*run the command on a manager/);
  });

  it('ends ServiceLogs outside a cluster with the way in', async () => {
    role = null;
    const r = (await outcome(client.serviceLogs({ serviceId: 'web', follow: true, tail: -1n }))) as ServiceError;
    expect(r.code).toBe(status.FAILED_PRECONDITION);
    expect(r.details).toMatch(/shoal init/);
  });

  it('still answers unary calls with the refusal', async () => {
    role = 'worker';
    const err = await new Promise<ServiceError | null>((resolve) => client.getCluster({}, (e) => resolve(e)));
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
  });
});
