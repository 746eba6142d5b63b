import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Process-level tests start the built CLI, so the build runs once before them; PostgreSQL
    // tests share one throwaway cluster for the run.
    globalSetup: ['test/support/build.ts', 'test/support/postgres.ts'],
    // One file per core: most files wait on servers, child processes, PostgreSQL, Chromium or Docker
    // much of the time. Vitest's default (cores - 1) runs one file at a time on a two-core machine.
    maxWorkers: availableParallelism(),
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
