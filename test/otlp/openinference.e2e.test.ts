import { AnthropicInstrumentation } from '@arizeai/openinference-instrumentation-anthropic';
import { LangChainInstrumentation } from '@arizeai/openinference-instrumentation-langchain';
import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import { ChatAnthropic } from '@langchain/anthropic';
import * as callbackManager from '@langchain/core/callbacks/manager';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import type { TracerProvider } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANTHROPIC_COUNTS, OPENAI_COUNTS } from '../support/fake-models.js';
import { EXPORT_MODES, eventsOf, startTracing, useSdkTestBed, type ExportMode } from '../support/sdk-tracing.js';

/**
 * OpenInference: its LLM spans count, its CHAIN spans don't, and a provider instrumentor installed
 * next to the LangChain one, which makes a second LLM span of the same call in a trace of its own,
 * does not count it twice.
 */

const bed = useSdkTestBed();

/** Runs one case under a fresh project, with the instrumentations sending to it, and returns its events. */
async function traced(instrumentations: { setTracerProvider(provider: TracerProvider): void }[], mode: ExportMode, run: () => Promise<unknown>) {
  const tracing = startTracing(bed.svc.collectorUrl, mode);
  for (const instrumentation of instrumentations) instrumentation.setTracerProvider(tracing.provider);
  const calls = bed.fake.calls();
  await run();
  expect(bed.fake.calls()).toBe(calls + 1);
  await tracing.flush();
  await tracing.provider.shutdown();
  return eventsOf(bed.svc, tracing.project);
}

describe('openai + OpenInference', () => {
  let instrumentation: OpenAIInstrumentation;
  beforeAll(() => {
    instrumentation = new OpenAIInstrumentation();
    instrumentation.manuallyInstrument(OpenAI);
  });

  it.each(EXPORT_MODES)('a chat completion is one event with its cached and reasoning tokens (exported %s)', async (mode) => {
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${bed.fake.url}/v1` });
    const events = await traced([instrumentation], mode, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: '2 + 2?' }] }));
    expect(events).toEqual([expect.objectContaining({ ...OPENAI_COUNTS, model: 'gpt-4o-mini' })]);
    expect(events[0]!.attributes['otel.scope.name']).toBe('@arizeai/openinference-instrumentation-openai');
  });
});

describe('LangChain JS (@langchain/anthropic) + OpenInference', () => {
  let langchain: LangChainInstrumentation;
  let provider: AnthropicInstrumentation;
  beforeAll(async () => {
    langchain = new LangChainInstrumentation();
    langchain.manuallyInstrument(callbackManager);
    // @langchain/anthropic brings its own @anthropic-ai/sdk (0.122, which does not trace itself): the
    // provider instrumentor patches that copy, the ES module the app's import of LangChain loads.
    const sdk = createRequire(import.meta.resolve('@langchain/anthropic')).resolve('@anthropic-ai/sdk').replace(/index\.js$/, 'index.mjs');
    provider = new AnthropicInstrumentation();
    provider.manuallyInstrument(await import(sdk));
  });

  const model = () => new ChatAnthropic({ model: 'claude-haiku-4-5', apiKey: 'sk-ant-test', anthropicApiUrl: bed.fake.url, maxRetries: 0 });
  const chain = () => ChatPromptTemplate.fromTemplate('What is {a} + {b}?').pipe(model());

  describe.each(EXPORT_MODES)('exported %s', (mode) => {
    it('a chain: the LLM span counts, the CHAIN spans around it do not', async () => {
      const events = await traced([langchain], mode, () => chain().invoke({ a: 2, b: 2 }));
      // OpenInference's LangChain spans carry no cache writes: LangChain's usage has none to give.
      expect(events).toEqual([expect.objectContaining({ ...ANTHROPIC_COUNTS, cache_write_tokens: 0, input_tokens: 1320, model: 'claude-haiku-4-5' })]);
      expect(events[0]!.attributes['otel.scope.name']).toBe('@arizeai/openinference-instrumentation-langchain');
    });

    it.each([
      ['invoke', () => chain().invoke({ a: 2, b: 2 })],
      ['stream', async () => { for await (const _ of await chain().stream({ a: 2, b: 2 })) void _; }],
    ])('%s with the Anthropic instrumentor installed too: its LLM span and LangChain\'s are one event', async (_how, run) => {
      const events = await traced([langchain, provider], mode, run);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ input_tokens: ANTHROPIC_COUNTS.input_tokens, cache_read_tokens: ANTHROPIC_COUNTS.cache_read_tokens, model: 'claude-haiku-4-5' });
      // Sent together, the span with more counts (the provider's, with the cache writes) is the one kept.
      if (mode === 'batched') expect(events[0]).toMatchObject(ANTHROPIC_COUNTS);
    });
  });
});
