/** A hand-written SVG line chart: latency percentiles (y, ms) against offered load (x, payments/s). */

export interface ChartSeries {
  name: string;
  color: string;
  /** [offered load, latency ms]; NaN points are skipped. */
  points: Array<[number, number]>;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Horizontal reference lines (e.g. targets). */
  guides?: Array<{ y: number; label: string }>;
  /** `log`: x on a log10 axis over whole decades, ticks at the powers of ten (x must be > 0). */
  xScale?: 'linear' | 'log';
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" upper bound and step for an axis from 0 to `max`. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!Number.isFinite(max) || max <= 0) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  return { max: Math.ceil(max / step) * step, step };
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const fmtCount = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : n >= 1000 ? `${n / 1000}k` : String(n));

export function latencyChartSvg(series: readonly ChartSeries[], opts: ChartOptions): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 420;
  const m = { left: 64, right: 170, top: 40, bottom: 50 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const guideMax = Math.max(0, ...(opts.guides ?? []).map((g) => g.y));
  const ys = niceScale(Math.max(guideMax, ...pts.map(([, y]) => y)));
  const log = opts.xScale === 'log';
  const positive = pts.map(([x]) => x).filter((x) => x > 0);
  const decades = positive.length
    ? { lo: Math.floor(Math.log10(Math.min(...positive))), hi: Math.ceil(Math.log10(Math.max(...positive))) }
    : { lo: 0, hi: 1 };
  if (decades.hi <= decades.lo) decades.hi = decades.lo + 1;
  const xs = niceScale(Math.max(0, ...pts.map(([x]) => x)));
  const xTicks = log
    ? Array.from({ length: decades.hi - decades.lo + 1 }, (_, i) => 10 ** (decades.lo + i))
    : Array.from({ length: Math.floor(xs.max / xs.step + 1e-9) + 1 }, (_, i) => i * xs.step);
  const X = (x: number) =>
    log
      ? m.left + ((Math.log10(Math.max(x, 10 ** decades.lo)) - decades.lo) / (decades.hi - decades.lo)) * pw
      : m.left + (x / xs.max) * pw;
  const Y = (y: number) => m.top + ph - (y / ys.max) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${m.left}" y="24" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  );
  // grid and axes
  for (let v = 0; v <= ys.max + 1e-9; v += ys.step) {
    const y = Y(v).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`,
    );
  }
  for (const v of xTicks) {
    const x = X(v).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#f0f0f0"/>`,
      `<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${log ? fmtCount(v) : fmt(v)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${height - 12}" text-anchor="middle">${esc(opts.xLabel ?? 'offered load (payments/s)')}</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel ?? 'latency (ms)')}</text>`,
  );
  for (const g of opts.guides ?? []) {
    const y = Y(g.y).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#999" stroke-dasharray="2 4"/>`,
      `<text x="${m.left + pw - 4}" y="${Number(y) - 4}" text-anchor="end" fill="#777">${esc(g.label)}</text>`,
    );
  }
  // series and legend
  series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length > 0) {
      const d = good
        .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`)
        .join(' ');
      out.push(
        `<path d="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      for (const [x, y] of good) {
        out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${esc(s.color)}"/>`);
      }
    }
    const ly = m.top + 10 + i * 20;
    const lx = m.left + pw + 16;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${esc(s.color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
