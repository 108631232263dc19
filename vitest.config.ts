import { configDefaults, defineConfig } from 'vitest/config';

// Two groups, run one after the other: every test file at once, then the files under test/alone/ one at a time
// (they disturb shared things, such as restarting the PostgreSQL server, that the others must not see).
export default defineConfig({
  test: {
    globalSetup: ['test/support/postgres-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/alone/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: ['test/alone/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
