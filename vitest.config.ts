import { defineConfig } from 'vitest/config';

// Tests drive the real kernel (namespaces, cgroups, mounts) as root, and real daemons over
// real sockets: give them room, run files in separate processes, and keep to the 2 cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**', 'dist/**'],
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    globalSetup: ['test/setup/images.ts'],
    setupFiles: ['test/setup/yield-between-tests.ts'],
  },
});
