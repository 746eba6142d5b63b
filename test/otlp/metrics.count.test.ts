import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitForListening, type Running } from '../../bench/server.js';
import { checkCountMetrics } from '../../collector/otlp/emitters.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { pruneMetricStreams, startBookkeepingPrune } from '../../src/retention.js';
import { AGENT_FIXTURES, expectedTotals, loadAgentFixture } from '../support/agent-fixtures.js';
import { callExport, EXPORTS, grpcClient } from '../support/grpc.js';
import { encodeProtobuf, otlpAttributes } from '../support/otlp.js';
import { createDatabase, type TestDatabase } from '../support/postgres.js';
import { BACKENDS, startTestService, type Backend, type TestService } from '../support/service.js';
import { runSql } from '../support/sql.js';
import { scratchDir } from '../support/scratch-dirs.js';

/**
 * COUNT_METRICS: the OTel GenAI token histogram of a service that sends no per-call record, counted
 * per stream and point interval, delta and cumulative, on both backends.
 */

const DELTA = 1;
const CUMULATIVE = 2;
/** 2026-12-03T10:00:00Z in nanoseconds, and a minute in nanoseconds. */
const T0 = 1_796_292_000_000_000_000n;
const MINUTE = 60_000_000_000n;
const at = (minutes: number) => String(T0 + BigInt(minutes) * MINUTE);

interface Point {
  type: string;
  sum: number;
  start: string;
  time: string;
  model?: string;
}

/** An ExportMetricsServiceRequest with one gen_ai.client.token.usage histogram, as an OTel SDK writes it. */
function tokenUsage(points: Point[], temporality: number, service = 'billing-bot') {
  return {
    resourceMetrics: [{
      resource: { attributes: otlpAttributes({ 'service.name': service }) },
      scopeMetrics: [{
        scope: { name: 'opentelemetry.instrumentation.openai_v2', version: '2.1b0' },
        metrics: [{
          name: 'gen_ai.client.token.usage',
          unit: '{token}',
          histogram: {
            aggregationTemporality: temporality,
            dataPoints: points.map((p) => ({
              attributes: otlpAttributes({
                'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': p.model ?? 'gpt-4o',
                'gen_ai.response.model': p.model ?? 'gpt-4o', 'gen_ai.token.type': p.type,
              }),
              startTimeUnixNano: p.start, timeUnixNano: p.time, count: '1', sum: p.sum,
              bucketCounts: ['0', '1'], explicitBounds: [1],
            })),
          },
        }],
      }],
    }],
  };
}

const DECEMBER = '/v1/reports/usage?from=2026-12-01&to=2027-01-01';

async function send(svc: { collectorUrl: string }, body: unknown): Promise<unknown> {
  const res = await fetch(`${svc.collectorUrl}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json();
  expect(res.status, JSON.stringify(answer)).toBe(200);
  return answer;
}

async function totals(reportingUrl: string) {
  const { totals } = (await (await fetch(reportingUrl + DECEMBER)).json()) as { totals: Record<string, number> };
  return { events: totals.events, input_tokens: totals.input_tokens, output_tokens: totals.output_tokens };
}

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

const counting = (backend: Backend) => startTestService({ backend, env: { COUNT_METRICS: 'billing-bot' } });

describe.each(BACKENDS)('COUNT_METRICS on %s', (backend) => {
  it('counts a delta stream point by point, and a retried export once', async () => {
    svc = await counting(backend);
    const first = tokenUsage([{ type: 'input', sum: 100, start: at(0), time: at(1) }, { type: 'output', sum: 10, start: at(0), time: at(1) }], DELTA);
    expect(await send(svc, first)).toEqual({});
    await send(svc, tokenUsage([{ type: 'input', sum: 250, start: at(1), time: at(2) }, { type: 'output', sum: 0, start: at(1), time: at(2) }], DELTA));
    await send(svc, first);
    expect(await totals(svc.reportingUrl)).toEqual({ events: 3, input_tokens: 350, output_tokens: 10 });
    const events = (await svc.report('/v1/events?limit=10')).body.events as Record<string, unknown>[];
    // The id leads with the point's time in ms, as 12 hex digits.
    const ms = (T0 + MINUTE) / 1_000_000n;
    expect(events.find((e) => e.output_tokens === 10)).toMatchObject({
      id: expect.stringMatching(new RegExp(`^metric:${ms.toString(16).padStart(12, '0')}-[0-9a-f]{32}$`)), agent_id: 'billing-bot', model: 'gpt-4o', provider: 'openai', operation: 'chat', timestamp: '2026-12-03T10:01:00Z',
      cost_source: 'computed',
    });
  });

  it('counts a cumulative stream by its differences, whatever is sent again', async () => {
    svc = await counting(backend);
    const point = (minute: number, input: number, output: number) =>
      tokenUsage([{ type: 'input', sum: input, start: at(0), time: at(minute) }, { type: 'output', sum: output, start: at(0), time: at(minute) }], CUMULATIVE);
    await send(svc, point(1, 100, 10));
    await send(svc, point(2, 250, 30));
    // A retry of the last export, a late copy of the first, and an interval without calls.
    await send(svc, point(2, 250, 30));
    await send(svc, point(1, 100, 10));
    await send(svc, point(3, 250, 30));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 4, input_tokens: 250, output_tokens: 30 });
    await send(svc, point(4, 400, 31));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 6, input_tokens: 400, output_tokens: 31 });
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });

  it('moves a stream sent without new counts once a day, so that pruning idle streams leaves it', async () => {
    svc = await counting(backend);
    const point = (minute: number) =>
      tokenUsage([{ type: 'input', sum: 100, start: at(0), time: at(minute) }, { type: 'output', sum: 10, start: at(0), time: at(minute) }], CUMULATIVE);
    const movedAt = async () => (await runSql(svc!.databaseUrl, 'SELECT updated_at FROM metric_streams')).map((r) => Number(r.updated_at));
    const setMovedAt = (ms: number) => runSql(svc!.databaseUrl, 'UPDATE metric_streams SET updated_at = ?', [ms]);
    await send(svc, point(1));
    expect(await movedAt()).toHaveLength(2);

    const hourAgo = Date.now() - 3_600_000;
    await setMovedAt(hourAgo);
    await send(svc, point(2));
    expect(await movedAt()).toEqual([hourAgo, hourAgo]);

    const sent = Date.now();
    await setMovedAt(sent - 2 * 86_400_000);
    await send(svc, point(3));
    for (const ms of await movedAt()) expect(ms).toBeGreaterThanOrEqual(sent);
    expect(await pruneMetricStreams(svc.store, sent - 86_400_000)).toBe(0);
    expect(await totals(svc.reportingUrl)).toEqual({ events: 2, input_tokens: 100, output_tokens: 10 });
    // Its mark just over a day old, the minute's point not yet come: the hourly prune at the
    // shortest retention (1 day) leaves it.
    await setMovedAt(Date.now() - 86_400_000 - 60_000);
    const errors: unknown[] = [];
    await startBookkeepingPrune(svc.store, { outbox: 1, streams: 1 }, Date.now, (e) => errors.push(e), { firstMs: 0, everyMs: 3_600_000 }).stop();
    expect(errors).toEqual([]);
    expect(await movedAt()).toHaveLength(2);
    // Counting goes on from the point it stands at.
    await send(svc, tokenUsage([{ type: 'input', sum: 150, start: at(0), time: at(4) }], CUMULATIVE));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 3, input_tokens: 150, output_tokens: 10 });
  });

  it('counts concurrent exports of many streams, each sent twice at once, exactly', async () => {
    svc = await counting(backend);
    const models = Array.from({ length: 20 }, (_, i) => `gpt-4o-${i}`);
    const point = (model: string, minute: number, input: number) => tokenUsage([{ type: 'input', sum: input, start: at(0), time: at(minute), model }], CUMULATIVE);
    for (const [minute, input] of [[1, 100], [2, 160]] as const) {
      await Promise.all(models.flatMap((model) => [send(svc!, point(model, minute, input)), send(svc!, point(model, minute, input))]));
    }
    expect(await totals(svc.reportingUrl)).toEqual({ events: 40, input_tokens: 20 * 160, output_tokens: 0 });
  });

  it('counts several points of one stream in one export, in time order', async () => {
    svc = await counting(backend);
    await send(svc, tokenUsage([
      { type: 'input', sum: 300, start: at(0), time: at(2) },
      { type: 'input', sum: 100, start: at(0), time: at(1) },
    ], CUMULATIVE));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 2, input_tokens: 300, output_tokens: 0 });
  });

  it('starts a cumulative stream over when its start time moves on or its value drops', async () => {
    svc = await counting(backend);
    const point = (start: number, minute: number, input: number) => tokenUsage([{ type: 'input', sum: input, start: at(start), time: at(minute) }], CUMULATIVE);
    await send(svc, point(0, 1, 100));
    await send(svc, point(0, 2, 300));
    // The process restarted at minute 2: its counts start again from its new start time.
    await send(svc, point(2, 3, 50));
    expect((await totals(svc.reportingUrl)).input_tokens).toBe(350);
    // A late retry from before the restart counts nothing.
    await send(svc, point(0, 2, 300));
    expect((await totals(svc.reportingUrl)).input_tokens).toBe(350);
    // A drop without a new start time is a reset too: all of the new value is new.
    await send(svc, point(2, 4, 20));
    await send(svc, point(2, 5, 45));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 5, input_tokens: 395, output_tokens: 0 });
  });

  it('counts the same export sent as JSON, as protobuf and over gRPC once', async () => {
    svc = await counting(backend);
    const body = tokenUsage([{ type: 'input', sum: 700, start: at(0), time: at(1) }, { type: 'completion', sum: 70, start: at(0), time: at(1) }], CUMULATIVE);
    await send(svc, body);
    const res = await svc.ingest('/v1/metrics', encodeProtobuf('metrics', body), { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    const client = grpcClient(svc.grpcUrl);
    expect(await callExport(client, encodeProtobuf('metrics', body), {}, EXPORTS.metrics)).toMatchObject({ code: 0 });
    client.close();
    expect(await totals(svc.reportingUrl)).toEqual({ events: 2, input_tokens: 700, output_tokens: 70 });
  });

  it('rejects a point whose count is not a whole number, naming it, and stores the rest', async () => {
    svc = await counting(backend);
    const answer = await send(svc, tokenUsage([{ type: 'input', sum: 10.5, start: at(0), time: at(1) }, { type: 'output', sum: 5, start: at(0), time: at(1) }], DELTA));
    expect(answer).toMatchObject({ partialSuccess: { rejectedDataPoints: '1' } });
    expect((answer as { partialSuccess: { errorMessage: string } }).partialSuccess.errorMessage)
      .toMatch(/data point gen_ai\.client\.token\.usage \(resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.histogram\.dataPoints\[0\]\) gen_ai\.client\.token\.usage sum: must be a whole number/);
    expect(await totals(svc.reportingUrl)).toEqual({ events: 1, input_tokens: 0, output_tokens: 5 });
  });

  it('rejects a point whose start comes after its time, naming it, and keeps it off its stream', async () => {
    svc = await counting(backend);
    const point = (start: number, minute: number, input: number) => tokenUsage([{ type: 'input', sum: input, start: at(start), time: at(minute) }], CUMULATIVE);
    await send(svc, point(0, 1, 100));
    const answer = await send(svc, point(60, 2, 110));
    expect(answer).toMatchObject({ partialSuccess: { rejectedDataPoints: '1' } });
    expect((answer as { partialSuccess: { errorMessage: string } }).partialSuccess.errorMessage)
      .toMatch(/data point gen_ai\.client\.token\.usage \(resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.histogram\.dataPoints\[0\]\) startTimeUnixNano: must not be after timeUnixNano/);
    // The stream goes on from its last good point: 300 and then 900 since its start.
    await send(svc, point(0, 3, 300));
    await send(svc, point(0, 4, 900));
    expect(await totals(svc.reportingUrl)).toEqual({ events: 3, input_tokens: 900, output_tokens: 0 });
  });

  it('counts only the services COUNT_METRICS names, and nothing with it unset', async () => {
    svc = await counting(backend);
    await send(svc, tokenUsage([{ type: 'input', sum: 100, start: at(0), time: at(1) }], CUMULATIVE, 'other-bot'));
    expect((await totals(svc.reportingUrl)).events).toBe(0);
    await svc.close();
    svc = await startTestService({ backend });
    await send(svc, tokenUsage([{ type: 'input', sum: 100, start: at(0), time: at(1) }], CUMULATIVE));
    await send(svc, tokenUsage([{ type: 'input', sum: 100, start: at(0), time: at(1) }], DELTA));
    expect((await totals(svc.reportingUrl)).events).toBe(0);
  });

  it('with COUNT_METRICS=*, still counts each call of the coding agents once: their metrics repeat their per-call records', async () => {
    svc = await startTestService({ backend, env: { COUNT_METRICS: '*' } });
    for (const file of AGENT_FIXTURES.filter((f) => f.endsWith('-http-json.json'))) {
      const fixture = loadAgentFixture(file);
      const before = await svc.report(DECEMBER);
      for (const { signal, body } of fixture.requests) expect((await svc.ingest(`/v1/${signal}`, body)).status).toBe(200);
      const after = (await svc.report(DECEMBER)).body.totals;
      const expected = expectedTotals(fixture);
      expect(after.events - before.body.totals.events, file).toBe(expected.events);
      expect(after.input_tokens - before.body.totals.input_tokens, file).toBe(expected.input_tokens);
    }
  });

  it('counts the GenAI histogram Gemini CLI really sent, once it comes from a service the profiles do not know', async () => {
    svc = await startTestService({ backend, env: { COUNT_METRICS: '*' } });
    const gemini = loadAgentFixture(AGENT_FIXTURES.find((f) => f.startsWith('gemini-cli-') && f.endsWith('-http-json.json'))!);
    const renamed = JSON.parse(JSON.stringify(gemini.requests.find((r) => r.signal === 'metrics')!.body).replaceAll('gemini-cli', 'inhouse-agent'));
    await send(svc, renamed);
    await send(svc, renamed);
    // The gen_ai.client.token.usage points only (cumulative, input including cache); gemini_cli.token.usage is no GenAI metric.
    expect(await totals(svc.reportingUrl)).toEqual({ events: 4, input_tokens: 250 + 7400, output_tokens: 9 + 110 });
  });
});

describe('COUNT_METRICS set wrong', () => {
  it('stops the configuration naming the variable and why', () => {
    const naming = (value: string) => () => checkCountMetrics(loadConfig({ COUNT_METRICS: value }).COUNT_METRICS);
    expect(naming('billing-bot,claude-code')).toThrow(ConfigError);
    expect(naming('billing-bot,claude-code')).toThrow(/COUNT_METRICS="billing-bot,claude-code": "claude-code" is Claude Code, which sends a per-call log record/);
    expect(() => loadConfig({ COUNT_METRICS: 'a,,b' })).toThrow(/COUNT_METRICS="a,,b": must be a comma list of service\.name values or \*/);
    expect(loadConfig({ COUNT_METRICS: ' * , billing-bot' }).COUNT_METRICS).toEqual({ anyService: true, services: new Set(['billing-bot']) });
  });

  it('stops the service at start, naming the variable', async () => {
    const run = runCli(['serve'], { DATABASE_URL: join(scratchDir('tokentally-metrics-'), 'usage.db'), COUNT_METRICS: 'gemini-cli' });
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/COUNT_METRICS="gemini-cli": "gemini-cli" is Gemini CLI, which sends a per-call log record \(gemini_cli\.api_response\)/);
  });
});

describe.each(BACKENDS)('cumulative streams across a kill -9 on %s', (backend) => {
  const running: Running[] = [];
  let db: TestDatabase | undefined;
  afterEach(async () => {
    for (const r of running.splice(0)) r.child.kill('SIGKILL');
    await db?.drop();
    db = undefined;
  });

  it('counts each interval once when the server dies between points and the exporter resends', async () => {
    db = backend === 'postgres' ? await createDatabase() : undefined;
    const env = {
      DATABASE_URL: db?.url ?? join(scratchDir('tokentally-metrics-'), 'usage.db'),
      COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', COUNT_METRICS: 'billing-bot',
    };
    const start = async () => {
      const run = runCli(['serve'], env);
      running.push(run);
      return { run, ...(await waitForListening(run, ['collector', 'reporting'])) };
    };
    const point = (minute: number, input: number) => tokenUsage([{ type: 'input', sum: input, start: at(0), time: at(minute) }], CUMULATIVE);

    const first = await start();
    await send({ collectorUrl: first.collector }, point(1, 100));
    await send({ collectorUrl: first.collector }, point(2, 250));
    first.run.child.kill('SIGKILL');
    await first.run.exited;

    const second = await start();
    // The exporter never saw the last answer: it sends that export again, then the next one.
    await send({ collectorUrl: second.collector }, point(2, 250));
    await send({ collectorUrl: second.collector }, point(3, 275));
    expect(await totals(second.reporting)).toEqual({ events: 3, input_tokens: 275, output_tokens: 0 });
  });
});
