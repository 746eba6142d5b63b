import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenAIInstrumentation } from '@traceloop/instrumentation-openai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exporterFor } from '../support/otlp.js';
import { startTestService, type TestService } from '../support/service.js';

const USAGE = { prompt_tokens: 1234, completion_tokens: 56, total_tokens: 1290 };

/** A small OpenAI-compatible server: every chat completion answers with the usage above. */
function startFakeOpenAI(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: 'chatcmpl-fake-1', object: 'chat.completion', created: 1793700000, model: 'gpt-4o-mini-2024-07-18',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Four.' }, finish_reason: 'stop', logprobs: null }],
        usage: USAGE,
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let svc: TestService;
let fake: Server;
beforeAll(async () => {
  [svc, fake] = await Promise.all([startTestService(), startFakeOpenAI()]);
});
afterAll(async () => {
  await svc.close();
  await new Promise((r) => fake.close(r));
});

describe('the openai SDK, instrumented by OpenLLMetry, exporting to the collector', () => {
  it('puts the usage the model server returned into the report', async () => {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'support-bot', 'tokentally.project': 'helpdesk' }),
      spanProcessors: [new SimpleSpanProcessor(exporterFor(svc.collectorUrl, 'protobuf', { gzip: true }))],
    });
    const instrumentation = new OpenAIInstrumentation({ traceContent: false });
    instrumentation.setTracerProvider(provider);
    instrumentation.manuallyInstrument(OpenAI);

    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1` });
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: '2 + 2?' }] });
    expect(completion.usage).toMatchObject(USAGE);
    await provider.forceFlush();

    const { body } = await svc.report('/v1/reports/usage?group_by=project,agent,model,provider,operation');
    expect(body.totals).toMatchObject({ events: 1, input_tokens: 1234, output_tokens: 56, total_tokens: 1290 });
    expect(body.groups).toEqual([expect.objectContaining({
      key: { project: 'helpdesk', agent: 'support-bot', model: 'gpt-4o-mini-2024-07-18', provider: 'openai', operation: 'chat' },
      events: 1,
    })]);
    await provider.shutdown();
  });
});
