export interface ReportLatency {
  source: string;
  samples: number;
  p50: number;
  p99: number;
}

const DAY_MS = 86_400_000;

/** The p-th percentile of ascending values (nearest rank); NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The 30 UTC days up to and including today, as the dashboard asks for them. */
export function last30Days(now = Date.now()): { from: string; to: string } {
  const tomorrow = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
  return { from: new Date(tomorrow - 30 * DAY_MS).toISOString(), to: new Date(tomorrow).toISOString() };
}

/** The 30-day usage report grouped by one key, as the targets name it. */
export function last30DaysReport(groupBy: string): string {
  const { from, to } = last30Days();
  return `/v1/reports/usage?group_by=${groupBy}&from=${from}&to=${to}`;
}

/** The first page of raw events of one agent over the 30 days (GET /v1/events, newest first). */
export function last30DaysEvents(agent: string): string {
  const { from, to } = last30Days();
  return `/v1/events?agent=${agent}&from=${from}&to=${to}`;
}

/** Yesterday (UTC date) as a day of `zone`, by hour: a report only raw events answer. */
export function oneDayByHourReport(zone: string, now = Date.now()): string {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return `/v1/reports/usage?group_by=hour&tz=${zone}&from=${day(now - DAY_MS)}&to=${day(now)}`;
}

/**
 * One client asking the same report again and again, each after the previous answer: at least
 * `minSamples` times, then until `maxSamples` or `budgetSeconds` is reached.
 */
export async function measureReport(
  reporting: string,
  pathAndQuery: string,
  limits: { minSamples: number; maxSamples: number; budgetSeconds: number },
): Promise<ReportLatency> {
  const url = reporting + pathAndQuery;
  const latencies: number[] = [];
  let source = '';
  const deadline = performance.now() + limits.budgetSeconds * 1000;
  while (latencies.length < limits.maxSamples && (latencies.length < limits.minSamples || performance.now() < deadline)) {
    const started = performance.now();
    const res = await fetch(url);
    const body = (await res.json()) as { source?: string };
    latencies.push(performance.now() - started);
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${JSON.stringify(body)}`);
    source = body.source ?? 'raw events';
  }
  latencies.sort((a, b) => a - b);
  return { source, samples: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}
