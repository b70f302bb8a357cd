// The configuration is in tools/lint/ (its own workspace: see the comment there).
export { default } from './tools/lint/eslint.config.mjs';
