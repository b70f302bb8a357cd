// Vitest's asymmetric matchers (expect.any, expect.objectContaining, ...) are typed `any`, which
// switches type checking off wherever one is used (and the no-unsafe-* lint rules flag each use).
// These are the same matchers, typed `unknown`.
import { expect } from 'vitest';

export const match = {
  any: (constructor: unknown): unknown => expect.any(constructor),
  arrayContaining: (values: unknown[]): unknown => expect.arrayContaining(values),
  objectContaining: (values: Record<string, unknown>): unknown => expect.objectContaining(values),
  stringContaining: (value: string): unknown => expect.stringContaining(value),
  stringMatching: (pattern: string | RegExp): unknown => expect.stringMatching(pattern),
};
