import { usd } from './format.js';

const COLORS = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777'];
const OTHER_COLOR = '#9ca3af';

/** The series a timeseries answer holds, each with its label, colour and daily cost. */
export function seriesOf(timeseries, stack) {
  return timeseries.series.map((s, i) => ({
    label: s.key[stack] ?? `(no ${stack})`,
    color: s.other ? OTHER_COLOR : COLORS[i % COLORS.length],
    costs: s.points.map((p) => p.cost_usd),
    total: s.points.reduce((sum, p) => sum + p.cost_usd, 0),
  }));
}

/**
 * Daily spend as stacked bars. uPlot draws bars from zero, so each series is drawn at its running
 * total, the tallest first: what shows of each bar is that series' own share.
 */
export function drawSpendChart(container, timeseries, series) {
  container.replaceChildren();
  const x = timeseries.buckets.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const running = [];
  series.forEach((s, i) => running.push(s.costs.map((c, j) => c + (i ? running[i - 1][j] : 0))));
  const bars = uPlot.paths.bars({ size: [0.8, 48] });
  const drawn = series.map((s, i) => ({
    label: s.label, stroke: s.color, fill: s.color, width: 0, paths: bars, points: { show: false },
    data: running[i],
  })).reverse();
  const width = Math.max(container.clientWidth, 320);
  return new uPlot({
    width,
    height: 260,
    legend: { show: false },
    // Buckets are UTC days: label them as such whatever the browser's zone.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { show: false },
    scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: '#4b5563', grid: { show: false } },
      { stroke: '#4b5563', size: 64, values: (u, values) => values.map(usd), grid: { stroke: '#e5e7eb' } },
    ],
    series: [{}, ...drawn.map(({ data, ...s }) => s)],
  }, [x, ...drawn.map((s) => s.data)], container);
}
