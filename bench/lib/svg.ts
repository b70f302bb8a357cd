// A small line chart as SVG text (no dependency): x on a log scale (populations), one line per
// series, a dashed reference line (e.g. the 1.5x flatness bound). Written by the bench next to its
// results, shown in docs/performance.md.

export interface Series {
  name: string;
  values: number[];
}

export interface ChartOptions {
  title: string;
  xs: number[];
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines, e.g. { y: 1.5, label: 'flat bound' }. */
  refs?: { y: number; label: string }[];
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];
const W = 760;
const H = 400;
const M = { left: 64, right: 230, top: 40, bottom: 52 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `count` steps up to `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * pow).find((step) => step >= raw)!;
}

function fmtX(x: number): string {
  return x >= 1000 ? `${x / 1000}k` : String(x);
}

export function lineChart(o: ChartOptions): string {
  const finite = o.series.flatMap((s) => s.values).filter(Number.isFinite);
  // The axis ends on a round tick, so every label names exactly the height of its grid line.
  const top = Math.max(...finite, ...(o.refs ?? []).map((r) => r.y)) * 1.05;
  const step = niceStep(top, 5);
  const ticks = Math.ceil(top / step);
  const yMax = ticks * step;
  const yMin = 0;
  const decimals = String(Number(step.toFixed(6))).split('.')[1]?.length ?? 0;
  const lx = (x: number) => Math.log10(x);
  const x0 = lx(Math.min(...o.xs));
  const x1 = lx(Math.max(...o.xs));
  const px = (x: number) => M.left + ((lx(x) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - yMin) / (yMax - yMin || 1)) * (H - M.top - M.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  // axes and grid
  for (let i = 0; i <= ticks; i++) {
    const y = yMin + step * i;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${M.left - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(decimals)}</text>`);
  }
  for (const x of o.xs) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f3f4f6"/>`);
    parts.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${fmtX(x)}</text>`);
  }
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const r of o.refs ?? []) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(r.y)}" y2="${py(r.y)}" stroke="#111" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${W - M.right - 4}" y="${py(r.y) - 4}" text-anchor="end">${esc(r.label)}</text>`);
  }
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = o.xs.map((x, j) => [x, s.values[j]] as const).filter(([, v]) => v !== undefined && Number.isFinite(v));
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, v]) => `${px(x).toFixed(1)},${py(v!).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [x, v] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(v!).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 10 + i * 18;
    parts.push(`<line x1="${W - M.right + 12}" x2="${W - M.right + 32}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - M.right + 38}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
