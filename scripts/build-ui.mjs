#!/usr/bin/env node
// Builds the operator console (ui/) into dist/ui: one minified ES module and one stylesheet with
// content-hashed names (served as immutable by src/http/routes/ui.ts), and index.html pointing at
// them. esbuild bundles Preact in; nothing is fetched at run time. `node scripts/build-ui.mjs`
// prints the sizes; tests call buildUi() to build into a directory of their own.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const UI = join(ROOT, 'ui');

const hashOf = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 12);

/**
 * @param {{ outDir?: string }} [opts] default: <root>/dist/ui (replaced as a whole)
 * @returns {Promise<{ outDir: string, files: { name: string, bytes: number, gzipBytes: number }[] }>}
 */
export async function buildUi(opts = {}) {
  const outDir = resolve(opts.outDir ?? join(ROOT, 'dist', 'ui'));
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(UI, 'src', 'main.tsx')],
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox111', 'safari16.4'],
    minify: true,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: 'out',
    entryNames: 'app-[hash]',
    assetNames: '[name]-[hash]',
    write: false,
    logLevel: 'silent',
  });
  for (const w of result.warnings) console.warn(`[build-ui] ${w.text}`);

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const written = [];
  const put = (name, contents) => {
    writeFileSync(join(outDir, name), contents);
    written.push({ name, bytes: contents.length, gzipBytes: gzipSync(contents, { level: 9 }).length });
  };
  let script = null;
  let style = null;
  for (const f of result.outputFiles) {
    const name = basename(f.path);
    if (extname(name) === '.js') script = name;
    if (extname(name) === '.css') style = name;
    put(join('assets', name), Buffer.from(f.contents));
  }
  if (!script || !style) throw new Error('build-ui: esbuild produced no script or no stylesheet');
  const icon = readFileSync(join(UI, 'favicon.svg'));
  const iconName = `favicon-${hashOf(icon)}.svg`;
  put(join('assets', iconName), icon);

  const html = readFileSync(join(UI, 'index.html'), 'utf8')
    .replaceAll('%SCRIPT%', `/ui/assets/${script}`)
    .replaceAll('%STYLE%', `/ui/assets/${style}`)
    .replaceAll('%ICON%', `/ui/assets/${iconName}`);
  if (/%[A-Z]+%/.test(html)) throw new Error('build-ui: index.html has an unknown placeholder');
  put('index.html', Buffer.from(html));
  return { outDir, files: written };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outDir, files } = await buildUi();
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  for (const f of files) console.log(`[build-ui] ${join(outDir, f.name)}  ${kb(f.bytes)} (${kb(f.gzipBytes)} gzip)`);
}
