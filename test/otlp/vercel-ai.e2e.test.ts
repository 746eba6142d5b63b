import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import * as ai6 from 'ai';
import * as ai5 from 'ai-v5';
import { createAnthropic as createAnthropic2 } from 'ai-sdk-anthropic-v2';
import { createOpenAI as createOpenAI2 } from 'ai-sdk-openai-v2';
import { describe, expect, it } from 'vitest';
import { ANTHROPIC_COUNTS, OPENAI_COUNTS } from '../support/fake-models.js';
import { EXPORT_MODES, eventsOf, startTracing, times, totalsOf, useSdkTestBed } from '../support/sdk-tracing.js';

/**
 * The Vercel AI SDK with `experimental_telemetry: { isEnabled: true }`, v6 and v5, with the OpenAI
 * (chat completions) and Anthropic providers, against the fake model server. Its model-call spans
 * (`ai.generateText.doGenerate`, `ai.streamText.doStream`) count, with the cache and reasoning counts
 * that exist only under `ai.usage.*`; the roots (`ai.generateText`, `ai.streamText`) do not.
 */

const bed = useSdkTestBed();

type Fn = 'generateText' | 'streamText';

/** One call through the SDK's own function, as an app makes it. */
async function call(sdk: typeof ai6 | typeof ai5, fn: Fn, model: Parameters<typeof ai6.generateText>[0]['model']) {
  const options = { model, prompt: '2 + 2?', experimental_telemetry: { isEnabled: true } } as const;
  if (fn === 'generateText') return (await (sdk.generateText as typeof ai6.generateText)(options)).usage;
  const result = (sdk.streamText as typeof ai6.streamText)(options);
  for await (const _ of result.textStream) void _;
  return result.usage;
}

const LINES = [
  {
    sdk: 'ai 6', module: ai6,
    openai: () => createOpenAI({ apiKey: 'sk-test', baseURL: `${bed.fake.url}/v1` }).chat('gpt-4o-mini'),
    anthropic: () => createAnthropic({ apiKey: 'sk-ant-test', baseURL: `${bed.fake.url}/v1` })('claude-haiku-4-5'),
    expected: { 'generateText openai': OPENAI_COUNTS, 'streamText openai': OPENAI_COUNTS, 'generateText anthropic': ANTHROPIC_COUNTS, 'streamText anthropic': ANTHROPIC_COUNTS },
  },
  {
    sdk: 'ai 5', module: ai5,
    openai: () => createOpenAI2({ apiKey: 'sk-test', baseURL: `${bed.fake.url}/v1` }).chat('gpt-4o-mini'),
    anthropic: () => createAnthropic2({ apiKey: 'sk-ant-test', baseURL: `${bed.fake.url}/v1` })('claude-haiku-4-5'),
    // v5's generateText writes only input and output on its spans: the cache and reasoning counts are on none.
    expected: {
      'generateText openai': { ...OPENAI_COUNTS, cache_read_tokens: 0, reasoning_tokens: 0 },
      'streamText openai': OPENAI_COUNTS, 'generateText anthropic': ANTHROPIC_COUNTS, 'streamText anthropic': ANTHROPIC_COUNTS,
    },
  },
] as const;

describe.each(LINES)('the Vercel AI SDK, $sdk', (line) => {
  describe.each(EXPORT_MODES)('exported %s', (mode) => {
    it.each<[Fn, 'openai' | 'anthropic']>([
      ['generateText', 'openai'], ['streamText', 'openai'], ['generateText', 'anthropic'], ['streamText', 'anthropic'],
    ])('%s with %s: one event, from the model-call span, with cache and reasoning', async (fn, provider) => {
      const tracing = startTracing(bed.svc.collectorUrl, mode);
      const calls = bed.fake.calls();
      await call(line.module, fn, line[provider]());
      await tracing.flush();
      expect(bed.fake.calls()).toBe(calls + 1);

      const events = await eventsOf(bed.svc, tracing.project);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject(line.expected[`${fn} ${provider}`]);
      expect(events[0]!.attributes['span.name']).toBe(fn === 'generateText' ? 'ai.generateText.doGenerate' : 'ai.streamText.doStream');
      await tracing.provider.shutdown();
    });
  });

  it('a tool-call turn: two model calls under one root are two events; the root, their sum, is none', async () => {
    const tracing = startTracing(bed.svc.collectorUrl, 'each span');
    const sdk = line.module as typeof ai6;
    const calls = bed.fake.calls();
    const result = await sdk.generateText({
      model: line.openai(), prompt: 'What is 2 + 2? Use the tool.', experimental_telemetry: { isEnabled: true },
      tools: {
        add: sdk.tool({
          description: 'adds two numbers',
          inputSchema: sdk.jsonSchema<{ a: number; b: number }>({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] }),
          execute: async ({ a, b }) => a + b,
        }),
      },
      stopWhen: sdk.stepCountIs(3),
    });
    await tracing.flush();
    expect(bed.fake.calls()).toBe(calls + 2);
    expect(result.steps).toHaveLength(2);
    expect(await totalsOf(bed.svc, tracing.project)).toMatchObject(times(2, line.expected['generateText openai']));
    await tracing.provider.shutdown();
  });
});
