import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_FIXTURES, expectedTotals, loadAgentFixture, type AgentFixture } from '../support/agent-fixtures.js';
import { callExport, EXPORTS, grpcClient } from '../support/grpc.js';
import { encodeProtobuf } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * What Claude Code, Codex CLI and Gemini CLI really sent (every log, trace and metrics export of a
 * run, test/fixtures/agents), replayed to the collector as JSON, as a protobuf client sends it, and
 * over OTLP/gRPC.
 * Each fixture holds the per-call log records plus the spans, span events, other log events and
 * metrics that repeat them; exactly one event per model call must come out, with the fake model's
 * usage to the token.
 */

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(() => svc.close());

const DECEMBER = '/v1/reports/usage?from=2026-12-01&to=2027-01-01';

type Wire = 'json' | 'protobuf' | 'protobuf+gzip' | 'grpc+gzip';

/** Sends every export of the run to /v1/<signal> or its gRPC Export, in the order captured; each must be a full success. */
async function replay(fixture: AgentFixture, wire: Wire): Promise<void> {
  if (wire === 'grpc+gzip') {
    const client = grpcClient(svc.grpcUrl, { compression: 'gzip' });
    for (const { signal, body } of fixture.requests) {
      expect(await callExport(client, encodeProtobuf(signal, body), {}, EXPORTS[signal]), `${fixture.file} ${signal}`).toEqual({ code: 0, details: '', response: {} });
    }
    client.close();
    return;
  }
  for (const { signal, body } of fixture.requests) {
    const protobuf = wire !== 'json';
    const bytes = protobuf ? encodeProtobuf(signal, body) : JSON.stringify(body);
    const res = await svc.ingest(`/v1/${signal}`, wire === 'protobuf+gzip' ? gzipSync(bytes) : bytes, {
      'content-type': protobuf ? 'application/x-protobuf' : 'application/json',
      ...(wire === 'protobuf+gzip' ? { 'content-encoding': 'gzip' } : {}),
    });
    const answer = new Uint8Array(await res.arrayBuffer());
    expect(res.status, `${fixture.file} ${signal}: ${Buffer.from(answer).toString()}`).toBe(200);
    // No partialSuccess: `{}` in JSON, nothing in protobuf.
    expect(Buffer.from(answer).toString()).toBe(protobuf ? '' : '{}');
  }
}

async function events() {
  return (await svc.report('/v1/events?limit=1000')).body.events as Record<string, any>[];
}

describe.each(AGENT_FIXTURES)('%s replayed', (file) => {
  const fixture = loadAgentFixture(file);

  it.each<Wire>(['json', 'protobuf+gzip', 'grpc+gzip'])('as %s: one event per model call, with the model\'s usage exactly', async (wire) => {
    await replay(fixture, wire);
    const { body } = await svc.report(DECEMBER);
    expect(body.totals).toMatchObject(expectedTotals(fixture));
    const stored = await events();
    expect(stored.map((e) => e.model).sort()).toEqual(fixture.modelCalls.map((c) => c.model).sort());
    expect(await svc.store.verify()).toMatchObject({ ok: true });
  });

  it('counts a retried export, and the same export as JSON, as protobuf and over gRPC, once', async () => {
    await replay(fixture, 'json');
    const first = (await svc.report(DECEMBER)).body.totals;
    await replay(fixture, 'protobuf');
    await replay(fixture, 'grpc+gzip');
    await replay(fixture, 'json');
    expect((await svc.report(DECEMBER)).body.totals).toEqual(first);
    expect(first).toMatchObject(expectedTotals(fixture));
  });
});

const first = (cli: AgentFixture['cli']) => loadAgentFixture(AGENT_FIXTURES.find((f) => f.startsWith(`${cli}-`) && f.endsWith('-http-json.json'))!);

/** The per-call records of a fixture, in the order sent. */
function perCallRecords(fixture: AgentFixture, matches: (attributes: Map<string, any>, record: any) => boolean) {
  return fixture.requests.filter((r) => r.signal === 'logs').flatMap(({ body }: any) =>
    body.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords))).filter((record: any) => {
    const attributes = new Map<string, any>(record.attributes.map((a: any) => [a.key, a.value]));
    return matches(attributes, record);
  }).map((record: any) => new Map<string, any>(record.attributes.map((a: any) => [a.key, Object.values(a.value)[0]])));
}

describe('the fields of each agent\'s events', () => {
  it('Claude Code: input made inclusive of cache, its request id as id, its cost kept as reported', async () => {
    const fixture = first('claude-code');
    await replay(fixture, 'json');
    const calls = perCallRecords(fixture, (a) => a.get('event.name')?.stringValue === 'api_request');
    expect(calls).toHaveLength(2);
    const stored = (await events()).sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    expect(stored).toEqual(calls.map((call) => expect.objectContaining({
      id: `claude-code:${call.get('request_id')}`,
      agent_id: 'claude-code', provider: 'anthropic', model: call.get('model'),
      session_id: call.get('session.id'), user_id: call.get('user.id'),
      input_tokens: call.get('input_tokens') + call.get('cache_read_tokens') + call.get('cache_creation_tokens'),
      output_tokens: call.get('output_tokens'), cost_usd: expect.closeTo(call.get('cost_usd'), 9), cost_source: 'reported',
      duration_ms: call.get('duration_ms'),
      attributes: expect.objectContaining({ 'event.name': 'api_request', query_source: 'sdk', 'prompt.id': call.get('prompt.id') }),
    })));
    expect((await svc.report(DECEMBER)).body.totals).toMatchObject({ cost_usd: 0.0162, cost_reported_usd: 0.0162 });
  });

  it('Codex: the response.completed record with counts, its string counts read, tool_token_count not added, time from observedTimeUnixNano', async () => {
    const fixture = first('codex');
    await replay(fixture, 'json');
    const calls = perCallRecords(fixture, (a) => a.get('event.kind')?.stringValue === 'response.completed' && a.has('input_token_count'));
    expect(calls).toHaveLength(2);
    expect(calls[0]!.get('input_token_count')).toBe('3630'); // a stringValue
    const stored = (await events()).sort((a, b) => a.input_tokens - b.input_tokens);
    expect(stored).toEqual([
      expect.objectContaining({ id: expect.stringMatching(/^log:[0-9a-f]{12}-[0-9a-f]{32}$/), agent_id: 'codex_exec', model: 'gpt-5.5', input_tokens: 3630, output_tokens: 56, reasoning_tokens: 12, session_id: calls[0]!.get('conversation.id') }),
      expect.objectContaining({ input_tokens: 4170, output_tokens: 86, reasoning_tokens: 20 }),
    ]);
    expect(Date.parse(stored[0]!.timestamp)).toBeGreaterThan(Date.UTC(2026, 11, 1));
  });

  it('Gemini CLI: thoughts added to output and kept as reasoning, the routing call counted', async () => {
    const fixture = first('gemini-cli');
    await replay(fixture, 'json');
    const stored = (await events()).sort((a, b) => a.input_tokens - b.input_tokens);
    expect(stored).toEqual([
      expect.objectContaining({ model: 'gemini-3.5-flash-lite', input_tokens: 250, output_tokens: 9, attributes: expect.objectContaining({ role: 'utility_router' }) }),
      expect.objectContaining({ model: 'gemini-3.8-flash', input_tokens: 3300, cache_read_tokens: 2200, output_tokens: 56, reasoning_tokens: 12, provider: 'gcp.gen_ai', agent_id: 'gemini-cli' }),
      expect.objectContaining({ model: 'gemini-3.8-flash', input_tokens: 4100, cache_read_tokens: 2600, output_tokens: 86, reasoning_tokens: 20, attributes: expect.objectContaining({ role: 'main' }) }),
    ]);
  });
});
