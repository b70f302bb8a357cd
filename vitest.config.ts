import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each start their own app instances against the shared per-run Redis,
    // isolated by namespace; processes-heavy suites keep to 2 workers on these 2-core machines.
    maxWorkers: 2,
    pool: 'forks',
  },
});
