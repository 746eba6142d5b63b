import { describe, expect, it } from 'vitest';
import { countLimits } from '../../collector/decode-limits.js';
import { decodeExport } from '../../collector/otlp/decode.js';
import { SpanMemory } from '../../collector/otlp/span-memory.js';
import { spansToEvents } from '../../collector/otlp/spans.js';
import { validateEvents } from '../../src/event/validate.js';
import { otlpRequest, TRACE_ID, type SpanSpec } from '../support/otlp.js';

type Options = Parameters<typeof otlpRequest>[1];

/** Spans as OTLP/JSON → decoded → usage events, validated like any native event. */
function eventsOf(spans: SpanSpec[], options?: Options) {
  const body = Buffer.from(JSON.stringify(otlpRequest(spans, options)));
  const spanEvents = spansToEvents(decodeExport('traces', body, 'json', countLimits({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 })), new SpanMemory(), null);
  return { spanEvents, ...validateEvents(spanEvents.map((e) => e.input), '') };
}

function eventOf(attributes: SpanSpec['attributes'], options?: Options & { kind?: number }) {
  const { valid, errors } = eventsOf([{ spanId: '00f067aa0ba902b7', kind: options?.kind, attributes }], options);
  expect(errors).toEqual([]);
  expect(valid).toHaveLength(1);
  return valid[0]!.event;
}

const COUNTS = { input_tokens: 100, output_tokens: 20, cache_read_tokens: 30, cache_write_tokens: 10, reasoning_tokens: 5 };

describe('each dialect maps to the same event', () => {
  it.each<[string, Record<string, string | number>, Record<string, unknown>]>([
    ['current OTel GenAI conventions', {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06', 'gen_ai.agent.name': 'planner', 'gen_ai.conversation.id': 'conv-1',
      'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 20, 'gen_ai.usage.cache_read.input_tokens': 30,
      'gen_ai.usage.cache_creation.input_tokens': 10, 'gen_ai.usage.reasoning.output_tokens': 5, 'user.id': 'u-1',
    }, { model: 'gpt-4o-2024-08-06', provider: 'openai', operation: 'chat', agent_id: 'planner', session_id: 'conv-1', user_id: 'u-1' }],
    ['deprecated GenAI names', {
      'gen_ai.operation.name': 'chat', 'gen_ai.system': 'aws.bedrock', 'gen_ai.request.model': 'anthropic.claude-3-5-sonnet',
      'gen_ai.usage.prompt_tokens': 100, 'gen_ai.usage.completion_tokens': 20, 'gen_ai.usage.cache_read_input_tokens': 30,
      'gen_ai.usage.cache_creation_input_tokens': 10, 'gen_ai.usage.reasoning_tokens': 5, 'gen_ai.usage.total_tokens': 999,
    }, { model: 'anthropic.claude-3-5-sonnet', provider: 'aws.bedrock', operation: 'chat', agent_id: 'svc' }],
    ['OpenLLMetry', {
      'llm.request.type': 'chat', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
      'llm.usage.prompt_tokens': 100, 'llm.usage.completion_tokens': 20, 'gen_ai.usage.cache_write.input_tokens': 10,
      'gen_ai.usage.cache_read_input_tokens': 30, 'gen_ai.usage.reasoning_tokens': 5, 'llm.usage.total_tokens': 999, 'llm.cost.total': 0.0042,
    }, { model: 'gpt-4o-mini', provider: 'openai', operation: 'chat', cost_usd: 0.0042 }],
    ['OpenInference', {
      'openinference.span.kind': 'LLM', 'llm.provider': 'anthropic', 'llm.system': 'anthropic', 'llm.model_name': 'claude-sonnet-4-5',
      'llm.token_count.prompt': 100, 'llm.token_count.completion': 20, 'llm.token_count.prompt_details.cache_read': 30,
      'llm.token_count.prompt_details.cache_write': 10, 'llm.token_count.completion_details.reasoning': 5,
      'llm.token_count.total': 999, 'session.id': 'sess-1', 'user.id': 'u-2', 'agent.name': 'researcher',
    }, { model: 'claude-sonnet-4-5', provider: 'anthropic', operation: 'chat', agent_id: 'researcher', session_id: 'sess-1', user_id: 'u-2' }],
  ])('%s', (_dialect, attributes, fields) => {
    expect(eventOf(attributes)).toMatchObject({ ...COUNTS, ...fields, id: `${TRACE_ID}00f067aa0ba902b7`, status: 'ok', duration_ms: 1500 });
  });
});

describe('the first attribute present wins', () => {
  it.each([
    ['input', { 'gen_ai.usage.input_tokens': 7, 'gen_ai.usage.prompt_tokens': 8, 'llm.token_count.prompt': 9 }, { input_tokens: 7 }],
    ['output', { 'gen_ai.usage.completion_tokens': 8, 'llm.token_count.completion': 9 }, { output_tokens: 8 }],
    ['model', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.request.model': 'a', 'llm.model_name': 'b' }, { model: 'a' }],
    ['provider', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.provider.name': 'gcp.vertex_ai', 'gen_ai.system': 'vertex_ai' }, { provider: 'gcp.vertex_ai' }],
    ['user', { 'gen_ai.usage.input_tokens': 1, 'enduser.id': 'e', 'user.id': 'u' }, { user_id: 'u' }],
  ])('%s', (_field, attributes, expected) => {
    expect(eventOf({ 'gen_ai.request.model': 'm', ...attributes })).toMatchObject(expected);
  });
});

describe('counts', () => {
  it.each([
    ['an intValue string', { intValue: '123' }],
    ['an intValue number', { intValue: 123 }],
    ['an integral doubleValue', { doubleValue: 123 }],
    ['a numeric stringValue', { stringValue: '123' }],
    ['a numeric stringValue with an exponent', { stringValue: '1.23e2' }],
  ])('accepts %s', (_name, value) => {
    expect(eventOf({ 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': value })).toMatchObject({ input_tokens: 123 });
  });

  it.each([
    ['a fractional doubleValue', { doubleValue: 1.5 }, /whole number/],
    ['a non-numeric stringValue', { stringValue: 'lots' }, /number/],
    ...['0x10', '0b11', ' 12 ', ''].map((text) => [`the stringValue ${JSON.stringify(text)}, not a decimal number`, { stringValue: text }, /number/] as const),
    ['a fractional stringValue', { stringValue: '1.5' }, /whole number/],
    ['a negative intValue', { intValue: '-4' }, /negative/],
    ['an intValue beyond the per-event cap (here 2^55)', { intValue: '36028797018963968' }, /at most 1,000,000,000/],
    ['a boolValue', { boolValue: true }, /number/],
  ])('rejects %s, naming the attribute', (_name, value, message) => {
    const { valid, errors, spanEvents } = eventsOf([{ spanId: '00f067aa0ba902b7', attributes: { 'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': value } }]);
    expect(valid).toEqual([]);
    expect(errors[0]).toMatchObject({ path: '[0].output_tokens', message: expect.stringMatching(message) });
    expect(spanEvents[0]!.sources.output_tokens).toBe('gen_ai.usage.output_tokens');
  });

  it('never adds totals', () => {
    const { valid } = eventsOf([{ spanId: '00f067aa0ba902b7', attributes: { 'gen_ai.request.model': 'm', 'gen_ai.usage.total_tokens': 50, 'llm.token_count.total': 50 } }]);
    expect(valid).toEqual([]);
  });
});

describe('only inference spans count', () => {
  const CLIENT = 3;
  const INTERNAL = 1;
  it.each<[string, Record<string, string>, number, boolean]>([
    ['no operation', {}, INTERNAL, true],
    ['chat', { 'gen_ai.operation.name': 'chat' }, CLIENT, true],
    ['text_completion', { 'gen_ai.operation.name': 'text_completion' }, CLIENT, true],
    ['generate_content', { 'gen_ai.operation.name': 'generate_content' }, CLIENT, true],
    ['embeddings', { 'gen_ai.operation.name': 'embeddings' }, CLIENT, true],
    ['OpenLLMetry completion', { 'llm.request.type': 'completion' }, CLIENT, true],
    ['OpenInference LLM', { 'openinference.span.kind': 'LLM' }, INTERNAL, true],
    ['OpenInference EMBEDDING', { 'openinference.span.kind': 'EMBEDDING' }, INTERNAL, true],
    ['a remote invoke_agent (CLIENT)', { 'gen_ai.operation.name': 'invoke_agent' }, CLIENT, true],
    ['an in-process invoke_agent', { 'gen_ai.operation.name': 'invoke_agent' }, INTERNAL, false],
    ['invoke_workflow', { 'gen_ai.operation.name': 'invoke_workflow' }, INTERNAL, false],
    ['execute_tool', { 'gen_ai.operation.name': 'execute_tool' }, INTERNAL, false],
    ['OpenInference AGENT', { 'openinference.span.kind': 'AGENT' }, INTERNAL, false],
    ['OpenInference CHAIN', { 'openinference.span.kind': 'CHAIN' }, INTERNAL, false],
    ['an unknown operation', { 'gen_ai.operation.name': 'toString' }, CLIENT, false],
  ])('%s → counted: %s', (_name, operation, kind, counted) => {
    const { spanEvents } = eventsOf([{ spanId: '00f067aa0ba902b7', kind, attributes: { ...operation, 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 5 } }]);
    expect(spanEvents.length).toBe(counted ? 1 : 0);
  });

  it('ignores spans without usage, even with a model', () => {
    expect(eventsOf([{ spanId: '00f067aa0ba902b7', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm' } }]).spanEvents).toEqual([]);
  });
});

describe('agent_id', () => {
  const chat = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 5 };
  const tree = (chatAttributes: Record<string, string | number>): SpanSpec[] => [
    { spanId: '0000000000000001', kind: 1, name: 'invoke_agent orchestrator', attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'orchestrator' } },
    { spanId: '0000000000000002', parentSpanId: '0000000000000001', kind: 1, name: 'invoke_agent researcher', attributes: { 'gen_ai.operation.name': 'invoke_agent' } },
    { spanId: '0000000000000003', parentSpanId: '0000000000000002', kind: 1, name: 'execute_tool search', attributes: { 'gen_ai.operation.name': 'execute_tool' } },
    { spanId: '0000000000000004', parentSpanId: '0000000000000003', attributes: chatAttributes },
  ];
  const agentOf = (spans: SpanSpec[], options?: Options) => eventsOf(spans, options).valid.map((v) => v.event.agent_id);

  it('is the span\'s own agent name first', () => {
    expect(agentOf(tree({ ...chat, 'gen_ai.agent.name': 'own' }))).toEqual(['own']);
  });
  it('else the nearest invoke_agent ancestor in the request (its attribute, else its span name)', () => {
    expect(agentOf(tree(chat))).toEqual(['researcher']);
  });
  it('else the resource service.name, else unknown_service', () => {
    expect(agentOf([{ spanId: '0000000000000004', attributes: chat }], { resource: { 'service.name': 'billing' } })).toEqual(['billing']);
    expect(agentOf([{ spanId: '0000000000000004', attributes: chat }], { resource: {} })).toEqual(['unknown_service']);
  });
});

describe('input counts cached tokens: the corrections', () => {
  const anthropic = { 'gen_ai.operation.name': 'chat', 'gen_ai.system': 'anthropic', 'gen_ai.request.model': 'claude-sonnet-4-5' };
  const counts = { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.cache_read_input_tokens': 30, 'gen_ai.usage.cache_creation_input_tokens': 10 };
  it.each<[string, Options, Record<string, number>, number]>([
    ['inclusive input is kept', undefined, counts, 100],
    ['cache read + write above input: input was exclusive', undefined, { ...counts, 'gen_ai.usage.input_tokens': 20 }, 60],
    ['OpenLLMetry JS Anthropic instrumentation', { scope: { name: '@traceloop/instrumentation-anthropic', version: '0.27.0' } }, counts, 140],
    ['OpenInference JS Anthropic before 0.2', { scope: { name: '@arizeai/openinference-instrumentation-anthropic', version: '0.1.22' } }, counts, 140],
    ['OpenInference JS Anthropic 0.2 and later', { scope: { name: '@arizeai/openinference-instrumentation-anthropic', version: '0.2.8' } }, counts, 100],
  ])('%s', (_name, options, usage, input) => {
    expect(eventOf({ ...anthropic, ...usage }, options)).toMatchObject({ input_tokens: input, cache_read_tokens: 30, cache_write_tokens: 10 });
  });
});

describe('project, task, run and attributes', () => {
  const chat = { 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 5 };
  it('come from the span, else from the resource', () => {
    const resource = { 'service.name': 's', 'tokentally.project': 'atlas', 'tokentally.task': 'nightly', 'tokentally.run_id': 'run-1', 'tokentally.tag.team': 'search' };
    expect(eventOf({ ...chat, 'tokentally.task': 'triage', 'tokentally.step_id': 'step-2' }, { resource })).toMatchObject({
      project: 'atlas', task_label: 'triage', run_id: 'run-1', step_id: 'step-2',
    });
  });
  it('keeps a bounded set of attributes', () => {
    const event = eventOf({ ...chat, 'gen_ai.response.id': 'resp-1', 'server.address': 'api.openai.com', 'tokentally.tag.customer': 'x'.repeat(5000), 'http.url': 'dropped' });
    expect(event.attributes).toEqual({
      'span.name': 'chat', 'otel.scope.name': 'test-scope', 'gen_ai.request.model': 'm', 'gen_ai.response.id': 'resp-1', 'server.address': 'api.openai.com', customer: 'x'.repeat(1024),
    });
  });
  it('maps status code 2 to error', () => {
    const { valid } = eventsOf([{ spanId: '00f067aa0ba902b7', status: 2, attributes: chat }]);
    expect(valid[0]!.event.status).toBe('error');
  });
});
