import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Process-level tests start the built CLI, so the build runs once before them; PostgreSQL
    // tests share one throwaway cluster for the run.
    globalSetup: ['test/support/build.ts', 'test/support/postgres.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
