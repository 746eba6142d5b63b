import type { Budget } from '../src/budgets/schema.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { percentile, type ReportLatency } from './reports.js';
import { runCli, stop, waitForListening } from './server.js';

/**
 * Budgets as an operator might set them on the bench fleet: per project (monthly, in a zone, read
 * from the rollup plus the two cut days), per agent (rolling 7 days) and one per user (raw events).
 */
const BUDGETS: Pick<Budget, 'id' | 'scope' | 'window' | 'tz'>[] = [
  { id: 'atlas-month', scope: { project: ['atlas'] }, window: 'month', tz: 'Europe/Paris' },
  { id: 'atlas-day', scope: { project: ['atlas'] }, window: 'day', tz: 'America/New_York' },
  { id: 'agent-7d', scope: { agent: ['agent-3'] }, window: '7d', tz: 'UTC' },
  { id: 'all-30d', scope: {}, window: '30d', tz: 'UTC' },
  { id: 'user-24h', scope: { user: ['user-7'] }, window: '24h', tz: 'UTC' },
];

/**
 * GET /v1/budgets/check against a collector on the dataset at `file`, one client asking again and
 * again while the collector's evaluator re-reads every budget every BUDGET_EVALUATE_MS (2 s): the
 * answer comes from memory, but on SQLite the evaluator's reads share the event loop with it.
 */
export async function measureBudgetCheck(file: string, seconds: number): Promise<ReportLatency & { evaluations: number; healthz: ReportLatency }> {
  const store = new SqliteStore(file);
  await store.migrate();
  for (const b of BUDGETS) await store.budgets.save({ ...b, name: b.id, limit_nanos: 100_000 * 1e9, thresholds: [50, 80, 100], targets: [] });
  await store.close();
  const server = runCli(['collector'], { DATABASE_URL: file, COLLECTOR_PORT: '0', GRPC_PORT: '0' });
  try {
    const { collector } = await waitForListening(server, ['collector']);
    const url = `${collector}/v1/budgets/check?project=atlas&agent=agent-3&user=user-7`;
    // GET /healthz in turn with it: the same process and moment, no work of its own, so the
    // difference is the check's and the evaluator's, not the machine's.
    // The first answer waits for the first evaluation; the figures are of the answers after it.
    await (await fetch(url)).text();
    const latencies: number[] = [];
    const baseline: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (performance.now() < deadline) {
      let started = performance.now();
      const res = await fetch(url);
      const body = (await res.json()) as { budgets: unknown[] };
      latencies.push(performance.now() - started);
      if (!res.ok || body.budgets.length !== BUDGETS.length) throw new Error(`GET ${url} answered ${res.status}: ${JSON.stringify(body)}`);
      started = performance.now();
      await (await fetch(`${collector}/healthz`)).text();
      baseline.push(performance.now() - started);
    }
    const metrics = await (await fetch(`${collector}/metrics`)).text();
    const evaluations = Number(/^tokentally_budget_evaluations_total (\d+)/m.exec(metrics)?.[1] ?? 0);
    const summary = (source: string, values: number[]) => {
      values.sort((a, b) => a - b);
      return { source, samples: values.length, p50: percentile(values, 50), p99: percentile(values, 99) };
    };
    return { ...summary('memory', latencies), evaluations, healthz: summary('none', baseline) };
  } finally {
    await stop(server);
  }
}
