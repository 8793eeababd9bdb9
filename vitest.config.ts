// One test runner for the whole repository. Unit tests sit beside the code; end-to-end tests in
// test/. The global setup starts real PostgreSQL, a Temporal dev server and a Vault dev server once;
// each suite gets its own database, Vault mounts and task queue.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'web/dist/**', '.data/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-temporal-runtime.ts', 'test/setup-shared-services.ts'],
    // The test systems (PostgreSQL, OpenLDAP, HTTP and SCIM servers) listen on loopback, which the
    // connector egress policy refuses unless allowed: the tests are the operator who allows it. The
    // egress tests build their own policies without it.
    env: { CONNECTOR_EGRESS_ALLOW: '127.0.0.0/8,::1,localhost' },
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    reporters: process.env.GATEHOUSE_TEST_REPORT ? ['default', ['json', { outputFile: process.env.GATEHOUSE_TEST_REPORT }]] : ['default'],
    // A test that depends on timing is a benchmark; retries would hide real failures.
    retry: 0,
  },
});
