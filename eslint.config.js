// Lint for the whole repository. Workflow files get the determinism rule from STYLE.md:
// no Node built-ins, ORM, HTTP, secrets or connector imports inside Temporal workflow code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs', 'fs/promises', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'http2',
  'dns', 'tls', 'stream', 'zlib', 'worker_threads', 'cluster', 'process', 'timers', 'util', 'events',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'web/dist/**', 'dist/**', '.data/**', 'coverage/**', 'web/**/*.svelte', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Temporal workflow code runs in a deterministic sandbox and is replayed from history.
    files: ['workflows/**/workflow.ts', 'workflows/**/workflows.ts', 'workflows/**/*.workflow.ts', 'workflows/change/run-change.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...nodeBuiltins.flatMap((name) => [
            { name, message: 'Workflow code must be deterministic: no Node built-ins. Do this in an activity.' },
            { name: `node:${name}`, message: 'Workflow code must be deterministic: no Node built-ins. Do this in an activity.' },
          ]),
        ],
        patterns: [
          { group: ['@mikro-orm/*', 'pg', 'node-vault', 'express', 'ldapts', 'undici', 'axios'], message: 'Workflow code must not touch the database, HTTP or secrets; call an activity.' },
          { group: ['**/connectors/**', '**/server/**', '**/shared/secrets/**', '**/audit/*-service*', '**/audit/ledger*'], message: 'Workflow code imports activity types only (import type), never connectors, server, secrets or the ledger.', allowTypeImports: true },
          { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'Workflows import from @temporalio/workflow only.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use a loop with sleep() from @temporalio/workflow.' },
        { name: 'fetch', message: 'Workflows do no I/O; call an activity.' },
        { name: 'process', message: 'Workflows must not read the environment.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Math.random is replaced in workflows but hides intent; use uuid4() from @temporalio/workflow.' },
      ],
    },
  },
);
