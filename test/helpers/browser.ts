// Real headless Chromium for the console tests: Debian's `chromium` package driven by
// playwright-core (never a downloaded browser build; CI's .ci/run installs the package).
// Playwright gives each launch a fresh temporary profile (--user-data-dir) and removes it on close.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { buildUi } from '../../scripts/build-ui.mjs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Without the background-networking flags Chromium keeps trying to reach Google services, which
 * on a closed network is a flood of refused connections; the others keep it lean and quiet.
 */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install chromium), as .ci/run does`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: FLAGS, timeout: 60_000 });
}

/** Builds the console into a temporary directory (what `npm run build` does into dist/ui). */
export async function buildConsole(): Promise<{
  dir: string;
  files: { name: string; bytes: number; gzipBytes: number }[];
  remove(): void;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-console-'));
  const { files } = await buildUi({ outDir: dir });
  return { dir, files, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ConsoleLog {
  /** Console errors and uncaught page errors, as text. */
  errors: string[];
  /** The errors minus the ones the test expects (e.g. the browser's line about a 401 answer). */
  unexpected(allowed?: RegExp[]): string[];
}

/** Collects the page's console errors, warnings and uncaught exceptions from now on. */
export function watchConsole(page: Page): ConsoleLog {
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return {
    errors,
    unexpected: (allowed = []) => errors.filter((e) => !allowed.some((re) => re.test(e))),
  };
}
