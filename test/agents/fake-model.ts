import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, brotliDecompressSync, inflateSync } from 'node:zlib';
import { usageFor, type CallKind, type ModelApi, type Usage } from './usage.js';

/**
 * A stand-in for the three model APIs the coding agents talk to, on 127.0.0.1, answering with the
 * known usage of `usage.ts`. Each request is classified by what it carries, not by which agent sent
 * it: a request that offers the scenario's file-reading tool and holds no tool result yet is asked to
 * call it (`tool_call`); a request holding a tool result gets the closing text (`final`); anything
 * else an agent sends on its own (titles, routing, next-speaker checks) gets a short `side` answer.
 */

export interface ModelCall {
  seq: number;
  api: ModelApi;
  path: string;
  model: string;
  stream: boolean;
  kind: CallKind;
  /** In tokentally's terms. */
  usage: Usage;
  /** Exactly what the answer carried. */
  wireUsage: Record<string, unknown>;
  /** The id the answer carried (Anthropic message id, OpenAI response id, Gemini responseId). */
  responseId: string;
  /** Anthropic's `request-id` response header. */
  requestId?: string;
  /** The tool the answer asked for. */
  tool?: { name: string; arguments: Record<string, unknown> };
}

export interface FakeModelServer {
  url: string;
  calls: ModelCall[];
  /** Requests no route answered (404), kept so a run can report what an agent tried besides the model. */
  unhandled: { method: string; path: string }[];
  close(): Promise<void>;
}

export interface FakeModelOptions {
  /** The file the tool call asks to read: an absolute path, and the same relative to the agent's working directory. */
  toolFile: { absolute: string; relative: string };
  /** When set, each request body is written there (for working out what an agent sends). */
  dumpDir?: string;
}

export const FINAL_TEXT = 'The file says hello.';

export async function startFakeModel(options: FakeModelOptions): Promise<FakeModelServer> {
  const calls: ModelCall[] = [];
  const unhandled: FakeModelServer['unhandled'] = [];
  let seq = 0;
  let dumpCount = 0;
  if (options.dumpDir) mkdirSync(options.dumpDir, { recursive: true });

  const server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const route = routeOf(req.method ?? 'GET', url.pathname);
      if (options.dumpDir) {
        const name = `${String(++dumpCount).padStart(3, '0')}-${route?.api ?? 'unhandled'}.json`;
        writeFileSync(join(options.dumpDir, name), JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: tryJson(raw) }, null, 2));
      }
      if (!route) {
        unhandled.push({ method: req.method ?? '', path: url.pathname });
        return sendJson(res, 404, { error: { message: `fake model server: no route for ${req.method} ${url.pathname}` } });
      }
      const body = tryJson(raw) as Record<string, any>;
      if (route.countTokens) return sendJson(res, 200, route.api === 'gemini' ? { totalTokens: 100 } : { input_tokens: 100 });
      const n = ++seq;
      const answer = route.api === 'anthropic' ? anthropic(n, body, options) : route.api === 'openai-responses' ? openaiResponses(n, body, options) : gemini(n, route, body, options);
      calls.push({ seq: n, api: route.api, path: url.pathname, ...answer.call });
      answer.send(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    unhandled,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

interface Route {
  api: ModelApi;
  countTokens?: boolean;
  /** Gemini names the model and the streaming choice in the path. */
  model?: string;
  stream?: boolean;
}

function routeOf(method: string, path: string): Route | undefined {
  if (method !== 'POST') return undefined;
  if (/\/v1\/messages\/count_tokens$/.test(path)) return { api: 'anthropic', countTokens: true };
  if (/\/v1\/messages$/.test(path)) return { api: 'anthropic' };
  if (/\/responses$/.test(path)) return { api: 'openai-responses' };
  const gemini = /\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(path);
  if (gemini) return { api: 'gemini', model: decodeURIComponent(gemini[1]!), stream: gemini[2] === 'streamGenerateContent', countTokens: gemini[2] === 'countTokens' };
  return undefined;
}

interface Answer {
  call: Omit<ModelCall, 'seq' | 'api' | 'path'>;
  send(res: ServerResponse): void;
}

// ---------------------------------------------------------------- Anthropic Messages API

function anthropic(n: number, body: Record<string, any>, options: FakeModelOptions): Answer {
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  const offersRead = (body.tools ?? []).some((t: any) => t?.name === 'Read');
  const hasResult = messages.some((m) => Array.isArray(m.content) && m.content.some((b: any) => b?.type === 'tool_result'));
  const kind: CallKind = hasResult ? 'final' : offersRead ? 'tool_call' : 'side';
  const usage = usageFor('anthropic', kind);
  const model = String(body.model ?? 'unknown');
  const id = `msg_fake_${n}`;
  const requestId = `req_fake_${n}`;
  const wireUsage = {
    input_tokens: usage.input - usage.cacheRead - usage.cacheWrite,
    cache_creation_input_tokens: usage.cacheWrite,
    cache_read_input_tokens: usage.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: usage.cacheWrite, ephemeral_1h_input_tokens: 0 },
    output_tokens: usage.output,
    service_tier: 'standard',
  };
  const tool = kind === 'tool_call' ? { name: 'Read', arguments: { file_path: options.toolFile.absolute } } : undefined;
  const text = kind === 'final' ? FINAL_TEXT : 'ok';
  const content = tool ? [{ type: 'tool_use', id: `toolu_fake_${n}`, name: tool.name, input: tool.arguments }] : [{ type: 'text', text }];
  const stopReason = tool ? 'tool_use' : 'end_turn';
  const call = { model, stream: body.stream === true, kind, usage, wireUsage, responseId: id, requestId, tool };
  const headers = { 'request-id': requestId };
  if (body.stream !== true) {
    return { call, send: (res) => sendJson(res, 200, { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage: wireUsage }, headers) };
  }
  return {
    call,
    send(res) {
      const events: [string, unknown][] = [
        ['message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...wireUsage, output_tokens: 1 } } }],
      ];
      if (tool) {
        events.push(
          ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: `toolu_fake_${n}`, name: tool.name, input: {} } }],
          ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(tool.arguments) } }],
        );
      } else {
        events.push(
          ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
          ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }],
        );
      }
      const { cache_creation: _split, service_tier: _tier, ...deltaUsage } = wireUsage;
      events.push(
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        ['message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: deltaUsage }],
        ['message_stop', { type: 'message_stop' }],
      );
      sendSse(res, events, headers);
    },
  };
}

// ---------------------------------------------------------------- OpenAI Responses API

/** Codex's shell tools, each with the arguments that read the scenario's file. */
const OPENAI_READ_TOOLS: Record<string, (file: string) => Record<string, unknown>> = {
  exec_command: (file) => ({ cmd: `cat ${file}` }),
  shell_command: (file) => ({ command: `cat ${file}` }),
  shell: (file) => ({ command: ['cat', file] }),
};

function openaiResponses(n: number, body: Record<string, any>, options: FakeModelOptions): Answer {
  const input: any[] = Array.isArray(body.input) ? body.input : [];
  const offered = new Set((body.tools ?? []).map((t: any) => t?.name));
  const toolName = Object.keys(OPENAI_READ_TOOLS).find((name) => offered.has(name));
  const hasResult = input.some((item) => item?.type === 'function_call_output' || item?.type === 'custom_tool_call_output');
  const kind: CallKind = hasResult ? 'final' : toolName ? 'tool_call' : 'side';
  const usage = usageFor('openai-responses', kind);
  const model = String(body.model ?? 'unknown');
  const id = `resp_fake_${n}`;
  const wireUsage = {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: usage.cacheRead, cache_write_tokens: usage.cacheWrite },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
    total_tokens: usage.input + usage.output,
  };
  const tool = kind === 'tool_call' ? { name: toolName!, arguments: OPENAI_READ_TOOLS[toolName!]!(options.toolFile.relative) } : undefined;
  const text = kind === 'final' ? FINAL_TEXT : 'ok';
  const item = tool
    ? { type: 'function_call', id: `fc_fake_${n}`, call_id: `call_fake_${n}`, name: tool.name, arguments: JSON.stringify(tool.arguments), status: 'completed' }
    : { type: 'message', id: `msg_fake_${n}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
  const created = Math.floor(Date.now() / 1000);
  const response = (status: string, output: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'response', created_at: created, status, model, output, ...extra });
  const call = { model, stream: body.stream === true, kind, usage, wireUsage, responseId: id, tool };
  if (body.stream !== true) return { call, send: (res) => sendJson(res, 200, response('completed', [item], { usage: wireUsage })) };
  return {
    call,
    send(res) {
      const events: [string, unknown][] = [
        ['response.created', { type: 'response.created', sequence_number: 0, response: response('in_progress', []) }],
        ['response.output_item.added', { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { ...item, status: 'in_progress' } }],
      ];
      if (!tool) events.push(['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 2, item_id: item.id, output_index: 0, content_index: 0, delta: text }]);
      events.push(
        ['response.output_item.done', { type: 'response.output_item.done', sequence_number: 3, output_index: 0, item }],
        ['response.completed', { type: 'response.completed', sequence_number: 4, response: response('completed', [item], { usage: wireUsage }) }],
      );
      sendSse(res, events);
    },
  };
}

// ---------------------------------------------------------------- Gemini generateContent

/** Gemini CLI's file-reading tool; its path parameter is found in the declaration's schema. */
const GEMINI_READ_TOOLS = ['read_file'];

function gemini(n: number, route: Route, body: Record<string, any>, options: FakeModelOptions): Answer {
  const contents: any[] = Array.isArray(body.contents) ? body.contents : [];
  const declarations: any[] = (body.tools ?? []).flatMap((t: any) => t?.functionDeclarations ?? []);
  const readTool = declarations.find((d) => GEMINI_READ_TOOLS.includes(d?.name));
  const hasResult = contents.some((c) => (c.parts ?? []).some((p: any) => p?.functionResponse));
  const kind: CallKind = hasResult ? 'final' : readTool ? 'tool_call' : 'side';
  const usage = usageFor('gemini', kind);
  const model = route.model!;
  const id = `fake-response-${n}`;
  const wireUsage = {
    promptTokenCount: usage.input,
    cachedContentTokenCount: usage.cacheRead,
    candidatesTokenCount: usage.output - (usage.reasoning ?? 0),
    thoughtsTokenCount: usage.reasoning ?? 0,
    totalTokenCount: usage.input + usage.output,
  };
  let tool: ModelCall['tool'];
  if (kind === 'tool_call') {
    const properties = Object.keys(readTool.parametersJsonSchema?.properties ?? readTool.parameters?.properties ?? {});
    const param = ['file_path', 'absolute_path', 'path'].find((p) => properties.includes(p)) ?? 'file_path';
    tool = { name: readTool.name, arguments: { [param]: param === 'absolute_path' ? options.toolFile.absolute : options.toolFile.relative } };
  }
  const schema = body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema;
  const text = kind === 'final' ? FINAL_TEXT : schema || body.generationConfig?.responseMimeType === 'application/json' ? JSON.stringify(jsonFor(schema)) : 'ok';
  const parts = tool ? [{ functionCall: { name: tool.name, args: tool.arguments } }] : [{ text }];
  const last = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata: wireUsage, modelVersion: model, responseId: id };
  const call = { model, stream: route.stream === true, kind, usage, wireUsage, responseId: id, tool };
  if (!route.stream) return { call, send: (res) => sendJson(res, 200, last) };
  return { call, send: (res) => sendSse(res, [[undefined, last]]) };
}

/**
 * A value a Gemini utility call's JSON schema accepts: the first enum member (`user` for the
 * next-speaker check, `flash` for the classifier router), a low score for the numerical router.
 */
function jsonFor(schema: any): unknown {
  if (!schema || typeof schema !== 'object') return {};
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (String(schema.type ?? 'object').toLowerCase()) {
    case 'object': return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, jsonFor(v)]));
    case 'array': return [];
    case 'string': return 'simple, bounded task';
    case 'number': case 'integer': return typeof schema.minimum === 'number' ? schema.minimum : 10;
    case 'boolean': return false;
    default: return null;
  }
}

// ---------------------------------------------------------------- HTTP plumbing

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
      try {
        resolve(encoding === 'gzip' ? gunzipSync(raw) : encoding === 'br' ? brotliDecompressSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw);
      } catch {
        resolve(raw);
      }
    });
    req.on('error', reject);
  });
}

function tryJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return { unparsed: raw.toString('utf8').slice(0, 2000) };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Server-sent events; an undefined event name writes a bare `data:` line (Gemini's `alt=sse`). */
function sendSse(res: ServerResponse, events: [string | undefined, unknown][], headers: Record<string, string> = {}) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  for (const [event, data] of events) res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  res.end();
}
