import { createHash, randomBytes } from 'node:crypto';
import { otlpTypes } from '../collector/otlp/decode.js';
import { makeEvents, type BenchEvent } from './events.js';
import { driveGrpc, LOGS_EXPORT } from './grpc.js';
import { drive, type LoadResult } from './load.js';
import { attribute } from './otlp.js';

/**
 * OTLP logs exports as Claude Code and Codex CLI send them, with the shapes of the records captured
 * from the real CLIs (test/fixtures/agents/*-http-protobuf.json): each request carries one resource
 * per CLI, holding half the batch each, and every record is a model call of the bench's event
 * generator (its counts, times, sessions, users and projects; the model one the CLI calls).
 */

const CLAUDE_MODELS = ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'];
const CODEX_MODELS = ['gpt-4.1', 'o3', 'o4-mini', 'gpt-4o'];
const NANOS_PER_MS = 1_000_000n;

/** A UUID-shaped text made from `text`: the CLIs' session, conversation and prompt ids look like this. */
function uuidOf(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Written into each Claude Code request_id by every request: eight hex digits. */
const STAMP_TEXT = '00000000';
const REQUEST_ID_PREFIX_LENGTH = 'req_011C'.length + 12;
const requestIdOf = (n: number) => `req_011C${n.toString(16).padStart(12, '0')}${STAMP_TEXT}`;

/** Claude Code's `claude_code.api_request`: input without cache, its own cost and request id. */
function claudeRecord(event: BenchEvent, n: number) {
  const nanos = String(BigInt(event.timestamp) * NANOS_PER_MS);
  const cacheRead = event.cache_read_tokens;
  const cacheWrite = event.cache_write_tokens;
  // About list prices for a Sonnet model, in USD: Claude Code reports its own estimate.
  const cost = (event.input_tokens * 3 + cacheWrite * 0.75 - cacheRead * 2.7 + event.output_tokens * 15) / 1e6;
  return {
    timeUnixNano: nanos, observedTimeUnixNano: nanos, flags: 1, traceId: randomBytes(16), spanId: randomBytes(8),
    body: { stringValue: 'claude_code.api_request' },
    attributes: [
      attribute('user.id', createHash('sha256').update(event.user_id).digest('hex')),
      attribute('session.id', uuidOf(event.session_id)),
      attribute('anthropic.provider', 'firstParty'),
      attribute('anthropic.custom_base_url', false),
      attribute('terminal.type', 'xterm-256color'),
      attribute('event.name', 'api_request'),
      attribute('event.timestamp', new Date(event.timestamp).toISOString()),
      attribute('event.sequence', n % 1000),
      attribute('prompt.id', uuidOf(event.run_id)),
      attribute('model', CLAUDE_MODELS[n % CLAUDE_MODELS.length]!),
      attribute('input_tokens', event.input_tokens - cacheRead - cacheWrite),
      attribute('output_tokens', event.output_tokens),
      attribute('cache_read_tokens', cacheRead),
      attribute('cache_creation_tokens', cacheWrite),
      attribute('cache_creation_5m_tokens', cacheWrite),
      attribute('cache_creation_1h_tokens', 0),
      attribute('cost_usd', cost, true),
      attribute('cost_usd_micros', Math.round(cost * 1e6)),
      attribute('duration_ms', event.duration_ms),
      attribute('ttft_ms', Math.floor(event.duration_ms / 3)),
      attribute('request_id', requestIdOf(n)),
      attribute('speed', 'normal'),
      attribute('query_source', 'repl_main_thread'),
      attribute('effort', 'medium'),
    ],
  };
}

/** Codex's `codex.sse_event` response.completed with counts: input with cache, no id of its own, time only as observed. */
function codexRecord(event: BenchEvent, n: number) {
  const model = CODEX_MODELS[n % CODEX_MODELS.length]!;
  return {
    severityNumber: 9, severityText: 'INFO', observedTimeUnixNano: String(BigInt(event.timestamp) * NANOS_PER_MS),
    eventName: 'event otel/src/events/session_telemetry.rs:1187',
    attributes: [
      attribute('event.name', 'codex.sse_event'),
      attribute('event.kind', 'response.completed'),
      attribute('input_token_count', String(event.input_tokens)),
      attribute('output_token_count', String(event.output_tokens)),
      attribute('cached_token_count', event.cache_read_tokens),
      attribute('cache_write_token_count', event.cache_write_tokens),
      attribute('reasoning_token_count', event.reasoning_tokens),
      attribute('tool_token_count', String(event.input_tokens + event.output_tokens)),
      attribute('ttft_ms', Math.floor(event.duration_ms / 3)),
      attribute('model_reasoning_effort', 'medium'),
      attribute('event.timestamp', new Date(event.timestamp).toISOString()),
      attribute('conversation.id', uuidOf(event.session_id)),
      attribute('app.version', '0.171.0'),
      attribute('originator', 'codex_exec'),
      attribute('terminal.type', 'xterm-256color'),
      attribute('model', model),
      attribute('slug', model),
    ],
  };
}

const claudeResource = (project: string) => ({
  attributes: [
    attribute('host.arch', 'amd64'), attribute('os.type', 'linux'), attribute('os.version', '6.8.0-57-generic'),
    attribute('service.name', 'claude-code'), attribute('service.version', '2.1.332'), attribute('tokentally.project', project),
  ],
});

const codexResource = (project: string) => ({
  attributes: [
    attribute('env', 'prod'), attribute('host.name', 'dev-vm'), attribute('telemetry.sdk.version', '0.31.0'),
    attribute('service.version', '0.171.0'), attribute('telemetry.sdk.name', 'opentelemetry'), attribute('telemetry.sdk.language', 'rust'),
    attribute('service.name', 'codex_exec'), attribute('tokentally.project', project),
  ],
});

/** Where a value that each request rewrites sits in a template's bytes. */
interface Slot {
  offset: number;
  /** The record's time in the template, in ms. */
  ms: number;
  kind: 'nanos' | 'iso' | 'stamp';
}

/**
 * One encoded ExportLogsServiceRequest and where each record's time (the fixed64 times and the
 * `event.timestamp` text) and Claude Code's request_id sit in its bytes, so that a request makes
 * every record another call without encoding again: new times (a Codex record's id is a hash of the
 * record) and a new request_id (a Claude Code record's id).
 */
interface LogsTemplate {
  bytes: Buffer;
  slots: Slot[];
}

const DAYS_30_MS = 30 * 86_400_000;

/** Claude Code and Codex records for events first … first + count - 1, half each, as of `now`. */
function logsTemplate(first: number, count: number, now: number): LogsTemplate {
  const events = makeEvents(first, count, 'unused', now);
  const half = Math.ceil(count / 2);
  const claude = events.slice(0, half).map((e, i) => claudeRecord(e, first + i));
  const codex = events.slice(half).map((e, i) => codexRecord(e, first + half + i));
  const project = events[0]!.project;
  const message = otlpTypes.logs.request.fromObject({
    resourceLogs: [
      { resource: claudeResource(project), scopeLogs: [{ scope: { name: 'com.anthropic.claude_code.events', version: '2.1.332' }, logRecords: claude }] },
      { resource: codexResource(project), scopeLogs: [{ scope: { name: 'codex_otel.log_only' }, logRecords: codex }] },
    ],
  });
  const bytes = Buffer.from(otlpTypes.logs.request.encode(message).finish());
  // protobufjs writes a message's fields by field number (LogRecord: time_unix_nano = 1, tag 0x09;
  // attributes = 6; observed_time_unix_nano = 11, tag 0x59), and the records in order, so each value
  // is searched for after the one before it.
  const slots: Slot[] = [];
  let at = 0;
  const find = (value: Buffer | string, kind: Slot['kind'], ms: number, within = 0) => {
    at = bytes.indexOf(value, at);
    if (at < 0) throw new Error(`a ${kind} slot was not found in the encoded logs`);
    slots.push({ offset: at + within, ms, kind });
    at += Buffer.byteLength(value);
  };
  const fixed64 = (tag: number, ms: number) => {
    const field = Buffer.alloc(9, tag);
    field.writeBigUInt64LE(BigInt(ms) * NANOS_PER_MS, 1);
    return field;
  };
  events.forEach((event, i) => {
    const ms = event.timestamp;
    if (i < half) find(fixed64(0x09, ms), 'nanos', ms, 1);
    find(new Date(ms).toISOString(), 'iso', ms);
    if (i < half) find(requestIdOf(first + i), 'stamp', ms, REQUEST_ID_PREFIX_LENGTH);
    find(fixed64(0x59, ms), 'nanos', ms, 1);
  });
  return { bytes, slots };
}

/**
 * A copy of the template whose records are all new calls for each distinct `stamp` (below 16^8):
 * every time moves back by its own amount, wrapping within the 30 days before `now`, and the
 * request ids end in the stamp.
 */
function stampLogs(template: LogsTemplate, stamp: number, now: number): Buffer {
  const body = Buffer.from(template.bytes);
  // 1,000,003 is prime, so two stamps move a time alike only when they differ by a multiple of the
  // 2,592,000,000 ms in 30 days.
  const shift = (stamp * 1_000_003) % DAYS_30_MS;
  const text = stamp.toString(16).padStart(STAMP_TEXT.length, '0');
  for (const { offset, ms, kind } of template.slots) {
    const moved = now - ((now - ms + shift) % DAYS_30_MS);
    if (kind === 'nanos') body.writeBigUInt64LE(BigInt(moved) * NANOS_PER_MS, offset);
    else if (kind === 'iso') body.write(new Date(moved).toISOString(), offset, 'latin1');
    else body.write(text, offset, 'latin1');
  }
  return body;
}

export interface LogsLoadOptions {
  /** The collector's HTTP URL for `http`, its OTLP/gRPC URL for `grpc`. */
  url: string;
  transport: 'http' | 'grpc';
  /** Usage records per request. */
  batch: number;
  connections: number;
  seconds: number;
}

/** Distinct templates per run; every request also gives each record new times and ids. */
const TEMPLATES = 64;
/** Stamps handed out in this process: no two requests share one, in one run or across runs. */
let stamps = 0;

/**
 * OTLP logs ingest against a running collector, over HTTP protobuf (`POST /v1/logs`) or gRPC
 * (LogsService/Export): bodies encoded from 64 templates before the clock starts, each request
 * stamping new times and ids into one (or `body`'s). Events = usage records stored.
 */
export async function runLogsLoad(options: LogsLoadOptions, body = logsBodies(options.batch)): Promise<LoadResult> {
  const common = { connections: options.connections, seconds: options.seconds, eventsPerRequest: options.batch, body };
  return options.transport === 'http'
    ? drive({ ...common, url: `${options.url}/v1/logs`, headers: { 'content-type': 'application/x-protobuf' } })
    : driveGrpc({ ...common, url: options.url, path: LOGS_EXPORT });
}

/** The next body of the logs load: `batch` Claude Code and Codex records, all of them new calls. */
export function logsBodies(batch: number): (n: number) => Buffer {
  const now = Date.now();
  const templates = Array.from({ length: TEMPLATES }, (_, t) => logsTemplate(t * batch, batch, now));
  return (n) => stampLogs(templates[n % templates.length]!, stamps++, now);
}
