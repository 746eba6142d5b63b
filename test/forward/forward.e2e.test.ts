import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_FIXTURES, loadAgentFixture } from '../support/agent-fixtures.js';
import { callExport, EXPORTS, grpcClient } from '../support/grpc.js';
import { encodeProtobuf, otlpLogsRequest, otlpRequest } from '../support/otlp.js';
import { canonicalResources, startReceiver, type Receiver } from '../support/otlp-receiver.js';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';
import type { Signal } from '../../collector/otlp/receive.js';

/**
 * Forwarding end to end: a tokentally forwarding to a minimal OTLP upstream (test/support/otlp-receiver.ts)
 * over each protocol; what arrives must equal what the agents sent, once decoded.
 */

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
const SIGNALS: Signal[] = ['traces', 'logs', 'metrics'];

let receiver: Receiver | undefined;
let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  await receiver?.close();
  svc = receiver = undefined;
});

function forwardEnv(upstream: Receiver, protocol: (typeof PROTOCOLS)[number], extra: Record<string, string> = {}): Record<string, string> {
  return { FORWARD_OTLP_ENDPOINT: protocol === 'grpc' ? upstream.grpcUrl : upstream.httpUrl, FORWARD_OTLP_PROTOCOL: protocol, ...extra };
}

/** Sends one export as JSON, protobuf or over gRPC; it must be a full success. */
async function send(service: TestService, signal: Signal, body: unknown, wire: 'json' | 'protobuf' | 'grpc'): Promise<void> {
  if (wire === 'grpc') {
    const client = grpcClient(service.grpcUrl);
    expect((await callExport(client, encodeProtobuf(signal, body), {}, EXPORTS[signal])).code).toBe(0);
    client.close();
    return;
  }
  const res = await service.ingest(`/v1/${signal}`, wire === 'json' ? JSON.stringify(body) : encodeProtobuf(signal, body), {
    'content-type': wire === 'json' ? 'application/json' : 'application/x-protobuf',
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** Every resource the upstream got for a signal, in arrival order. */
const arrived = (signal: Signal) => receiver!.received.filter((r) => r.signal === signal).flatMap((r) => r.resources);

const span = (spanId: string, attributes: Record<string, string | number>) => otlpRequest([{ spanId, attributes }]);
const usageSpan = (spanId: string) => span(spanId, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 2 });

describe.each(PROTOCOLS)('forwarding over %s', (protocol) => {
  it('passes on every export of the agent CLI captures whole, whichever way it came in', async () => {
    receiver = await startReceiver();
    svc = await startTestService({ env: forwardEnv(receiver, protocol, { FORWARD_OTLP_HEADERS: 'x-team=plat%20form,authorization=Bearer abc', FORWARD_OTLP_COMPRESSION: protocol === 'grpc' ? 'gzip' : 'none' }) });
    const expected: Record<Signal, unknown[]> = { traces: [], logs: [], metrics: [] };
    let n = 0;
    for (const file of AGENT_FIXTURES) {
      for (const { signal, body } of loadAgentFixture(file).requests) {
        await send(svc, signal, body, (['json', 'protobuf', 'grpc'] as const)[n++ % 3]!);
        expected[signal].push(...canonicalResources(signal, encodeProtobuf(signal, body)));
      }
    }
    await until(() => SIGNALS.every((s) => arrived(s).length >= expected[s].length), 'every resource at the upstream', 60_000);
    for (const signal of SIGNALS) expect(arrived(signal), signal).toEqual(expected[signal]);
    expect(new Set(receiver.received.map((r) => r.via))).toEqual(new Set([protocol]));
    expect(receiver.received[0]!.headers).toMatchObject({ 'x-team': 'plat form', authorization: 'Bearer abc' });
    await until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_forward_outbox_entries')) === 0, 'an empty outbox');
    expect(await metricValue(svc.collectorUrl, 'tokentally_forward_forwarded_total{signal="logs"}')).toBeGreaterThan(0);
  }, 120_000);
});

describe('forwarding when the upstream fails', () => {
  it('retries a 503 after its Retry-After, stays ready saying the upstream is down, and delivers each request once', async () => {
    receiver = await startReceiver();
    let failing = true;
    receiver.answer = () => (failing ? { status: 503, retryAfter: '1' } : 'ok');
    svc = await startTestService({ env: forwardEnv(receiver, 'http/protobuf') });
    await send(svc, 'traces', usageSpan('00f067aa0ba902b1'), 'json');
    await send(svc, 'traces', span('00f067aa0ba902b2', { 'http.route': '/x' }), 'protobuf');
    await until(() => receiver!.attempts >= 2, 'two attempts');
    const ready = await fetch(`${svc.collectorUrl}/readyz`);
    expect(ready.status).toBe(200);
    const body = await ready.json();
    expect(body).toMatchObject({ status: 'ready', details: { forward: { upstream: 'down' } } });
    expect(body.details.forward.reason).toMatch(/traces: HTTP 503/);
    expect(await metricValue(svc.collectorUrl, 'tokentally_forward_retries_total{signal="traces"}')).toBeGreaterThanOrEqual(1);
    // The usage itself is stored whatever the upstream does.
    expect((await svc.report('/v1/events')).body.events).toHaveLength(1);
    failing = false;
    await until(() => arrived('traces').length === 2, 'both requests delivered', 15_000);
    const ids = receiver.received.flatMap((r) => (r.resources as any[]).flatMap((res) => res.scopeSpans.flatMap((s: any) => s.spans.map((sp: any) => sp.spanId))));
    expect(ids).toEqual([Buffer.from('00f067aa0ba902b1', 'hex').toString('base64'), Buffer.from('00f067aa0ba902b2', 'hex').toString('base64')]);
    await until(async () => (await (await fetch(`${svc!.collectorUrl}/readyz`)).json()).details.forward.upstream === 'up', 'the upstream reported up again');
  });

  it('never slows ingest on a hanging upstream, and delivers once it answers again', async () => {
    receiver = await startReceiver();
    let hang = true;
    receiver.answer = () => (hang ? 'hang' : 'ok');
    svc = await startTestService({ env: forwardEnv(receiver, 'http/json', { FORWARD_OTLP_TIMEOUT: '300' }) });
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      await send(svc, 'logs', otlpLogsRequest([{ body: `line ${i}`, attributes: { n: i } }]), 'protobuf');
      expect(Date.now() - started, 'an ingest answered within 5 s').toBeLessThan(5_000);
    }
    await until(async () => ((await metricValue(svc!.collectorUrl, 'tokentally_forward_retries_total{signal="logs"}')) ?? 0) >= 1, 'a timed-out export retried');
    hang = false;
    await until(() => arrived('logs').length === 20, 'all 20 requests delivered', 40_000);
  }, 60_000);

  it('drops and counts what the upstream refuses for good, and goes on with the rest', async () => {
    receiver = await startReceiver();
    receiver.answer = () => ({ status: 400 });
    svc = await startTestService({ env: forwardEnv(receiver, 'http/protobuf') });
    await send(svc, 'metrics', { resourceMetrics: [] }, 'json');
    await send(svc, 'traces', usageSpan('00f067aa0ba902b3'), 'json');
    await until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_forward_dropped_total{signal="traces",reason="http_400"}')) === 1, 'the refusal counted');
    receiver.answer = () => 'ok';
    await send(svc, 'traces', usageSpan('00f067aa0ba902b4'), 'json');
    await until(() => arrived('traces').length === 1, 'the next request delivered');
  });

  it('bounds the outbox: the oldest entries are dropped and counted, the usage never', async () => {
    receiver = await startReceiver();
    receiver.answer = () => ({ status: 503 });
    svc = await startTestService({ env: forwardEnv(receiver, 'http/protobuf', { FORWARD_OUTBOX_MAX_BYTES: '3000' }) });
    for (let i = 0; i < 30; i++) await send(svc, 'traces', usageSpan(`00f067aa0ba90${String(100 + i)}`), 'json');
    await until(async () => ((await metricValue(svc!.collectorUrl, 'tokentally_forward_dropped_total{signal="any",reason="outbox_full"}')) ?? 0) > 0, 'outbox_full drops');
    await until(async () => ((await metricValue(svc!.collectorUrl, 'tokentally_forward_outbox_bytes')) ?? Infinity) <= 3000, 'the outbox within its bound');
    expect((await svc.report('/v1/events?limit=100')).body.events).toHaveLength(30);
  });
});

describe('per-signal settings', () => {
  it('sends each signal with its own protocol, headers and compression, the others with the general ones', async () => {
    receiver = await startReceiver();
    svc = await startTestService({
      env: {
        FORWARD_OTLP_ENDPOINT: receiver.httpUrl, FORWARD_OTLP_HEADERS: 'x-team=all,x-shared=1',
        FORWARD_OTLP_LOGS_PROTOCOL: 'http/json', FORWARD_OTLP_LOGS_HEADERS: 'x-team=logs', FORWARD_OTLP_LOGS_COMPRESSION: 'gzip',
        FORWARD_OTLP_METRICS_PROTOCOL: 'grpc', FORWARD_OTLP_METRICS_ENDPOINT: receiver.grpcUrl,
      },
    });
    const log = otlpLogsRequest([{ body: 'one line', attributes: { n: 1 } }]);
    await send(svc, 'traces', usageSpan('00f067aa0ba902c1'), 'protobuf');
    await send(svc, 'logs', log, 'protobuf');
    await send(svc, 'metrics', { resourceMetrics: [] }, 'json');
    await until(() => SIGNALS.every((signal) => receiver!.received.some((r) => r.signal === signal)), 'every signal delivered');
    const got = (signal: Signal) => receiver!.received.find((r) => r.signal === signal)!;
    expect(got('traces')).toMatchObject({ via: 'http/protobuf', headers: { 'x-team': 'all', 'x-shared': '1' } });
    expect(got('traces').headers['content-encoding']).toBeUndefined();
    expect(got('logs')).toMatchObject({ via: 'http/json', headers: { 'x-team': 'logs', 'content-encoding': 'gzip' } });
    // Replaced, not merged: the general headers are not sent with the logs.
    expect(got('logs').headers['x-shared']).toBeUndefined();
    expect(got('logs').resources).toEqual(canonicalResources('logs', encodeProtobuf('logs', log)));
    expect(got('metrics')).toMatchObject({ via: 'grpc', headers: { 'x-team': 'all', 'x-shared': '1' } });
  });
});

describe('FORWARD_OTLP_DROP_ATTRIBUTES', () => {
  it('removes those keys everywhere and leaves everything else as sent', async () => {
    receiver = await startReceiver();
    svc = await startTestService({ env: forwardEnv(receiver, 'http/json', { FORWARD_OTLP_DROP_ATTRIBUTES: 'prompt, user.email' }) });
    const logs = otlpLogsRequest([{ body: 'claude_code.user_prompt', attributes: { prompt: 'secret plans', 'user.email': 'a@b.c', 'event.name': 'user_prompt' } }],
      { resource: { 'service.name': 'claude-code', 'user.email': 'a@b.c' } });
    await send(svc, 'logs', logs, 'protobuf');
    await until(() => arrived('logs').length === 1, 'the logs delivered');
    const without = otlpLogsRequest([{ body: 'claude_code.user_prompt', attributes: { 'event.name': 'user_prompt' } }], { resource: { 'service.name': 'claude-code' } });
    expect(arrived('logs')).toEqual(canonicalResources('logs', encodeProtobuf('logs', without)));
  });
});

describe('forwarding over gRPC when the upstream fails', () => {
  it('retries UNAVAILABLE, drops RESOURCE_EXHAUSTED without a RetryInfo as permanent', async () => {
    receiver = await startReceiver();
    let reply: 'unavailable' | 'exhausted' | 'ok' = 'unavailable';
    receiver.answer = () => (reply === 'ok' ? 'ok' : { grpc: reply === 'unavailable' ? 14 : 8 });
    svc = await startTestService({ env: forwardEnv(receiver, 'grpc') });
    await send(svc, 'traces', usageSpan('00f067aa0ba902c1'), 'json');
    await until(async () => ((await metricValue(svc!.collectorUrl, 'tokentally_forward_retries_total{signal="traces"}')) ?? 0) >= 1, 'UNAVAILABLE retried');
    reply = 'ok';
    await until(() => arrived('traces').length === 1, 'delivered after UNAVAILABLE');
    reply = 'exhausted';
    await send(svc, 'logs', otlpLogsRequest([{ body: 'x' }]), 'json');
    await until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_forward_dropped_total{signal="logs",reason="grpc_resource_exhausted"}')) === 1, 'RESOURCE_EXHAUSTED dropped');
  });
});
