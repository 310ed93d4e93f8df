// vitest setupFile: let the worker's event loop turn before each test. vitest runs the tests of a
// file back to back through microtasks only, so a file of synchronous tests (property runs,
// spawnSync) never lets the worker read the runner's answers; once such a file runs past 60 s on
// a loaded machine, the pending onTaskUpdate call times out as an unhandled error and fails the
// whole run although every test passed. One setImmediate per test bounds that stretch to a test.
import { beforeEach } from 'vitest';

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
