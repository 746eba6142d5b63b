import { createHash, randomBytes } from 'node:crypto';
import { otlpTypes } from '../collector/otlp/decode.js';
import { makeEvents, msBeforeSend, type BenchEvent } from './events.js';
import { driveGrpc, LOGS_EXPORT } from './grpc.js';
import { drive, type LoadResult } from './load.js';
import { REQUEST_ID_PREFIX, requestIdOf, writeIsoTime, writeNanos, writeRequestId } from './logs-stamp.js';
import { attribute } from './otlp.js';

/**
 * OTLP logs exports as Claude Code and Codex CLI send them, with the shapes of the records captured
 * from the real CLIs (test/fixtures/agents/*-http-protobuf.json): each request carries one resource
 * per CLI, holding half the batch each, and every record is a model call of the bench's event
 * generator (its counts, sessions, users and projects; the model one the CLI calls), made within the
 * 5 s before its request is sent, as a live agent's are (msBeforeSend).
 */

const CLAUDE_MODELS = ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'];
const CODEX_MODELS = ['gpt-4.1', 'o3', 'o4-mini', 'gpt-4o'];
const NANOS_PER_MS = 1_000_000n;

/** A UUID-shaped text made from `text`: the CLIs' session, conversation and prompt ids look like this. */
function uuidOf(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Claude Code's `claude_code.api_request`: input without cache, its own cost and request id. */
function claudeRecord(event: BenchEvent, n: number, requestId: string) {
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
      attribute('request_id', requestId),
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
  /** How long before its request is sent the record's call was made, in ms (msBeforeSend). */
  ago: number;
  kind: 'nanos' | 'iso' | 'id';
  /** Of an `id` slot: 48 random bits of the request_id's low 80, the slot's own (0 for the others, so all slots share one shape). */
  low: number;
}

/**
 * One encoded ExportLogsServiceRequest and where each record's time (the fixed64 times and the
 * `event.timestamp` text) and Claude Code's request_id sit in its bytes, so that a request makes
 * every record another call without encoding again: new times (a Codex record's id is a hash of the
 * record, led by its time) and a new request_id (a Claude Code record's id, led by its time).
 */
interface LogsTemplate {
  bytes: Buffer;
  slots: Slot[];
}

/** Claude Code and Codex records for events first … first + count - 1, half each, as of `now`. */
function logsTemplate(first: number, count: number, now: number): LogsTemplate {
  const events = makeEvents(first, count, 'unused', now);
  const half = Math.ceil(count / 2);
  const lows = events.slice(0, half).map(() => randomBytes(6).readUIntBE(0, 6));
  const requestIds = events.slice(0, half).map((e, i) => requestIdOf(e.timestamp, lows[i]!, 0));
  const claude = events.slice(0, half).map((e, i) => claudeRecord(e, first + i, requestIds[i]!));
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
  const find = (value: Buffer | string, slot: Omit<Slot, 'offset'>, within = 0) => {
    at = bytes.indexOf(value, at);
    if (at < 0) throw new Error(`a ${slot.kind} slot was not found in the encoded logs`);
    slots.push({ offset: at + within, ago: slot.ago, kind: slot.kind, low: slot.low });
    at += Buffer.byteLength(value);
  };
  const fixed64 = (tag: number, ms: number) => {
    const field = Buffer.alloc(9, tag);
    field.writeBigUInt64LE(BigInt(ms) * NANOS_PER_MS, 1);
    return field;
  };
  events.forEach((event, i) => {
    const ms = event.timestamp;
    const ago = msBeforeSend(ms, now);
    if (i < half) find(fixed64(0x09, ms), { kind: 'nanos', ago, low: 0 }, 1);
    find(new Date(ms).toISOString(), { kind: 'iso', ago, low: 0 });
    if (i < half) find(requestIds[i]!, { kind: 'id', ago, low: lows[i]! }, REQUEST_ID_PREFIX.length);
    find(fixed64(0x59, ms), { kind: 'nanos', ago, low: 0 }, 1);
  });
  return { bytes, slots };
}

/**
 * Writes into `body`, a copy of the template's bytes, new calls for each distinct `stamp` (below
 * 2^32), made as live agents send theirs: each record's call within the 5 s before `sent`, the time
 * the request goes out (msBeforeSend). Its nanoseconds below the millisecond are the stamp's (mod
 * 10^6) and its request_id's lowest 32 bits the stamp, so no two requests send the same record
 * even in the same millisecond.
 */
function stampLogs(template: LogsTemplate, body: Buffer, stamp: number, sent: number): Buffer {
  const subMs = stamp % 1_000_000;
  for (const { offset, ago, kind, low } of template.slots) {
    const ms = sent - ago;
    if (kind === 'nanos') writeNanos(ms, subMs, body, offset);
    else if (kind === 'iso') writeIsoTime(ms, body, offset);
    else writeRequestId(ms, low, stamp, body, offset);
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

/**
 * The next body of the logs load: `batch` Claude Code and Codex records, all of them new calls made
 * in the 5 s before it is sent. Given a `slot` (one per request in flight), the body is written
 * over the slot's last one, which the caller no longer needs; without, into new bytes. New bytes
 * for each 73 KB request took the client 80-90 µs (~0.8 µs a record) in allocation alone
 * (docs/benchmarks.md, "Logs load client, session 19").
 */
export function logsBodies(batch: number): (n: number, slot?: number) => Buffer {
  const now = Date.now();
  const templates = Array.from({ length: TEMPLATES }, (_, t) => logsTemplate(t * batch, batch, now));
  const size = Math.max(...templates.map((t) => t.bytes.length));
  const slots: Buffer[] = [];
  return (n, slot) => {
    const template = templates[n % templates.length]!;
    const length = template.bytes.length;
    const body = slot === undefined ? Buffer.allocUnsafe(length) : (slots[slot] ??= Buffer.allocUnsafeSlow(size)).subarray(0, length);
    template.bytes.copy(body);
    return stampLogs(template, body, stamps++, Date.now());
  };
}

/**
 * An ExportLogsServiceRequest of `bytes` holding only field 15, unknown to OTLP, so the receiver
 * skips it (up to 2 MB: a 3-byte length); appended to another request's bytes, it pads that one.
 */
export function paddingBody(bytes: number): Buffer {
  const length = Math.max(0, bytes - 4);
  const head = Buffer.from([(15 << 3) | 2, 0x80 | (length & 0x7f), 0x80 | ((length >> 7) & 0x7f), length >> 14]);
  return Buffer.concat([head, Buffer.alloc(length)]);
}
