// The chart `npm run bench` writes (bench/chart.svg): per scenario, throughput as a ratio to ws
// (ws = 1x) for wasmsocket, wasmsocket/app (the uWebSockets.js API) and for the ceilings measured
// in the same run (setup adds the one behind
// Node's http server), on a log scale (the
// ratios run from about 1x to above 10x), with the target marked. A diamond on each bar
// marks the same ratio per server CPU-second, the steadier view when other work shares the
// machine. Plain SVG text, no dependencies, readable on GitHub and in any browser.

const COLORS = { app: '#dd6b20', appTarget: '#9c4221', ours: '#2b6cb0', http: '#6b8fb3', unmask: '#9c9c9c', tcp: '#cfcfcf', target: '#c53030', grid: '#e2e2e2', text: '#222', cpu: '#111' };
const SUMMARY_KEY = { app: 'app', ours: 'wasmsocket', http: 'ceilingHttp', unmask: 'ceilingUnmask', tcp: 'ceilingTcp' };
const BARS = [
  { key: 'app', label: 'wasmsocket/app' },
  { key: 'ours', label: 'wasmsocket' },
  { key: 'http', label: 'ceiling: Node http upgrade + TCP echo' },
  { key: 'unmask', label: 'ceiling: TCP echo + unmasking' },
  { key: 'tcp', label: 'ceiling: Node TCP echo' },
];

const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * summary: bench/run.mjs's per-scenario summaries (ratio, ceiling.{tcp,unmask}.vsWs, target).
 * meta: {title, subtitle} lines printed above the bars.
 */
export function renderChart(summary, meta) {
  const rows = summary.filter((s) => s.kind !== 'idle' && (s.ratio != null || s.ratioApp != null));
  const value = (s, key) => (key === 'ours' ? s.ratio : key === 'app' ? s.ratioApp ?? null : s.ceiling?.[key]?.vsWs ?? null);
  const perCpu = (s, key) => {
    const a = s[SUMMARY_KEY[key]]?.perCpu;
    const w = s.ws?.perCpu;
    return a && w ? a / w : null;
  };
  const all = rows.flatMap((s) => BARS.flatMap((b) => [value(s, b.key), perCpu(s, b.key)]).concat(s.target?.min ?? [], s.appTarget?.min ?? []))
    .filter((v) => v != null && v > 0);
  const lo = 0.5;
  const hi = Math.max(2, ...all) * 1.15;
  const left = 150;
  const plotW = 520;
  const barH = 13;
  const gap = 2;
  // Each scenario's group is as tall as the bars it has (the http ceiling is measured in setup only).
  const barsOf = (s) => BARS.filter((b) => value(s, b.key) != null);
  const groupH = (s) => barsOf(s).length * (barH + gap) + 14;
  const top = 86;
  const height = top + rows.reduce((h, s) => h + groupH(s), 0) + 56;
  const width = left + plotW + 190;
  const x = (v) => left + (Math.log(Math.max(v, lo)) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) * plotW;

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="12" y="22" font-size="15" font-weight="bold" fill="${COLORS.text}">${esc(meta.title)}</text>`);
  out.push(`<text x="12" y="40" fill="#555">${esc(meta.subtitle)}</text>`);

  // Grid: powers of two from 0.5x, plus the ws line at 1x.
  for (let g = lo; g <= hi; g *= 2) {
    const gx = x(g).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${height - 40}" stroke="${g === 1 ? '#444' : COLORS.grid}" stroke-width="${g === 1 ? 1.5 : 1}"/>`);
    out.push(`<text x="${gx}" y="${height - 26}" text-anchor="middle" fill="#555">${g}x${g === 1 ? ' (ws)' : ''}</text>`);
  }

  let y0 = top;
  for (const s of rows) {
    const h = groupH(s);
    out.push(`<text x="${left - 10}" y="${y0 + h / 2 - 4}" text-anchor="end" fill="${COLORS.text}" font-weight="bold">${esc(s.scenario)}</text>`);
    barsOf(s).forEach((b, j) => {
      const v = value(s, b.key);
      const y = y0 + j * (barH + gap);
      const x0 = x(lo);
      out.push(`<rect x="${x0}" y="${y}" width="${Math.max(1, x(v) - x0).toFixed(1)}" height="${barH}" fill="${COLORS[b.key]}"/>`);
      const c = perCpu(s, b.key);
      let labelX = x(v) + 4;
      if (c != null) {
        const cx = x(c);
        const cy = y + barH / 2;
        out.push(`<path d="M${cx.toFixed(1)} ${cy - 5} l5 5 l-5 5 l-5 -5 z" fill="#fff" stroke="${COLORS.cpu}" stroke-width="1.3"/>`);
        labelX = Math.max(labelX, cx + 8);
      }
      const cpuText = c != null ? ` (${c.toFixed(2)}x per CPU)` : '';
      out.push(`<text x="${labelX.toFixed(1)}" y="${y + barH - 2}" fill="${COLORS.text}">${v.toFixed(2)}x${cpuText}</text>`);
      // The App's own target (issue 23), on its bar.
      if (b.key === 'app' && s.appTarget?.min != null) {
        const tx = x(s.appTarget.min).toFixed(1);
        out.push(`<line x1="${tx}" y1="${y - 2}" x2="${tx}" y2="${y + barH + 2}" stroke="${COLORS.appTarget}" stroke-width="2.5"/>`);
      }
    });
    if (s.target?.min != null) {
      // wasmsocket's target, on its bar (the first unless the App's comes before it).
      const j = Math.max(0, barsOf(s).findIndex((b) => b.key === 'ours'));
      const ty = y0 + j * (barH + gap);
      const tx = x(s.target.min).toFixed(1);
      out.push(`<line x1="${tx}" y1="${ty - 2}" x2="${tx}" y2="${ty + barH + 2}" stroke="${COLORS.target}" stroke-width="2.5"/>`);
    }
    y0 += h;
  }

  // Legend: the bars on one line, the marks on the next.
  let lx = 12;
  let ly = 52;
  for (const b of BARS) {
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${COLORS[b.key]}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly + 9}" fill="${COLORS.text}">${esc(b.label)}</text>`);
    lx += 26 + b.label.length * 6.2;
  }
  lx = 12;
  ly += 16;
  out.push(`<line x1="${lx}" y1="${ly - 1}" x2="${lx}" y2="${ly + 11}" stroke="${COLORS.target}" stroke-width="2.5"/>`);
  out.push(`<text x="${lx + 6}" y="${ly + 9}" fill="${COLORS.text}">target</text>`);
  lx += 56;
  out.push(`<line x1="${lx}" y1="${ly - 1}" x2="${lx}" y2="${ly + 11}" stroke="${COLORS.appTarget}" stroke-width="2.5"/>`);
  out.push(`<text x="${lx + 6}" y="${ly + 9}" fill="${COLORS.text}">App target (issue 23)</text>`);
  lx += 140;
  out.push(`<path d="M${lx} ${ly} l5 5 l-5 5 l-5 -5 z" fill="#fff" stroke="${COLORS.cpu}" stroke-width="1.3"/>`);
  out.push(`<text x="${lx + 9}" y="${ly + 9}" fill="${COLORS.text}">per server CPU-second</text>`);
  out.push(`<text x="12" y="${height - 8}" fill="#777" font-size="11">${esc(meta.footer)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
