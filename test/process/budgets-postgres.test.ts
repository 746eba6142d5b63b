import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitForListening, type Running } from '../../bench/server.js';
import { createDatabase, POSTGRES_OPTED_OUT, runAdmin, type TestDatabase } from '../support/postgres.js';
import { metricValue, until } from '../support/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook.js';

/** Budget alerts from several collectors on one PostgreSQL database: one notification per crossing, whoever sees it. */
const SECRET = 'two-collectors-secret-0123456789';
let db: TestDatabase;
let hook: WebhookReceiver;
const running: Running[] = [];

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  [db, hook] = await Promise.all([createDatabase(), startWebhookReceiver(SECRET)]);
});
afterAll(async () => {
  for (const r of running) r.child.kill('SIGKILL');
  await hook?.close();
  await db?.drop();
});

async function start(role: 'collector' | 'reporting'): Promise<{ run: Running; url: string }> {
  const run = runCli([role], { DATABASE_URL: db.url, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', BUDGET_EVALUATE_MS: '100' });
  running.push(run);
  return { run, url: (await waitForListening(run, [role]))[role] };
}

const post = async (url: string, id: string, cost: number) => {
  const res = await fetch(`${url}/v1/usage`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: [{ id, project: 'shared', agent_id: 'a', model: 'm', input_tokens: 1, cost_usd: cost }] }),
  });
  expect(res.status).toBe(200);
};

/** Waits until the collector has finished `count` more evaluations than it had when called. */
async function evaluations(url: string, count: number): Promise<void> {
  const before = (await metricValue(url, 'tokentally_budget_evaluations_total')) ?? 0;
  await until(async () => ((await metricValue(url, 'tokentally_budget_evaluations_total')) ?? 0) >= before + count, `${count} evaluations at ${url}`);
}

describe.skipIf(POSTGRES_OPTED_OUT)('budget alerts with two collectors on one PostgreSQL database', () => {
  it('sends exactly one notification per crossing, and goes on when a collector is killed', async () => {
    const [a, b, reporting] = await Promise.all([start('collector'), start('collector'), start('reporting')]);
    const put = await fetch(`${reporting.url}/v1/budgets/shared`, {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { project: 'shared' }, window: 'day', limit_usd: 1, thresholds: [25, 50, 75, 100], targets: [{ type: 'webhook', url: hook.url, secret: SECRET }] }),
    });
    expect(put.status).toBe(201);
    await post(a.url, 'e1', 0.3);
    await until(() => hook.received.length >= 1, 'the 25% notification');
    await post(b.url, 'e2', 0.3);
    await until(() => hook.received.length >= 2, 'the 50% notification');
    // Both collectors evaluate the crossed budget again and again: neither sends anything more.
    await Promise.all([evaluations(a.url, 5), evaluations(b.url, 5)]);
    expect(hook.received.map((r) => r.json.threshold_percent)).toEqual([25, 50]);

    // Whichever held the alert lock, the survivor takes over when a collector dies.
    a.run.child.kill('SIGKILL');
    await a.run.exited;
    await post(b.url, 'e3', 0.3);
    await post(b.url, 'e4', 0.3);
    await until(() => hook.received.length >= 4, 'the 75% and 100% notifications', 15_000);
    await evaluations(b.url, 5);
    expect(hook.received.map((r) => r.json.threshold_percent).sort((x, y) => x - y)).toEqual([25, 50, 75, 100]);
    expect(new Set(hook.received.map((r) => r.json.delivery_id)).size).toBe(4);
    expect(hook.received.every((r) => r.signatureValid)).toBe(true);
  });

  it('while the database refuses connections, each budget loop logs the failure once, then that it works again', async () => {
    const [collector, reporting] = await Promise.all([start('collector'), start('reporting')]);
    const put = await fetch(`${reporting.url}/v1/budgets/quiet`, {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { project: 'quiet' }, window: 'day', limit_usd: 1, thresholds: [50] }),
    });
    expect(put.status).toBe(201);
    await evaluations(collector.url, 2);
    await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await runAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tokentally'`, [db.name]);
    try {
      // Twenty evaluations' time (BUDGET_EVALUATE_MS=100), every one of them failing.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } finally {
      await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }
    await evaluations(collector.url, 2);
    const lines = collector.run.output().split('\n');
    const failed = lines.filter((line) => line.startsWith('budgets: evaluation failed'));
    // One line per distinct cause (the connection cut, then the refusals), where each of the ~20
    // failed evaluations was a line with its stack.
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(5);
    expect(failed.every((line) => /will try again \(the same failure is logged once\): the database is unavailable \(.+\)$/.test(line))).toBe(true);
    const again = lines.filter((line) => /^budgets: evaluation works again, after \d+ more failed attempts$/.test(line));
    expect(again).toHaveLength(1);
    expect(Number(/after (\d+)/.exec(again[0]!)![1])).toBeGreaterThanOrEqual(5);
    expect(collector.run.output()).not.toMatch(/^\s+at /m);
  });
});
