// A tiny line chart of the last minutes (SVG, no library): enough to see a trend at a glance.

export function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const W = 160;
  const H = 36;
  const pts = values.map((v, i) => [i, v ?? 0] as const);
  if (pts.length < 2) return <svg class="spark" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${label}: not enough data yet`} />;
  const max = Math.max(1, ...pts.map(([, v]) => v));
  const x = (i: number) => (i / (pts.length - 1)) * W;
  const y = (v: number) => H - 2 - (v / max) * (H - 4);
  const line = pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={`${label}, last ${pts.length} readings, max ${max}`}
    >
      <polygon class="spark-area" points={`0,${H} ${line} ${W},${H}`} />
      <polyline class="spark-line" points={line} />
    </svg>
  );
}
