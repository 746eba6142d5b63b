import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, stop, waitForUrls, type Running } from '../../bench/server.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { until } from '../support/wait.js';
import { describeIfAvailable, missingCommand } from './requires.js';

/**
 * The metrics as a user's Prometheus sees them: Debian's `prometheus` scrapes both ports of a real
 * `tokentally serve`, `promtool` lints each port's exposition and unit-tests the shipped alert rules.
 */
const RULES = join(PACKAGE_ROOT, 'deploy/prometheus/tokentally-rules.yml');
const problem = missingCommand('promtool') ?? missingCommand('prometheus');

const event = (id: string, project: string, model: string, tokens: Record<string, number>, cost: number) =>
  ({ id, project, agent_id: 'agent', model, ...tokens, cost_usd: cost });

/** Samples of a Prometheus text exposition, keyed by name and labels as printed. */
function samples(text: string): Map<string, number> {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describeIfAvailable('metrics scraped by Prometheus', problem, () => {
  let dir: string;
  let service: Running;
  let urls: { collector: string; reporting: string };
  let scraped: { collector: string; reporting: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-prometheus-'));
    service = runCli(['serve'], { DATABASE_URL: join(dir, 'usage.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', METRICS_MAX_SERIES: '2' });
    urls = await waitForUrls(service);
    const post = async (events: unknown[]) => {
      const res = await fetch(`${urls.collector}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
      expect(res.status).toBe(200);
      return res.json();
    };
    expect(await post([
      event('e1', 'alpha', 'm1', { input_tokens: 1000, output_tokens: 200, cache_read_tokens: 300, reasoning_tokens: 50 }, 0.5),
      event('e2', 'alpha', 'm1', { input_tokens: 500, output_tokens: 100 }, 0.25),
      event('e3', 'beta', 'm2', { input_tokens: 10, output_tokens: 5 }, 1),
      // Past METRICS_MAX_SERIES=2 pairs: counted under other/other.
      event('e4', 'gamma', 'm3', { input_tokens: 7 }, 2),
      event('e5', 'alpha', 'm9', { input_tokens: 1 }, 4),
    ])).toMatchObject({ accepted: 5, duplicates: 0 });
    // e1 again is a duplicate: stored once, so counted once.
    expect(await post([event('e1', 'alpha', 'm1', { input_tokens: 1000, output_tokens: 200 }, 0.5), event('e6', 'beta', 'm2', { input_tokens: 20 }, 0.125)]))
      .toMatchObject({ accepted: 1, duplicates: 1 });
    await fetch(`${urls.reporting}/v1/reports/usage`);
    scraped = {
      collector: await (await fetch(`${urls.collector}/metrics`)).text(),
      reporting: await (await fetch(`${urls.reporting}/metrics`)).text(),
    };
  }, 60_000);

  afterAll(async () => {
    if (service) await stop(service);
    rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check metrics accepts what each port serves', () => {
    for (const [app, text] of Object.entries(scraped)) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(lint.stdout + lint.stderr, app).toBe('');
      expect(lint.status, app).toBe(0);
    }
  });

  it('counts tokens by type and cost by project and model at commit, duplicates once, pairs past the limit under other', () => {
    const m = samples(scraped.collector);
    const tokens = (type: string, project: string, model: string) => m.get(`tokentally_tokens_total{type="${type}",project="${project}",model="${model}"}`);
    const cost = (project: string, model: string) => m.get(`tokentally_cost_usd_total{project="${project}",model="${model}"}`);
    expect([tokens('input', 'alpha', 'm1'), tokens('output', 'alpha', 'm1'), tokens('cache_read', 'alpha', 'm1'), tokens('cache_write', 'alpha', 'm1'), tokens('reasoning', 'alpha', 'm1')])
      .toEqual([1500, 300, 300, 0, 50]);
    expect(cost('alpha', 'm1')).toBe(0.75);
    expect([tokens('input', 'beta', 'm2'), cost('beta', 'm2')]).toEqual([30, 1.125]);
    expect([tokens('input', 'other', 'other'), cost('other', 'other')]).toEqual([8, 6]);
    expect(m.get('tokentally_metrics_folded_events_total')).toBe(2);
    expect([...m.keys()].filter((k) => k.startsWith('tokentally_cost_usd_total{'))).toHaveLength(3);
  });

  it('a request latency histogram, the build, and the standard Node.js process metrics', () => {
    const m = samples(scraped.collector);
    expect(m.get('tokentally_http_request_duration_seconds_count{app="collector",route="/v1/usage",method="POST"}')).toBe(2);
    expect(samples(scraped.reporting).get('tokentally_http_request_duration_seconds_count{app="reporting",route="/v1/reports/usage",method="GET"}')).toBe(1);
    expect(scraped.collector).toMatch(/^tokentally_build_info\{version="\d+\.\d+\.\d+[^"]*",nodejs_version="v20\.[^"]+"\} 1$/m);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(m.has(name), name).toBe(true);
    }
  });

  it("serve's two ports share no series, so scraping both counts nothing twice", () => {
    const collector = new Set(samples(scraped.collector).keys());
    expect([...samples(scraped.reporting).keys()].filter((k) => collector.has(k))).toEqual([]);
    expect(scraped.reporting).not.toMatch(/^(process_|nodejs_|tokentally_build_info|tokentally_tokens_total|tokentally_events_total)/m);
  });

  it('Prometheus scrapes both ports and sums spend once; the shipped rules load and pass promtool test rules', async () => {
    const test = spawnSync('promtool', ['test', 'rules', 'tokentally-rules.test.yml'], { cwd: join(PACKAGE_ROOT, 'deploy/prometheus'), encoding: 'utf8' });
    expect(test.stdout + test.stderr).toContain('SUCCESS');
    expect(test.status).toBe(0);

    const port = await freePort();
    const targets = [urls.collector, urls.reporting].map((u) => new URL(u).host);
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [RULES],
      scrape_configs: [{ job_name: 'tokentally', static_configs: [{ targets }] }],
    }));
    const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    prometheus.stderr.on('data', (d) => (log += d));
    const exited = new Promise((resolve) => prometheus.on('exit', resolve));
    const query = async (promql: string): Promise<number | undefined> => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
        const body = (await res.json()) as { data?: { result: { value: [number, string] }[] } };
        const value = body.data?.result[0]?.value[1];
        return value === undefined ? undefined : Number(value);
      } catch {
        return undefined;
      }
    };
    try {
      await until(async () => (await query('count(up == 1)')) === 2 && (await query('count(tokentally_cost_usd_total)')) === 3, `Prometheus to scrape both ports\n${log}`, 30_000);
      expect(await query('sum(tokentally_cost_usd_total)')).toBe(7.875);
      expect(await query('sum(tokentally_tokens_total{type="input"})')).toBe(1538);
      expect(await query('count(process_start_time_seconds)')).toBe(1);
      expect(await query('count(tokentally_build_info)')).toBe(1);
      const rules = (await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json()) as { data: { groups: { name: string; rules: { health: string; lastError?: string }[] }[] } };
      expect(rules.data.groups.map((g) => g.name).sort()).toEqual(['tokentally-health', 'tokentally-spend']);
      await until(async () => {
        const r = (await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json()) as typeof rules;
        return r.data.groups.every((g) => g.rules.every((rule) => rule.health === 'ok'));
      }, 'every rule to evaluate without error', 30_000);
    } finally {
      prometheus.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
