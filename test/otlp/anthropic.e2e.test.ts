import * as anthropic1 from '@anthropic-ai/sdk';
import { AnthropicInstrumentation as OpenInferenceAnthropic } from '@arizeai/openinference-instrumentation-anthropic';
import type { TracerProvider } from '@opentelemetry/api';
import { AnthropicInstrumentation as OpenLLMetryAnthropic } from '@traceloop/instrumentation-anthropic';
import * as anthropic0 from 'anthropic-sdk-0x';
import { describe, expect, it } from 'vitest';
import { ANTHROPIC_COUNTS } from '../support/fake-models.js';
import { EXPORT_MODES, eventsOf, startTracing, times, totalsOf, useSdkTestBed, type ExportMode } from '../support/sdk-tracing.js';

/**
 * The Anthropic TypeScript SDK traces itself (from 0.135 on, scope `com.anthropic.sdk.typescript`,
 * on by default through the global tracer provider). An instrumentation on top makes a second span of
 * every call: nested around the SDK's span for `messages.create`, in a trace of its own for
 * `messages.stream()`, where only the SDK's span names the response id. Either way: one event per call.
 *
 * OpenInference runs on SDK 1.x; OpenLLMetry 0.27 patches `Anthropic.Completions`, which 1.x no
 * longer has, so it runs on 0.137 (the last 0.x).
 */

const bed = useSdkTestBed();

type Sdk = typeof anthropic1 | typeof anthropic0;
type Call = 'messages.create' | 'messages.create stream' | 'messages.stream()';
const CALLS: Call[] = ['messages.create', 'messages.create stream', 'messages.stream()'];
const MODEL = 'claude-haiku-4-5';
const PARAMS = { model: MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: '2 + 2?' }] };

/** A client made as an app makes it: no telemetry option, so the SDK traces through the global provider. Both lines share this API. */
function client(sdk: Sdk): InstanceType<typeof anthropic1.default> {
  return new sdk.default({ apiKey: 'sk-ant-test', baseURL: bed.fake.url, maxRetries: 0 }) as InstanceType<typeof anthropic1.default>;
}

async function call(sdk: Sdk, how: Call): Promise<void> {
  const anthropic = client(sdk);
  if (how === 'messages.create') {
    await anthropic.messages.create(PARAMS);
  } else if (how === 'messages.create stream') {
    for await (const _ of await anthropic.messages.create({ ...PARAMS, stream: true })) void _;
  } else {
    await anthropic.messages.stream(PARAMS).finalMessage();
  }
}

interface Setup {
  name: string;
  sdk: Sdk;
  /** The instrumentations on top of the SDK's own spans, each patched once for the whole file. */
  instrumentations: () => { setTracerProvider(provider: TracerProvider): void }[];
}

const openInference = (sdk: Sdk) => {
  const instrumentation = new OpenInferenceAnthropic();
  instrumentation.manuallyInstrument(sdk as unknown as Parameters<OpenInferenceAnthropic['manuallyInstrument']>[0]);
  return instrumentation;
};
const openLLMetry = (sdk: Sdk) => {
  const instrumentation = new OpenLLMetryAnthropic({ traceContent: false });
  instrumentation.manuallyInstrument(sdk as unknown as Parameters<OpenLLMetryAnthropic['manuallyInstrument']>[0]);
  return instrumentation;
};

function once<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}

const onSdk1 = once(() => [openInference(anthropic1)]);
const onSdk0 = once(() => [openLLMetry(anthropic0)]);
const bothOnSdk0 = once(() => [...onSdk0(), openInference(anthropic0)]);

/** Runs one call under a fresh project and returns that project's events. */
async function traced(setup: Setup, mode: ExportMode, run: () => Promise<unknown>) {
  const tracing = startTracing(bed.svc.collectorUrl, mode);
  for (const instrumentation of setup.instrumentations()) instrumentation.setTracerProvider(tracing.provider);
  await run();
  await tracing.flush();
  await tracing.provider.shutdown();
  return { project: tracing.project, events: await eventsOf(bed.svc, tracing.project) };
}

describe('the SDK alone traces itself', () => {
  it.each(EXPORT_MODES)('one event per call, from its own span (exported %s)', async (mode) => {
    const { events } = await traced({ name: 'sdk', sdk: anthropic1, instrumentations: () => [] }, mode, () => call(anthropic1, 'messages.create'));
    expect(events).toEqual([expect.objectContaining({ ...ANTHROPIC_COUNTS, model: MODEL })]);
    expect(events[0]!.attributes).toMatchObject({ 'otel.scope.name': 'com.anthropic.sdk.typescript', 'span.name': 'anthropic.messages.create' });
  });
});

describe.each<Setup>([
  { name: '@anthropic-ai/sdk 1.x + OpenInference', sdk: anthropic1, instrumentations: onSdk1 },
  { name: '@anthropic-ai/sdk 0.137 + OpenLLMetry', sdk: anthropic0, instrumentations: onSdk0 },
  { name: '@anthropic-ai/sdk 0.137 + OpenLLMetry + OpenInference', sdk: anthropic0, instrumentations: bothOnSdk0 },
])('$name', (setup) => {
  describe.each(EXPORT_MODES)('exported %s', (mode) => {
    it.each(CALLS)('%s: the SDK span and the instrumentation\'s are one event', async (how) => {
      const calls = bed.fake.calls();
      const { events } = await traced(setup, mode, () => call(setup.sdk, how));
      expect(bed.fake.calls()).toBe(calls + 1);
      expect(events).toEqual([expect.objectContaining({ ...ANTHROPIC_COUNTS, model: MODEL })]);
      // In one request the innermost span of a nest counts, and a span naming the response id is preferred.
      if (mode === 'batched') expect(events[0]!.attributes['otel.scope.name']).toBe('com.anthropic.sdk.typescript');
    });
  });

  it('two identical calls at once stay two events', async () => {
    const { project } = await traced(setup, 'each span', () => Promise.all([call(setup.sdk, 'messages.stream()'), call(setup.sdk, 'messages.stream()')]));
    expect(await totalsOf(bed.svc, project)).toMatchObject(times(2, ANTHROPIC_COUNTS));
  });
});
