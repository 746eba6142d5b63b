import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { encodeProtobuf, otlpLogsRequest, otlpRequest, TRACE_ID, type LogSpec } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * POST /v1/logs and /v1/metrics with records written as the emitters' sources describe them: the
 * profiles not captured from a real CLI (Cline, Qwen Code), the generic OTel GenAI event, and the
 * rules every profile shares (time, ids, rejections).
 */

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(() => svc.close());

const NOVEMBER = '/v1/reports/usage?from=2026-11-01&to=2026-12-01';
type Options = Parameters<typeof otlpLogsRequest>[1];

async function sendLogs(records: LogSpec[], options?: Options) {
  const res = await svc.ingest('/v1/logs', otlpLogsRequest(records, options));
  expect(res.status).toBe(200);
  return res.json();
}

async function events() {
  return (await svc.report('/v1/events?limit=1000')).body.events as Record<string, any>[];
}

const cline = { resource: { 'service.name': 'cline', 'service.version': '3.40.0' }, scope: { name: 'cline' } };
const clineTurn = (usage: Record<string, number>) => ({
  body: 'task.conversation_turn',
  attributes: { ulid: '01JD5Z', provider: 'anthropic', model: 'claude-sonnet-4-5', source: 'assistant', mode: 'act', user_id: 'u-7', timestamp: '2026-11-03T10:00:01.623Z', ...usage },
});

describe('emitter profiles from their sources', () => {
  it('Cline: task.conversation_turn counts, its cost is kept, input that cannot hold the cache gets it added', async () => {
    expect(await sendLogs([
      clineTurn({ tokensIn: 120, tokensOut: 40, cacheReadTokens: 2000, cacheWriteTokens: 300, totalCost: 0.0123 }),
      { ...clineTurn({ tokensIn: 5000, tokensOut: 60, cacheReadTokens: 2000, cacheWriteTokens: 0, totalCost: 0.02 }), observed: '1793700002623456789' },
      // The user's turn carries no counts; task.tokens repeats the assistant's turn.
      { body: 'task.conversation_turn', attributes: { ulid: '01JD5Z', provider: 'anthropic', model: 'claude-sonnet-4-5', source: 'user' } },
      { body: 'task.tokens', attributes: { ulid: '01JD5Z', tokensIn: 120, tokensOut: 40, model: 'claude-sonnet-4-5' } },
    ], cline)).toEqual({});
    const stored = (await events()).sort((a, b) => a.input_tokens - b.input_tokens);
    expect(stored).toEqual([
      expect.objectContaining({
        id: expect.stringMatching(/^log:[0-9a-f]{12}-[0-9a-f]{32}$/), agent_id: 'cline', model: 'claude-sonnet-4-5', provider: 'anthropic',
        input_tokens: 2420, cache_read_tokens: 2000, cache_write_tokens: 300, output_tokens: 40, cost_usd: 0.0123, cost_source: 'reported',
        session_id: '01JD5Z', user_id: 'u-7', attributes: expect.objectContaining({ 'event.name': 'task.conversation_turn', mode: 'act' }),
      }),
      expect.objectContaining({ input_tokens: 5000, cache_read_tokens: 2000 }),
    ]);
  });

  it('Qwen Code: its response id, and output taken as holding reasoning unless it cannot', async () => {
    const response = (id: string, output: number, thoughts: number) => ({
      attributes: {
        'event.name': 'qwen-code.api_response', response_id: id, model: 'qwen3-coder-plus', 'session.id': 's-1', duration_ms: 900,
        input_token_count: 1000, output_token_count: output, cached_content_token_count: 200, thoughts_token_count: thoughts, subagent_name: 'reviewer',
      },
    });
    await sendLogs([response('chatcmpl-1', 100, 30), response('chatcmpl-2', 10, 30)], { resource: { 'service.name': 'qwen-code' }, scope: { name: 'qwen-code' } });
    expect((await events()).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      expect.objectContaining({ id: 'qwen-code:chatcmpl-1', agent_id: 'reviewer', output_tokens: 100, reasoning_tokens: 30, input_tokens: 1000, cache_read_tokens: 200, duration_ms: 900 }),
      expect.objectContaining({ id: 'qwen-code:chatcmpl-2', output_tokens: 40, reasoning_tokens: 30 }),
    ]);
  });

  it('Claude Code without request_id: session.id and event.sequence make the id', async () => {
    const record = {
      body: 'claude_code.api_request',
      attributes: { 'event.name': 'api_request', 'session.id': 'sess-9', 'event.sequence': 4, model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 5, 'user.email': 'ada@example.com', 'user.id': 'install-1', 'organization.id': 'org-1' },
    };
    await sendLogs([record], { resource: { 'service.name': 'claude-code' }, scope: { name: 'com.anthropic.claude_code.events' } });
    await sendLogs([{ ...record, observed: '1793700009000000000' }], { resource: { 'service.name': 'claude-code' }, scope: { name: 'com.anthropic.claude_code.events' } });
    expect(await events()).toEqual([expect.objectContaining({
      id: 'claude-code:sess-9/4', user_id: 'ada@example.com', cost_source: 'computed', attributes: expect.objectContaining({ 'organization.id': 'org-1' }),
    })]);
  });

  it('an empty id is no id: Claude Code falls back to session.id and event.sequence, a GenAI event to its hash', async () => {
    const claude = (sequence: number) => ({
      body: 'claude_code.api_request',
      attributes: { 'event.name': 'api_request', request_id: '', 'session.id': 'sess-9', 'event.sequence': sequence, model: 'claude-haiku-4-5', input_tokens: 10 * sequence, output_tokens: 5 },
    });
    await sendLogs([claude(1), claude(2)], { resource: { 'service.name': 'claude-code' }, scope: { name: 'com.anthropic.claude_code.events' } });
    const inference = (input: number) => ({ eventName: 'gen_ai.client.inference.operation.details', attributes: { 'gen_ai.response.id': '', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': input } });
    await sendLogs([inference(11), inference(22)]);
    expect((await events()).map((e) => [e.id, e.input_tokens]).sort((a, b) => a[1] - b[1])).toEqual([
      ['claude-code:sess-9/1', 10], [expect.stringMatching(/^log:/), 11], ['claude-code:sess-9/2', 20], [expect.stringMatching(/^log:/), 22],
    ]);
  });
});

describe('GitHub Copilot: counted by its chat spans', () => {
  it('ignores the inference log event that repeats a chat span', async () => {
    const resource = { 'service.name': 'copilot-chat', 'service.version': '0.38.0' };
    const usage = {
      'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4.1', 'gen_ai.response.id': 'chatcmpl-9', 'gen_ai.usage.input_tokens': 900, 'gen_ai.usage.output_tokens': 70,
    };
    expect((await svc.ingest('/v1/traces', otlpRequest([{ spanId: '00f067aa0ba902b7', name: 'chat gpt-4.1', attributes: usage }], { resource }))).status).toBe(200);
    await sendLogs([{ attributes: { 'event.name': 'gen_ai.client.inference.operation.details', ...usage } }], { resource });
    expect(await events()).toEqual([expect.objectContaining({ id: `${TRACE_ID}00f067aa0ba902b7`, agent_id: 'copilot-chat', input_tokens: 900 })]);
  });
});

describe('any other emitter', () => {
  const resource = { 'service.name': 'support-bot', 'tokentally.project': 'helpdesk' };
  const inference = {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.response.id': 'chatcmpl-abc', 'gen_ai.usage.input_tokens': '1200', 'gen_ai.usage.output_tokens': 300, 'gen_ai.usage.cache_read.input_tokens': 400,
    'gen_ai.agent.name': 'triager',
  };

  it('counts the OTel GenAI inference event that carries usage, named by eventName or event.name', async () => {
    await sendLogs([
      { eventName: 'gen_ai.client.inference.operation.details', attributes: inference },
      { attributes: { ...inference, 'event.name': 'gen_ai.client.inference.operation.details', 'gen_ai.response.id': 'chatcmpl-def' } },
      // The request-side event has no usage; other events with usage attributes are not the call.
      { eventName: 'gen_ai.client.inference.operation.details', attributes: { 'gen_ai.request.model': 'gpt-4o' } },
      { eventName: 'app.audit', attributes: inference },
      { body: 'a plain log line' },
    ], { resource });
    expect((await events()).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      expect.objectContaining({
        id: 'gen_ai:chatcmpl-abc', project: 'helpdesk', agent_id: 'triager', model: 'gpt-4o-2024-08-06', provider: 'openai', operation: 'chat',
        input_tokens: 1200, cache_read_tokens: 400, output_tokens: 300, timestamp: '2026-11-03T10:00:01.623Z',
      }),
      expect.objectContaining({ id: 'gen_ai:chatcmpl-def' }),
    ]);
  });

  it('without a response id, hashes the record: a retry counts once, another record does not collide', async () => {
    const { 'gen_ai.response.id': _, ...anonymous } = inference;
    const record = { eventName: 'gen_ai.client.inference.operation.details', attributes: anonymous };
    await sendLogs([record], { resource });
    await sendLogs([record], { resource });
    await svc.ingest('/v1/logs', encodeProtobuf('logs', otlpLogsRequest([record], { resource })), { 'content-type': 'application/x-protobuf' });
    await sendLogs([{ ...record, observed: '1793700009000000000' }], { resource });
    expect((await svc.report(NOVEMBER)).body.totals).toMatchObject({ events: 2, input_tokens: 2400 });
  });
});

describe('time, rejections and answers', () => {
  const codexCall = (input: string | number) => ({
    attributes: { 'event.name': 'codex.sse_event', 'event.kind': 'response.completed', model: 'gpt-5.5', input_token_count: input, output_token_count: '50', 'event.timestamp': '2026-11-04T08:00:00.000Z' },
  });
  const codex = { resource: { 'service.name': 'codex_exec' }, scope: { name: 'codex_otel.log_only' } };

  it('takes timeUnixNano, else observedTimeUnixNano, else the event.timestamp attribute', async () => {
    await sendLogs([
      { ...codexCall('10'), time: '1793700001623456789', observed: '1793700009000000000' },
      { ...codexCall('20'), time: '0', observed: '1793786400000000000' },
      { ...codexCall('30'), time: '0', observed: '0' },
    ], codex);
    const byInput = Object.fromEntries((await events()).map((e) => [e.input_tokens, e.timestamp]));
    expect(byInput).toEqual({ 10: '2026-11-03T10:00:01.623Z', 20: '2026-11-04T10:00:00Z', 30: '2026-11-04T08:00:00Z' });
  });

  it('stores the valid records and names each rejected one in partialSuccess, in JSON and protobuf', async () => {
    const request = otlpLogsRequest([codexCall('100'), { ...codexCall('-5'), observed: '1793700009000000000' }, { ...codexCall('ten'), observed: '1793700019000000000' }], codex);
    const json = await svc.ingest('/v1/logs', request);
    expect(await json.json()).toEqual({
      partialSuccess: {
        rejectedLogRecords: '2',
        errorMessage: expect.stringContaining('log record codex.sse_event (resourceLogs[0].scopeLogs[0].logRecords[1]) input_token_count: must not be negative'),
      },
    });
    const proto = await svc.ingest('/v1/logs', gzipSync(encodeProtobuf('logs', request)), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    const answer = otlpTypes.logs.response.toObject(otlpTypes.logs.response.decode(new Uint8Array(await proto.arrayBuffer())), { longs: Number });
    expect(answer).toEqual({ partialSuccess: { rejectedLogRecords: 2, errorMessage: expect.stringContaining('logRecords[2]) input_token_count') } });
    expect((await svc.report(NOVEMBER)).body.totals).toMatchObject({ events: 1, input_tokens: 100 });
  });

  it('answers an empty request, and logs without usage, with success', async () => {
    for (const [body, type] of [['{}', 'application/json'], [new Uint8Array(0), 'application/x-protobuf'], ['{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}', 'application/json']] as const) {
      const res = await svc.ingest('/v1/logs', body, { 'content-type': type });
      expect(res.status).toBe(200);
    }
    expect(await events()).toEqual([]);
  });
});

describe('POST /v1/metrics', () => {
  const metrics = {
    resourceMetrics: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'gemini-cli' } }] },
      scopeMetrics: [{
        scope: { name: 'gemini-cli' },
        metrics: [
          { name: 'gemini_cli.token.usage', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ asInt: '3300', startTimeUnixNano: '1793700000000000000', timeUnixNano: '1793700001000000000', attributes: [{ key: 'type', value: { stringValue: 'input' } }] }] } },
          { name: 'gen_ai.client.token.usage', histogram: { aggregationTemporality: 2, dataPoints: [{ count: '2', sum: 100, bucketCounts: ['0', '1', '1'], explicitBounds: [1, 64], exemplars: [{ asDouble: 44, spanId: 'eee19b7ec3c1b174', traceId: '5b8efff798038103d269b633813fc60c' }] }] } },
          { name: 'latency', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ count: '3', scale: -2, positive: { offset: -1, bucketCounts: ['1', '2'] }, zeroCount: '0' }] } },
          { name: 'queue', gauge: { dataPoints: [{ asDouble: 'NaN' }] } },
          { name: 'rpc', summary: { dataPoints: [{ count: '5', sum: 12.5, quantileValues: [{ quantile: 0.5, value: 2 }] }] } },
        ],
      }],
    }],
  };

  it('accepts every kind of data point as JSON and protobuf (packed buckets too), and counts none of them', async () => {
    const json = await svc.ingest('/v1/metrics', metrics);
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual({});
    const proto = await svc.ingest('/v1/metrics', gzipSync(encodeProtobuf('metrics', metrics)), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(proto.status).toBe(200);
    expect(new Uint8Array(await proto.arrayBuffer())).toHaveLength(0);
    expect(await events()).toEqual([]);
  });
});
