export interface BuiltFile {
  /** Path relative to outDir (index.html, assets/app-<hash>.js, ...). */
  name: string;
  bytes: number;
  gzipBytes: number;
}

/** Builds the console (ui/) into outDir (default <root>/dist/ui, replaced as a whole). */
export function buildUi(opts?: { outDir?: string }): Promise<{ outDir: string; files: BuiltFile[] }>;
