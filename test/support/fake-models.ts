import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake model server on 127.0.0.1 that answers the OpenAI chat completions API and the Anthropic
 * messages API, plain or streamed (server-sent events, as the real APIs stream), always with the usage
 * below, so a test knows exactly what each call must add to the report. Response ids are unique per call.
 */

/** OpenAI: 1,234 prompt tokens of which 1,000 cached; 56 completion tokens of which 40 reasoning. */
export const OPENAI_USAGE = {
  prompt_tokens: 1234, completion_tokens: 56, total_tokens: 1290,
  prompt_tokens_details: { cached_tokens: 1000 }, completion_tokens_details: { reasoning_tokens: 40 },
};
/** The same call in tokentally's terms (input includes cache, output includes reasoning). */
export const OPENAI_COUNTS = { input_tokens: 1234, output_tokens: 56, cache_read_tokens: 1000, cache_write_tokens: 0, reasoning_tokens: 40 };

/** Anthropic: `input_tokens` leaves the cache out, so the call's whole input is 20 + 1,000 + 300. */
export const ANTHROPIC_USAGE = { input_tokens: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 300, output_tokens: 56 };
export const ANTHROPIC_COUNTS = { input_tokens: 1320, output_tokens: 56, cache_read_tokens: 1000, cache_write_tokens: 300, reasoning_tokens: 0 };

export interface FakeModels {
  /** `http://127.0.0.1:<port>`: append `/v1` for the SDKs that want it. */
  url: string;
  /** Model calls answered so far. */
  calls(): number;
  close(): Promise<void>;
}

export async function startFakeModels(): Promise<FakeModels> {
  let calls = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (req.method === 'POST' && req.url === '/v1/chat/completions') answerOpenAI(body as OpenAIRequest, ++calls, res);
      else if (req.method === 'POST' && req.url?.startsWith('/v1/messages')) answerAnthropic(body, ++calls, res);
      else notFound(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function notFound(req: IncomingMessage, res: ServerResponse) {
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no fake for ${req.method} ${req.url}` }));
}

function sse(res: ServerResponse, frames: string[]) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const frame of frames) res.write(frame);
  res.end();
}

interface OpenAIRequest {
  model: string;
  stream?: boolean;
  tools?: { function: { name: string } }[];
  messages: { role: string }[];
}

/** Offered a tool and not yet given its result, the model calls it (the first half of a tool-call turn). */
function answerOpenAI(body: OpenAIRequest, n: number, res: ServerResponse) {
  const head = { id: `chatcmpl-fake-${n}`, created: 1793700000, model: body.model, system_fingerprint: 'fp_fake' };
  if (!body.stream) {
    const tool = body.tools?.[0] && !body.messages.some((m) => m.role === 'tool') ? body.tools[0].function.name : undefined;
    const message = tool
      ? { role: 'assistant', content: null, tool_calls: [{ id: `call_${n}`, type: 'function', function: { name: tool, arguments: '{"a":2,"b":2}' } }] }
      : { role: 'assistant', content: 'Four.' };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      ...head, object: 'chat.completion', usage: OPENAI_USAGE,
      choices: [{ index: 0, message, finish_reason: tool ? 'tool_calls' : 'stop', logprobs: null }],
    }));
    return;
  }
  const chunk = (fields: object) => `data: ${JSON.stringify({ ...head, object: 'chat.completion.chunk', ...fields })}\n\n`;
  sse(res, [
    chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Four.' }, finish_reason: null }] }),
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
    chunk({ choices: [], usage: OPENAI_USAGE }),
    'data: [DONE]\n\n',
  ]);
}

function answerAnthropic(body: { model: string; stream?: boolean }, n: number, res: ServerResponse) {
  const message = {
    id: `msg_fake_${n}`, type: 'message', role: 'assistant', model: body.model,
    content: [{ type: 'text', text: 'Four.' }], stop_reason: 'end_turn', stop_sequence: null, usage: ANTHROPIC_USAGE,
  };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${n}` }).end(JSON.stringify(message));
    return;
  }
  const event = (type: string, fields: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
  // As the API streams: the input counts in message_start, the final output count in message_delta.
  sse(res, [
    event('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...ANTHROPIC_USAGE, output_tokens: 1 } } }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Four.' } }),
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: ANTHROPIC_USAGE.output_tokens } }),
    event('message_stop', {}),
  ]);
}
