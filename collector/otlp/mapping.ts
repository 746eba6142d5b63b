import { LIMITS } from '../../src/event/schema.js';
import type { AttributeValue, Attributes } from './common.js';

/**
 * Which span attributes fill which usage-event field: the current OTel GenAI conventions first,
 * then their deprecated names, then OpenLLMetry's and OpenInference's. First present wins.
 * docs/otel.md documents this table; keep the two in step.
 */
export const TOKEN_ATTRIBUTES = {
  input_tokens: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt', 'llm.usage.prompt_tokens'],
  output_tokens: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion', 'llm.usage.completion_tokens'],
  cache_read_tokens: ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens', 'llm.token_count.prompt_details.cache_read'],
  cache_write_tokens: [
    'gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.cache_write.input_tokens',
    'gen_ai.usage.cache_creation_input_tokens', 'llm.token_count.prompt_details.cache_write',
  ],
  reasoning_tokens: ['gen_ai.usage.reasoning.output_tokens', 'gen_ai.usage.reasoning_tokens', 'llm.token_count.completion_details.reasoning'],
} as const;

export type TokenField = keyof typeof TOKEN_ATTRIBUTES;

/**
 * The Vercel AI SDK (`ai` v5 and v6, and v7's legacy `ai.*` spans) puts only input and output under
 * `gen_ai.usage.*`; its cache and reasoning counts exist only under `ai.usage.*`. They are read on its
 * model-call spans only (`ai.generateText.doGenerate`, `ai.streamText.doStream`, ...): the roots
 * (`ai.generateText`, `ai.streamText`) carry the same names summed over their steps, and nothing under
 * `gen_ai.usage.*`, so they never count. v6 writes both spellings of each count, v5 only the older one.
 */
export const VERCEL_AI = {
  modelCallSpan: /^ai\.[A-Za-z]+\.do(?:Generate|Stream)$/,
  tokens: {
    cache_read_tokens: ['ai.usage.inputTokenDetails.cacheReadTokens', 'ai.usage.cachedInputTokens'],
    cache_write_tokens: ['ai.usage.inputTokenDetails.cacheWriteTokens'],
    reasoning_tokens: ['ai.usage.outputTokenDetails.reasoningTokens', 'ai.usage.reasoningTokens'],
  },
  /**
   * v5 with `@ai-sdk/anthropic` v2 reports Anthropic's raw input (cached tokens left out) and puts the
   * cache counts only in the JSON of `ai.response.providerMetadata` (`anthropic.usage`); v6 writes
   * `ai.usage.inputTokenDetails.noCacheTokens` and an inclusive input.
   */
  anthropicSystem: /^anthropic\./,
  v6Marker: 'ai.usage.inputTokenDetails.noCacheTokens',
  providerMetadata: 'ai.response.providerMetadata',
} as const;

/** The token table for a Vercel AI SDK model-call span: the common names first, then its `ai.usage.*` ones. */
export const VERCEL_MODEL_CALL_TOKEN_ATTRIBUTES: Record<TokenField, readonly string[]> = {
  ...TOKEN_ATTRIBUTES,
  cache_read_tokens: [...TOKEN_ATTRIBUTES.cache_read_tokens, ...VERCEL_AI.tokens.cache_read_tokens],
  cache_write_tokens: [...TOKEN_ATTRIBUTES.cache_write_tokens, ...VERCEL_AI.tokens.cache_write_tokens],
  reasoning_tokens: [...TOKEN_ATTRIBUTES.reasoning_tokens, ...VERCEL_AI.tokens.reasoning_tokens],
};

/** One usage event made from an OTLP record, and which attribute gave each field (for error messages). */
export interface MappedEvent {
  /** The record in words for an error message: `span 4bf9…/00f0… (resourceSpans[0].scopeSpans[0].spans[2])`. */
  record: string;
  /** Where the record sits in the request: `resourceSpans[0].scopeSpans[0].spans[2]`. */
  path: string;
  input: Record<string, unknown>;
  sources: Record<string, string>;
  /** Why the record is refused whatever its input: the field of the record at fault, and what is wrong with it. */
  refused?: { field: string; message: string };
}

/** An event input being built, and which attribute gave each field (for error messages). */
export class EventInput {
  readonly input: Record<string, unknown> = {};
  readonly sources: Record<string, string> = {};
  private found: AttributeValue | undefined;
  constructor(private readonly attributes: Attributes) {}

  /**
   * Each field stored by its name, not as `input[field]`: a keyed store with changing names costs
   * V8 a generic lookup each (4 % of the main thread's instructions a log record); the switch and a
   * store by name cost about a quarter of that (docs/benchmarks.md, "OTLP logs main thread, session 15").
   */
  set(field: string, value: unknown, source: string): void {
    const { input: i, sources: s } = this;
    switch (field) {
      case 'id': i.id = value; s.id = source; return;
      case 'timestamp': i.timestamp = value; s.timestamp = source; return;
      case 'project': i.project = value; s.project = source; return;
      case 'agent_id': i.agent_id = value; s.agent_id = source; return;
      case 'model': i.model = value; s.model = source; return;
      case 'provider': i.provider = value; s.provider = source; return;
      case 'operation': i.operation = value; s.operation = source; return;
      case 'task_label': i.task_label = value; s.task_label = source; return;
      case 'run_id': i.run_id = value; s.run_id = source; return;
      case 'step_id': i.step_id = value; s.step_id = source; return;
      case 'session_id': i.session_id = value; s.session_id = source; return;
      case 'user_id': i.user_id = value; s.user_id = source; return;
      case 'input_tokens': i.input_tokens = value; s.input_tokens = source; return;
      case 'output_tokens': i.output_tokens = value; s.output_tokens = source; return;
      case 'cache_read_tokens': i.cache_read_tokens = value; s.cache_read_tokens = source; return;
      case 'cache_write_tokens': i.cache_write_tokens = value; s.cache_write_tokens = source; return;
      case 'reasoning_tokens': i.reasoning_tokens = value; s.reasoning_tokens = source; return;
      case 'cost_usd': i.cost_usd = value; s.cost_usd = source; return;
      case 'duration_ms': i.duration_ms = value; s.duration_ms = source; return;
      default: i[field] = value; s[field] = source;
    }
  }

  /**
   * The field from the first of `names` present, as a count or as text; whether one was. Two
   * methods, not one taking the conversion: a conversion passed in was called, never inlined
   * (4.5 calls a log record, ≈ 240 instructions each; docs/benchmarks.md, "OTLP log records'
   * mapping, session 18").
   */
  readCount(field: string, names: readonly string[]): boolean {
    const name = this.first(names);
    if (name !== undefined) this.set(field, toCount(this.found!), name);
    return name !== undefined;
  }

  readText(field: string, names: readonly string[]): boolean {
    const name = this.first(names);
    if (name !== undefined) this.set(field, toText(this.found!), name);
    return name !== undefined;
  }

  /** The first of `names` present, its value left in `found`. */
  private first(names: readonly string[]): string | undefined {
    for (const name of names) {
      const value = this.attributes.get(name);
      if (value === undefined) continue;
      this.found = value;
      return name;
    }
    return undefined;
  }
}

/** Read from the span's own attributes. */
export const SPAN_FIELDS = {
  model: ['gen_ai.response.model', 'gen_ai.request.model', 'llm.response.model_name', 'llm.model_name', 'llm.request.model_name'],
  provider: ['gen_ai.provider.name', 'gen_ai.system', 'llm.provider', 'llm.system'],
  operation: ['gen_ai.operation.name', 'llm.request.type', 'openinference.span.kind'],
  agent_id: ['gen_ai.agent.name', 'agent.name'],
  session_id: ['gen_ai.conversation.id', 'session.id'],
  user_id: ['user.id', 'enduser.id'],
  cost_usd: ['llm.cost.total'],
} as const;

/** Read from the span, else from its resource (so `OTEL_RESOURCE_ATTRIBUTES` can set them per process). */
export const SPAN_OR_RESOURCE_FIELDS = {
  project: ['tokentally.project'],
  task_label: ['tokentally.task'],
  run_id: ['tokentally.run_id'],
  step_id: ['tokentally.step_id'],
} as const;

/** SPAN_OR_RESOURCE_FIELDS as [field, names] pairs, for the mappers' loops. */
export const SPAN_OR_RESOURCE_TABLE = Object.entries(SPAN_OR_RESOURCE_FIELDS);

/** Operation values of the older dialects, in the GenAI conventions' words. */
const OPERATION_ALIASES: ReadonlyMap<string, string> = new Map([
  ['LLM', 'chat'],
  ['EMBEDDING', 'embeddings'],
  ['completion', 'text_completion'],
  ['embedding', 'embeddings'],
]);

/** Spans whose tokens count. Agent, workflow and chain spans carry their children's sums. */
export const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set(['chat', 'text_completion', 'generate_content', 'embeddings']);
/** Counted only as a remote call (span kind CLIENT); in-process it sums its children. */
/** The agent of a record whose resource names no service, as the OTel SDKs name such a service. */
export const UNKNOWN_SERVICE = 'unknown_service';

export const REMOTE_AGENT_OPERATION = 'invoke_agent';
/** Ancestors whose name becomes `agent_id` of the inference spans below them. */
export const AGENT_OPERATIONS: ReadonlySet<string> = new Set(['invoke_agent', 'AGENT']);

/**
 * Instrumentations known to report Anthropic's raw `input_tokens`, which leaves cached tokens out
 * (read in their published sources). For their spans the cache counts are added to input.
 */
const EXCLUSIVE_INPUT_SCOPES: readonly { scope: string; before?: readonly [number, number, number] }[] = [
  { scope: '@traceloop/instrumentation-anthropic' },
  { scope: '@arizeai/openinference-instrumentation-anthropic', before: [0, 2, 0] },
];

/** Other span attributes worth keeping on the event, besides `tokentally.tag.*`. */
const KEPT_ATTRIBUTES: readonly string[] = ['gen_ai.request.model', 'gen_ai.response.id', 'server.address', 'error.type'];
export const TAG_PREFIX = 'tokentally.tag.';

/**
 * Every attribute of a span that the span rules (spans.ts) read, besides the tags: a decoder may
 * leave any other out (traces-protobuf.ts).
 */
export const SPAN_RULE_ATTRIBUTES: ReadonlySet<string> = new Set([
  ...Object.values(VERCEL_MODEL_CALL_TOKEN_ATTRIBUTES).flat(), ...Object.values(SPAN_FIELDS).flat(), ...Object.values(SPAN_OR_RESOURCE_FIELDS).flat(),
  VERCEL_AI.providerMetadata, VERCEL_AI.v6Marker, ...KEPT_ATTRIBUTES,
]);

export function firstPresent(attributes: Attributes, names: readonly string[]): { name: string; value: AttributeValue } | undefined {
  for (const name of names) {
    const value = attributes.get(name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

/** A number as a stringValue may hold one: decimal, as JSON writes numbers (Number() would also take `0x10` or ` 12 `). */
const DECIMAL = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

/**
 * A count as a number: intValue, an integral doubleValue or a decimal stringValue. Anything else is
 * passed on unchanged so the event schema rejects it with the field named.
 */
export function toCount(value: AttributeValue): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && DECIMAL.test(value)) return Number(value);
  return value;
}

export function toText(value: AttributeValue): string {
  return typeof value === 'string' ? value : String(value);
}

export function operationOf(attributes: Attributes): string | undefined {
  const found = firstPresent(attributes, SPAN_FIELDS.operation);
  if (!found) return undefined;
  const text = toText(found.value);
  return OPERATION_ALIASES.get(text) ?? text;
}

/** The parts of input_tokens, and of output_tokens, that some emitters leave out of them. */
export const INPUT_PARTS = ['cache_read_tokens', 'cache_write_tokens'] as const satisfies readonly TokenField[];
export const OUTPUT_PARTS = ['reasoning_tokens'] as const satisfies readonly TokenField[];

/**
 * A count holds its parts (input its cache reads and writes, output its reasoning). Where it cannot
 * have (the parts exceed it) or the emitter is known to leave them out, the parts are added to it.
 */
export function includeParts(input: Record<string, unknown>, total: TokenField, parts: readonly TokenField[], knownExclusive: boolean): void {
  const whole = input[total] ?? 0;
  if (!isCount(whole)) return;
  let sum = 0;
  for (const part of parts) {
    const count = input[part] ?? 0;
    if (!isCount(count)) return;
    sum += count;
  }
  if (sum > 0 && (sum > whole || knownExclusive)) input[total] = whole + sum;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export function reportsExclusiveInput(scope: { name: string; version: string }): boolean {
  return EXCLUSIVE_INPUT_SCOPES.some((e) => e.scope === scope.name && (!e.before || versionBelow(scope.version, e.before)));
}

function versionBelow(version: string, bound: readonly [number, number, number]): boolean {
  const parts = version.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) {
    const part = parts[i] ?? 0;
    if (part !== bound[i]) return part < bound[i]!;
  }
  return false;
}

/** The kept attributes and tags, within the event schema's bounds (long strings are cut). */
export function keptAttributes(span: Attributes, resource: Attributes, extra: Readonly<Record<string, string>>): Record<string, string | number | boolean> {
  const kept = new Kept();
  for (const key in extra) kept.put(key, extra[key]!);
  return kept.finish(span, resource);
}

/** A list's tags as [key less TAG_PREFIX, value], in their order. */
export type Tags = readonly (readonly [string, AttributeValue])[];

/**
 * By key, not by `[key, value]` entry: iterating a Map's entries allocates an array for each, a
 * fifth of what mapping a log record allocated (docs/benchmarks.md, "OTLP CPU, session 13").
 */
function putTags(into: { put(key: string, value: AttributeValue): void }, attributes: Attributes): void {
  for (const key of attributes.keys()) if (key.startsWith(TAG_PREFIX)) into.put(key.slice(TAG_PREFIX.length), attributes.get(key)!);
}

/** Made once for a resource, which all its records share. */
export function tagsOf(attributes: Attributes): Tags {
  const tags: [string, AttributeValue][] = [];
  putTags({ put: (key, value) => tags.push([key, value]) }, attributes);
  return tags;
}

/** Attributes put one by one: a later value of a key replaces it in its place; past the count, new keys are left out. */
export class Kept {
  readonly out: Record<string, string | number | boolean> = {};
  private size = 0;

  put(key: string, value: AttributeValue): void {
    const kept =
      typeof value === 'bigint' ? (Number.isSafeInteger(Number(value)) ? Number(value) : value.toString())
      : typeof value === 'string' ? value.slice(0, LIMITS.attributeValueLength)
      : typeof value === 'number' && !Number.isFinite(value) ? undefined
      : value;
    if (kept === undefined || key === '' || key.length > LIMITS.attributeKeyLength) return;
    const known = Object.hasOwn(this.out, key);
    if (!known && this.size >= LIMITS.attributeCount) return;
    // As an own property even for `__proto__`, which assignment would take as the prototype.
    if (key === '__proto__') Object.defineProperty(this.out, key, { value: kept, enumerable: true, writable: true, configurable: true });
    else this.out[key] = kept;
    if (!known) this.size++;
  }

  /**
   * After what the caller put: the record's KEPT_ATTRIBUTES, its resource's tags, then its own tags.
   * `resource`: the resource's attributes, or their tags made once for its records (`tagsOf`).
   */
  finish(own: Attributes, resource: Attributes | Tags): Record<string, string | number | boolean> {
    for (const name of KEPT_ATTRIBUTES) {
      const value = own.get(name);
      if (value !== undefined) this.put(name, value);
    }
    if (Array.isArray(resource)) for (const [key, value] of resource as Tags) this.put(key, value);
    else putTags(this, resource as Attributes);
    putTags(this, own);
    return this.out;
  }
}
