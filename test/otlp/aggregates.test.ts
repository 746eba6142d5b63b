import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countLimits } from '../../collector/decode-limits.js';
import { decodeExport } from '../../collector/otlp/decode.js';
import { MAX_REMEMBERED_SPAN_IDS, MAX_REMEMBERED_TRACES, SpanMemory } from '../../collector/otlp/span-memory.js';
import { spansToEvents } from '../../collector/otlp/spans.js';
import { otlpRequest, type SpanSpec } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * Aggregates and copies: a span whose descendants carry usage is not counted, whether they come in
 * the same request or an earlier one; and two spans of one call are one event. Spans of emitters
 * without a JS package here are written as OTLP/JSON the way their sources build them, and sent as
 * their exporters would.
 */

const LIMITS = countLimits({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 });
type Options = Parameters<typeof otlpRequest>[1];

/** One request through the span mapper, with a memory that lasts across calls (like one collector). */
function mapper(keyProjects: readonly string[] | null = null, memory = new SpanMemory()) {
  return (spans: SpanSpec[], options?: Options) =>
    spansToEvents(decodeExport('traces', Buffer.from(JSON.stringify(otlpRequest(spans, options))), 'json', LIMITS), memory, keyProjects)
      .map((e) => e.input);
}

/** Nanoseconds after 2026-11-03T10:00:00Z, as OTLP/JSON strings. */
const at = (ms: number) => String(1793700000000000000n + BigInt(ms) * 1_000_000n);
const usage = (input: number, output: number) => ({ 'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output });
const chat = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' };

describe('an aggregate is not counted', () => {
  const root: SpanSpec = { spanId: 'a000000000000001', name: 'workflow', attributes: usage(300, 30), start: at(0), end: at(900) };
  const middle: SpanSpec = { spanId: 'a000000000000002', parentSpanId: 'a000000000000001', name: 'step', attributes: {}, start: at(10), end: at(800) };
  const leaf: SpanSpec = { spanId: 'a000000000000003', parentSpanId: 'a000000000000002', attributes: { ...chat, ...usage(300, 30) }, start: at(20), end: at(700) };

  it('when a span with usage lies beneath it in the same request, even two levels down', () => {
    expect(mapper()([root, middle, leaf]).map((e) => e.id)).toEqual([expect.stringMatching(/a000000000000003$/)]);
  });

  it('when its descendants came in earlier requests, through a span without usage in between', () => {
    const map = mapper();
    expect(map([leaf])).toHaveLength(1);
    expect(map([middle])).toEqual([]);
    expect(map([root])).toEqual([]);
  });

  it('and a retried request gets the same answer: the child counts again (the store keeps it once), the parent does not', () => {
    const map = mapper();
    expect(map([leaf])).toHaveLength(1);
    expect(map([middle, root])).toEqual([]);
    expect(map([leaf])).toHaveLength(1);
    expect(map([middle, root])).toEqual([]);
  });

  it('only within the same key scope and project: another tenant\'s span with the same ids is counted', () => {
    const memory = new SpanMemory();
    expect(mapper(['a'], memory)([middle, leaf])).toHaveLength(1);
    expect(mapper(['b'], memory)([root])).toHaveLength(1);
    expect(mapper(['a'], memory)([root], { resource: { 'service.name': 'svc', 'tokentally.project': 'other' } })).toHaveLength(1);
    expect(mapper(['a'], memory)([root])).toEqual([]);
  });

  it('is remembered for the last traces only: a bounded memory, whose oldest trace is forgotten first', () => {
    const memory = new SpanMemory();
    const map = mapper(null, memory);
    expect(map([middle, leaf])).toHaveLength(1);
    expect(map([root])).toEqual([]);
    for (let i = 0; i < MAX_REMEMBERED_TRACES; i++) memory.rememberUsageBelow(i.toString(16).padStart(32, '0'), 'b000000000000001', '*');
    expect(map([root])).toHaveLength(1);
  });
});

describe('the memory is bounded', () => {
  it('by span ids in all traces together, not only by traces', () => {
    const memory = new SpanMemory();
    const trace = (n: number) => n.toString(16).padStart(32, '0');
    const spanId = (n: number) => n.toString(16).padStart(16, '0');
    memory.rememberUsageBelow(trace(0), spanId(1), '*');
    for (let t = 1; t * 1_000 <= MAX_REMEMBERED_SPAN_IDS + 1_000; t++) {
      for (let i = 0; i < 1_000; i++) memory.rememberUsageBelow(trace(t), spanId(i), '*');
    }
    expect(memory.usageBelow(trace(0), spanId(1))).toBeUndefined();
    expect(memory.usageBelow(trace(1), spanId(0))).toBeUndefined();
    expect(memory.usageBelow(trace(2), spanId(0))).toEqual(['*']);
  });

  it('forgets the least recently written trace first, over many evictions and rebuilds of its table', () => {
    const memory = new SpanMemory();
    const trace = (n: number) => n.toString(16).padStart(32, '0');
    const spanId = (n: number) => n.toString(16).padStart(16, '0');
    // What it should remember, oldest first: a trace written again (a new span id in it) is the newest.
    const expected = new Set<number>();
    const spansOf = new Map<number, number>();
    const write = (t: number) => {
      const spans = (spansOf.get(t) ?? 0) + 1;
      spansOf.set(t, spans);
      memory.rememberUsageBelow(trace(t), spanId(spans), '*');
      expected.delete(t);
      expected.add(t);
      if (expected.size > MAX_REMEMBERED_TRACES) expected.delete(expected.values().next().value!);
    };
    let seed = 1;
    let t = 0;
    for (; t < 3 * MAX_REMEMBERED_TRACES; t++) {
      write(t);
      seed = (seed * 48271) % 2147483647;
      // Every third write also writes again one of the last 2 × MAX_REMEMBERED_TRACES traces, remembered or not.
      if (t % 3 === 0) write(Math.max(0, t - (seed % (2 * MAX_REMEMBERED_TRACES))));
    }
    // Then only traces it remembers are written again, more than it holds, with nothing forgotten meanwhile...
    const held = [...expected];
    for (let i = 0; i < 2.5 * MAX_REMEMBERED_TRACES; i++) write(held[(i * 7919) % held.length]!);
    // ...and new ones push out the oldest again.
    for (const end = t + 2 * MAX_REMEMBERED_TRACES; t < end; t++) write(t);
    const remembered = [...spansOf.keys()].filter((t) => memory.usageBelow(trace(t), spanId(spansOf.get(t)!)) !== undefined);
    expect(remembered.sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
  });

  it('and keeps texts a client sends no longer than a valid event has them', () => {
    const map = mapper();
    const long = 'p'.repeat(100_000);
    const span: SpanSpec = { spanId: 'f000000000000001', attributes: { ...chat, ...usage(1, 1), 'gen_ai.response.id': long, 'tokentally.project': long } };
    expect(map([span])).toHaveLength(1);
    // Same first 256 characters: remembered as the same response id, so another span with it is a copy.
    expect(map([{ ...span, spanId: 'f000000000000002', attributes: { ...span.attributes, 'gen_ai.response.id': `${long}x` } }])).toEqual([]);
  });
});

describe('two spans of one model call are one event', () => {
  const sdk: SpanSpec = { traceId: '11111111111111111111111111111111', spanId: 'c000000000000001', attributes: { ...chat, ...usage(1320, 56), 'gen_ai.response.id': 'msg_1' }, start: at(0), end: at(500) };
  const copy: SpanSpec = { traceId: '22222222222222222222222222222222', spanId: 'c000000000000002', attributes: { 'openinference.span.kind': 'LLM', 'llm.model_name': 'gpt-4o', 'llm.token_count.prompt': 1320, 'llm.token_count.completion': 56 }, start: at(5), end: at(505) };
  const sdkScope = { scope: { name: 'com.anthropic.sdk.typescript' } };
  const copyScope = { scope: { name: '@arizeai/openinference-instrumentation-anthropic' } };

  it('the same response id on two spans, in two traces', () => {
    const map = mapper();
    expect(map([sdk], sdkScope)).toHaveLength(1);
    expect(map([{ ...sdk, traceId: '33333333333333333333333333333333', spanId: 'c000000000000009' }], copyScope)).toEqual([]);
  });

  it('an empty response id names no call: spans of other calls that send one are each counted', () => {
    const map = mapper();
    const blank = (n: number): SpanSpec => ({ ...sdk, traceId: `${n}`.repeat(32), attributes: { ...sdk.attributes, ...usage(n, 1), 'gen_ai.response.id': '' } });
    expect([...map([blank(1)], sdkScope), ...map([blank(2)], sdkScope), ...map([blank(3)], sdkScope)]).toHaveLength(3);
  });

  it('a copy without the response id: same process, another instrumentation, same input and model, overlapping in time', () => {
    const map = mapper();
    expect(map([copy], copyScope)).toHaveLength(1);
    expect(map([sdk], sdkScope)).toEqual([]);
    // A retry of either gets the answer it got before.
    expect(map([copy], copyScope)).toHaveLength(1);
    expect(map([sdk], sdkScope)).toEqual([]);
  });

  it.each<[string, SpanSpec, Options]>([
    ['the same instrumentation', copy, sdkScope],
    ['another process', copy, { ...copyScope, resource: { 'service.name': 'svc', 'service.instance.id': 'replica-2' } }],
    ['another input count', { ...copy, attributes: { ...copy.attributes, 'llm.token_count.prompt': 1321 } }, copyScope],
    ['another model', { ...copy, attributes: { ...copy.attributes, 'llm.model_name': 'gpt-4o-mini' } }, copyScope],
    ['a time that does not overlap', { ...copy, start: at(600), end: at(900) }, copyScope],
    ['another response id', { ...copy, attributes: { ...copy.attributes, 'gen_ai.response.id': 'msg_2' } }, copyScope],
  ])('but not from %s', (_case, other, options) => {
    const map = mapper();
    expect(map([sdk], sdkScope)).toHaveLength(1);
    expect(map([other], options)).toHaveLength(1);
  });
});

/**
 * Pydantic AI v1 (before 1.59; pydantic_ai/agent/__init__.py and models/instrumented.py at v1.58.0):
 * the `agent run` span has no operation name and ends with the run's usage summed under
 * `gen_ai.usage.*`; each model request is a `chat {model}` CLIENT span beneath it. Scope `pydantic-ai`.
 */
const pydantic = {
  run: {
    spanId: 'd000000000000001', name: 'agent run', kind: 1, start: at(0), end: at(3000),
    attributes: { model_name: 'gpt-4o', agent_name: 'support', 'gen_ai.agent.name': 'support', 'logfire.msg': 'support run', ...usage(300, 30), 'pydantic_ai.all_messages': '[]' },
  },
  chat1: {
    spanId: 'd000000000000002', parentSpanId: 'd000000000000001', name: 'chat gpt-4o', kind: 3, start: at(10), end: at(1000),
    attributes: {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o', 'server.address': 'api.openai.com',
      ...usage(100, 10), 'gen_ai.response.model': 'gpt-4o-2024-08-06', 'operation.cost': 0.00035, 'gen_ai.response.id': 'chatcmpl-p1',
    },
  },
  tools: { spanId: 'd000000000000003', parentSpanId: 'd000000000000001', name: 'running tools', kind: 1, start: at(1010), end: at(1100), attributes: { 'logfire.msg': 'running 1 tool' } },
  tool: { spanId: 'd000000000000004', parentSpanId: 'd000000000000003', name: 'running tool', kind: 1, start: at(1020), end: at(1090), attributes: { 'gen_ai.tool.name': 'add', 'logfire.msg': 'running tool: add' } },
  chat2: {
    spanId: 'd000000000000005', parentSpanId: 'd000000000000001', name: 'chat gpt-4o', kind: 3, start: at(1110), end: at(2900),
    attributes: {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o', 'server.address': 'api.openai.com',
      ...usage(200, 20), 'gen_ai.response.model': 'gpt-4o-2024-08-06', 'operation.cost': 0.0007, 'gen_ai.response.id': 'chatcmpl-p2',
    },
  },
} satisfies Record<string, SpanSpec>;

/**
 * The Vercel AI SDK v7 with `@ai-sdk/otel` (open-telemetry.ts at 1.0.185): an `invoke_agent {model}`
 * root (INTERNAL, the call's totals), `step {n}` spans, and a `chat {model}` CLIENT span per model
 * call. Scope `gen_ai`. ai 7 needs Node 22, so these are written from its source.
 */
const v7Chat = (n: number, input: number, output: number): SpanSpec => ({
  spanId: `e00000000000001${n}`, parentSpanId: `e00000000000000${n}`, name: 'chat claude-haiku-4-5', kind: 3, start: at(n * 1000 + 10), end: at(n * 1000 + 900),
  attributes: {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-haiku-4-5', 'gen_ai.response.model': 'claude-haiku-4-5',
    'gen_ai.response.id': `msg_v7_${n}`, ...usage(input, output), 'gen_ai.usage.cache_read.input_tokens': 1000, 'gen_ai.usage.cache_creation.input_tokens': 300,
  },
});
const v7 = [
  { spanId: 'e000000000000000', name: 'invoke_agent claude-haiku-4-5', kind: 1, start: at(0), end: at(3000),
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-haiku-4-5', ...usage(2640, 112), 'gen_ai.usage.cache_read.input_tokens': 2000, 'gen_ai.usage.cache_creation.input_tokens': 600 } },
  { spanId: 'e000000000000001', parentSpanId: 'e000000000000000', name: 'step 1', kind: 1, start: at(1000), end: at(1950), attributes: { 'gen_ai.operation.name': 'agent_step' } },
  v7Chat(1, 1320, 56),
  { spanId: 'e000000000000002', parentSpanId: 'e000000000000000', name: 'step 2', kind: 1, start: at(2000), end: at(2950), attributes: { 'gen_ai.operation.name': 'agent_step' } },
  v7Chat(2, 1320, 56),
] satisfies SpanSpec[];

describe('over HTTP, as the emitters\' exporters send them', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc?.close());

  let traces = 0;
  /** Sends each list as one OTLP/JSON request, in a trace and project of their own; returns the project's totals. */
  async function send(project: string, scope: { name: string; version: string }, requests: SpanSpec[][]) {
    const traceId = (++traces).toString(16).padStart(32, 'f');
    for (const spans of requests) {
      const inTrace = spans.map((span) => ({ ...span, traceId }));
      const res = await svc.ingest('/v1/traces', otlpRequest(inTrace, { scope, resource: { 'service.name': 'agent-app', 'tokentally.project': project } }));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    }
    const { body } = await svc.report(`/v1/reports/usage?project=${project}&from=2026-11-01&to=2026-12-01`);
    return body.totals;
  }

  const PYDANTIC_SCOPE = { name: 'pydantic-ai', version: '1.58.0' };
  it.each<[string, string, SpanSpec[][]]>([
    ['in one request', 'pydantic-one', [[pydantic.chat1, pydantic.tool, pydantic.tools, pydantic.chat2, pydantic.run]]],
    ['the agent run in a later request than its chat spans', 'pydantic-later', [[pydantic.chat1, pydantic.tool, pydantic.tools, pydantic.chat2], [pydantic.run]]],
    ['one request per span, in the order they end', 'pydantic-each', [[pydantic.chat1], [pydantic.tool], [pydantic.tools], [pydantic.chat2], [pydantic.run]]],
  ])('Pydantic AI v1: the chat spans count, the agent run (their sum under gen_ai.usage.*) does not — %s', async (_how, project, requests) => {
    expect(await send(project, PYDANTIC_SCOPE, requests)).toMatchObject({ events: 2, input_tokens: 300, output_tokens: 30 });
  });

  it.each<[string, string, SpanSpec[][]]>([
    ['in one request', 'ai-v7-one', [v7]],
    ['one request per span', 'ai-v7-each', v7.map((s) => [s])],
  ])('Vercel AI SDK v7 (@ai-sdk/otel): the chat spans count, invoke_agent and the steps do not — %s', async (_how, project, requests) => {
    expect(await send(project, { name: 'gen_ai', version: '' }, requests)).toMatchObject({
      events: 2, input_tokens: 2640, output_tokens: 112, cache_read_tokens: 2000, cache_write_tokens: 600,
    });
  });
});

describe('the span memory keeps each span\'s verdict', () => {
  const callSpan = (key: string, scope: string, inputTokens: number, responseId?: string) => ({
    key, partition: '*', scope, resource: 'r', models: ['gpt-4o'], responseId, inputTokens: String(inputTokens), startNanos: 0n, endNanos: 10n,
  });
  const traceId = (n: number) => n.toString(16).padStart(32, '0');

  it('for many calls of one key (same input count), and many spans of one call, as long as the call keeps them', () => {
    const memory = new SpanMemory();
    // Eight calls of one key, each with a copy from another instrumentation: the first span of each counts.
    const calls = Array.from({ length: 8 }, (_, n) => [`${traceId(n)}a00000000000000${n}`, `${traceId(n + 100)}b00000000000000${n}`] as const);
    for (const [first, copy] of calls) {
      expect(memory.call(callSpan(first, 'sdk', 1320))).toBe(true);
      expect(memory.call(callSpan(copy, 'copy', 1320))).toBe(false);
    }
    // Retried, in another order, concatenated as the mapper makes keys: the same verdicts.
    for (const [first, copy] of calls.reverse()) {
      expect(memory.call(callSpan(copy.slice(0, 32) + copy.slice(32), 'copy', 1320))).toBe(false);
      expect(memory.call(callSpan(first.slice(0, 32) + first.slice(32), 'sdk', 1320))).toBe(true);
    }
    // One call by its response id, with a span of each of nine instrumentations: it keeps eight, the oldest goes.
    const spans = Array.from({ length: 9 }, (_, n) => `${traceId(200 + n)}c00000000000000${n}`);
    spans.forEach((key, n) => expect(memory.call(callSpan(key, `scope-${n}`, 7, 'msg_1'))).toBe(n === 0));
    spans.slice(1).forEach((key, n) => expect(memory.call(callSpan(key, `scope-${n + 1}`, 7, 'msg_1'))).toBe(false));
    // The first, forgotten by its call, joins it again as another span of it.
    expect(memory.call(callSpan(spans[0]!, 'scope-0', 7, 'msg_1'))).toBe(false);
  });
});
