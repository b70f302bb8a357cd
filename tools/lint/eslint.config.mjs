// ESLint for the whole repository (the root eslint.config.mjs re-exports this). It lives in the
// tools/lint workspace because typescript-eslint needs TypeScript's compiler API, which TypeScript 7
// (the build's compiler) no longer ships: this workspace has TypeScript 6 for the linter alone.
// Type-aware: the rules that catch floating promises, promises passed where a callback is expected,
// and `any` leaking into typed code need the type checker.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      'bench/results/**',
      'test/sdk/.snippets-*/**',
      // Generated from the OpenAPI document (npm run gen:types); a test fails when it drifts.
      'sdk/src/wire.gen.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        tsconfigRootDir: root,
        project: ['./tsconfig.test.json', './sdk/tsconfig.json', './ui/tsconfig.json', './examples/tsconfig.json'],
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The point of this configuration (issue 16): no promise may be forgotten or misused.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Unused names are noise for the next reader; `_`-prefixed parameters say "deliberately unused".
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Fastify handlers and hooks are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Plain JavaScript (build and dev scripts): no type information to check against.
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
);
